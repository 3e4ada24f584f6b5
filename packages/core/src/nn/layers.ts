/**
 * Layers more than one family needs, named like their torch.nn counterparts so their parameters carry
 * the official key segments (`weight`, `bias`, `running_mean`, …). Every layer takes NHWC tensors
 * (channels last), the tfjs convention; PyTorch's NCHW is handled by the weight layouts in module.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { assertDim, fmtShape } from '../ops/assert.js';
import { fuseBias } from '../ops/bias.js';
import { GELU_BY_BACKEND, GELU_KERNEL, geluModule } from '../ops/gelu.js';
import { checkKernelPath, useFusedKernels } from '../ops/kernel-scope.js';
import { LAYER_NORM_BY_BACKEND, LAYER_NORM_KERNEL, layerNormModule } from '../ops/layer-norm.js';
import { conv2dWinograd, useWinograd } from '../ops/winograd.js';
import { addMacs } from './flops.js';
import { type HostBuffer, Module, ModuleList, type Parameter } from './module.js';

/** A module with a single-tensor forward. */
export interface Layer {
  forward(x: tf.Tensor): tf.Tensor;
}

export type Pair = number | readonly [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : [v[0], v[1]]);

/**
 * Exact GELU, `0.5·x·(1 + erf(x/√2))` (torch `nn.GELU()` default, not the tanh approximation). Inference
 * on cpu, wasm and webgpu takes one kernel (`ops/gelu.ts`, `path: 'fused'`); the composite of tfjs ops
 * (`path: 'composite'`) is the reference and runs under a gradient.
 */
export function gelu(x: tf.Tensor, options: { path?: 'fused' | 'composite' } = {}): tf.Tensor {
  checkKernelPath('gelu', options.path);
  // cpu and wasm run a WebAssembly SIMD module, webgpu a shader
  const fusable = x.dtype === 'float32' && (tf.getBackend() === 'webgpu' || geluModule() !== null);
  if (options.path === 'fused' && !(fusable && useFusedKernels(GELU_BY_BACKEND, true)))
    throw new InvalidArgumentError(
      `gelu: the fused kernel takes float32, on cpu and wasm with WebAssembly SIMD, and webgpu (got ${x.dtype}, backend ${tf.getBackend()})`,
    );
  if (options.path === 'fused' || (options.path !== 'composite' && fusable && useFusedKernels(GELU_BY_BACKEND)))
    return tf.engine().runKernel(GELU_KERNEL, { x }) as tf.Tensor;
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/**
 * LayerNorm over one axis (default: last = channels in NHWC), biased variance, affine.
 * torch `nn.LayerNorm(C)` on channels-last and the "LayerNorm2d"/channels-first variants are the same
 * op here because our tensors are NHWC; pass `axis` to normalise another axis (e.g. 1 for NCHW).
 * Over the last axis, inference on cpu and wasm takes one kernel (`ops/layer-norm.ts`, `path: 'fused'`);
 * the composite of tfjs ops (`path: 'composite'`) is the reference and runs under a gradient.
 */
export function layerNorm(
  x: tf.Tensor,
  weight: tf.Tensor | null,
  bias: tf.Tensor | null,
  eps: number,
  axis = -1,
  options: { path?: 'fused' | 'composite' } = {},
): tf.Tensor {
  checkKernelPath('layerNorm', options.path);
  const last = x.rank >= 1 && (axis === -1 || axis === x.rank - 1);
  const c = x.rank >= 1 ? x.shape[x.rank - 1]! : 0;
  const vector = (t: tf.Tensor | null) => !t || (t.rank === 1 && t.size === c && t.dtype === 'float32');
  const fusable = last && x.dtype === 'float32' && vector(weight) && vector(bias) && layerNormModule() !== null;
  if (options.path === 'fused' && !(fusable && useFusedKernels(LAYER_NORM_BY_BACKEND, true)))
    throw new InvalidArgumentError(
      `layerNorm: the fused kernel takes float32 over the last axis with [${c}] weight and bias, on cpu and wasm with WebAssembly SIMD (backend ${tf.getBackend()})`,
    );
  if (options.path === 'fused' || (options.path !== 'composite' && fusable && useFusedKernels(LAYER_NORM_BY_BACKEND))) {
    const inputs: tf.NamedTensorMap = { x };
    if (weight) inputs.weight = weight;
    if (bias) inputs.bias = bias;
    return tf.engine().runKernel(LAYER_NORM_KERNEL, inputs, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.tidy(() => {
    const a = axis < 0 ? x.rank + axis : axis;
    const { mean, variance } = tf.moments(x, a, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    const bshape = x.shape.map((d, i) => (i === a ? d : 1));
    if (weight) y = tf.mul(y, a === x.rank - 1 ? weight : tf.reshape(weight, bshape));
    if (bias) y = tf.add(y, a === x.rank - 1 ? bias : tf.reshape(bias, bshape));
    return y;
  });
}

export interface Conv2dOptions {
  stride?: Pair;
  /** Explicit symmetric padding, as torch (never TF 'same'). */
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/**
 * 2-D convolution with torch semantics: explicit symmetric zero padding, groups (depthwise when
 * groups == in channels), dilation. x [B,H,W,Cin] → [B,Ho,Wo,Cout], Ho = ⌊(H + 2p − d(k−1) − 1)/s⌋ + 1.
 */
export class Conv2d extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly depthwise: boolean;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    opts: Conv2dOptions = {},
  ) {
    super();
    this.kernel = pair(kernelSize);
    this.stride = pair(opts.stride ?? 1);
    this.padding = pair(opts.padding ?? 0);
    this.dilation = pair(opts.dilation ?? 1);
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups)
      throw new InvalidArgumentError(
        `Conv2d: channels ${inChannels}→${outChannels} not divisible by groups ${this.groups}`,
      );
    this.depthwise = this.groups > 1 && this.groups === inChannels && outChannels === inChannels;
    const shape = [outChannels, inChannels / this.groups, this.kernel[0], this.kernel[1]];
    this.weight = this.param('weight', shape, this.depthwise ? 'depthwise' : 'conv2d');
    this.bias = (opts.bias ?? true) ? this.param('bias', [outChannels]) : null;
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4) throw new ShapeError('Conv2d', 'x', 'rank 4 [B,H,W,C]', `rank ${x.rank} ${fmtShape(x.shape)}`);
    assertDim('Conv2d', 'x', x, 3, this.inChannels, `${this.inChannels} channels`);
    const [ph, pw] = this.padding;
    const kh = (this.kernel[0] - 1) * this.dilation[0] + 1;
    const kw = (this.kernel[1] - 1) * this.dilation[1] + 1;
    if (x.shape[1]! + 2 * ph < kh || x.shape[2]! + 2 * pw < kw)
      throw new ShapeError(
        'Conv2d',
        'x',
        `a padded size of at least ${kh}×${kw}`,
        `${x.shape[1]}×${x.shape[2]} (+${ph},${pw} padding)`,
      );
    return tf.tidy(() => {
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [ph, ph],
        [pw, pw],
        [0, 0],
      ];
      const x4 = x as tf.Tensor4D;
      const w = this.weight.value as tf.Tensor4D;
      // for inference the bias is added inside the product, where tfjs fuses it (ops/bias.ts)
      const bias = this.bias && fuseBias() ? this.bias.value : undefined;
      // tfjs 4.22 declares no explicit padding for the fused depthwise op, but it computes the convolution's
      // geometry as the plain op does (computeConv2DInfo), explicit padding included
      type FusedArgs = Omit<Parameters<typeof tf.fused.depthwiseConv2d>[0], 'pad'> & { pad: typeof pad };
      const fused: FusedArgs = {
        x: x4,
        filter: w,
        strides: this.stride,
        pad,
        dataFormat: 'NHWC',
        dilations: this.dilation,
        bias,
      };
      let y: tf.Tensor4D;
      let biasAdded = false;
      if (this.depthwise) {
        // (groups == in == out channels: a multiplier of 1, channel c reads channel c)
        y = bias
          ? (tf.fused.depthwiseConv2d(
              fused as unknown as Parameters<typeof tf.fused.depthwiseConv2d>[0],
            ) as tf.Tensor4D)
          : tf.depthwiseConv2d(x4, w, this.stride, pad, 'NHWC', this.dilation);
        biasAdded = bias !== undefined;
      } else if (this.groups === 1 && useWinograd(x4.shape, w.shape, this.stride, this.dilation, this.padding)) {
        // large 3×3 stride-1 convolutions on wasm, for inference: 2.25× fewer products (ops/winograd.ts)
        y = conv2dWinograd(x4, w, { padding: this.padding });
      } else if (this.groups === 1) {
        y = bias ? (tf.fused.conv2d(fused) as tf.Tensor4D) : tf.conv2d(x4, w, this.stride, pad, 'NHWC', this.dilation);
        biasAdded = bias !== undefined;
      } else {
        const g = this.groups;
        const xs = tf.split(x4, g, 3) as tf.Tensor4D[];
        const ws = tf.split(w, g, 3) as tf.Tensor4D[];
        y = tf.concat(
          xs.map((xi, i) => tf.conv2d(xi, ws[i]!, this.stride, pad, 'NHWC', this.dilation)),
          3,
        ) as tf.Tensor4D;
      }
      addMacs(y.size * (this.inChannels / this.groups) * this.kernel[0] * this.kernel[1]);
      return this.bias && !biasAdded ? tf.add(y, this.bias.value) : y;
    });
  }
}

/**
 * torch `nn.Linear` (state_dict weight [out, in]); x [..., in] → [..., out]. The weight lives on the
 * device as [in, out] (layout 'linear'), so the product is a plain matMul with no transpose per call.
 */
export class Linear extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    this.weight = this.param('weight', [outFeatures, inFeatures], 'linear');
    this.bias = (opts.bias ?? true) ? this.param('bias', [outFeatures]) : null;
  }
  forward(x: tf.Tensor): tf.Tensor {
    assertDim('Linear', 'x', x, -1, this.inFeatures, `${this.inFeatures} features`);
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const x2 = tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
      const w = this.weight.value as tf.Tensor2D;
      addMacs(x2.shape[0] * this.inFeatures * this.outFeatures);
      // [in, out] on the device: a plain matMul (tfjs-wasm's transposeB is ~10× slower); for inference the
      // bias is added inside the product (ops/bias.ts). Rank 2, no transpose: on wasm XNNPACK's
      // fully-connected operator adds it (tfjs-wasm's own loop for batched or transposed fused products,
      // which this never takes, is not the tested path)
      let y: tf.Tensor;
      if (this.bias && fuseBias()) y = tf.fused.matMul({ a: x2, b: w, bias: this.bias.value });
      else {
        y = tf.matMul(x2, w);
        if (this.bias) y = tf.add(y, this.bias.value);
      }
      return tf.reshape(y, [...lead, this.outFeatures]);
    });
  }
}

/** torch `nn.LayerNorm(C, eps)` over the channel (last) axis. */
export class LayerNorm extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter;
  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', [channels]);
    this.bias = this.param('bias', [channels]);
  }
  forward(x: tf.Tensor): tf.Tensor {
    assertDim(this.constructor.name, 'x', x, -1, this.channels, `${this.channels} channels`);
    return layerNorm(x, this.weight.value, this.bias.value, this.eps);
  }
}

/**
 * The channels-first LayerNorm of ConvNeXt-style code (`LayerNorm2d`, normalising over C of NCHW).
 * On our NHWC tensors it is the same computation as LayerNorm; kept as its own class for readability
 * beside the papers' code, usually with eps 1e-6.
 */
export class LayerNorm2d extends LayerNorm {}

/** torch `nn.BatchNorm2d` in eval mode: (x − running_mean)/√(running_var + eps)·weight + bias. */
export class BatchNorm2d extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Parameter;
  readonly runningVar: Parameter;
  readonly numBatchesTracked: HostBuffer;
  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    /** torch's default 0.1: running ← (1 − momentum)·running + momentum·batch */
    readonly momentum = 0.1,
  ) {
    super();
    this.weight = this.param('weight', [channels]);
    this.bias = this.param('bias', [channels]);
    this.runningMean = this.buffer('running_mean', [channels]);
    this.runningVar = this.buffer('running_var', [channels]);
    this.numBatchesTracked = this.hostBuffer('num_batches_tracked');
  }
  /**
   * Eval mode: the running statistics. Training mode (torch `nn.BatchNorm2d.train()`): the batch's
   * per-channel mean and biased variance over B·H·W normalise `x`, and the running statistics move
   * toward the batch mean and the *unbiased* variance; `num_batches_tracked` counts the batches. The
   * update is a side effect outside any gradient (as torch's in-place buffer update).
   */
  forward(x: tf.Tensor): tf.Tensor {
    assertDim('BatchNorm2d', 'x', x, -1, this.channels, `${this.channels} channels`);
    if (this.training) return this.#batchForward(x);
    return tf.tidy(() => {
      const scale = tf.mul(this.weight.value, tf.rsqrt(tf.add(this.runningVar.value, this.eps)));
      const shift = tf.sub(this.bias.value, tf.mul(this.runningMean.value, scale));
      return tf.add(tf.mul(x, scale), shift);
    });
  }

  #batchForward(x: tf.Tensor): tf.Tensor {
    const n = x.size / this.channels;
    if (n < 2)
      throw new ShapeError(
        'BatchNorm2d',
        'x',
        'more than one value per channel in training mode (as in torch; use a larger batch or eval mode)',
        fmtShape(x.shape),
      );
    const axes = Array.from({ length: x.rank - 1 }, (_, i) => i);
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, axes);
      const m = this.momentum;
      // running statistics: a side effect that never reaches the loss, so the tape prunes it
      tf.tidy(() => {
        const unbiased = tf.mul(variance, n / (n - 1));
        this.runningMean.variable.assign(tf.add(tf.mul(this.runningMean.variable, 1 - m), tf.mul(mean, m)));
        this.runningVar.variable.assign(tf.add(tf.mul(this.runningVar.variable, 1 - m), tf.mul(unbiased, m)));
      });
      this.numBatchesTracked.value += 1n;
      const scale = tf.mul(this.weight.value, tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(tf.sub(x, mean), scale), this.bias.value);
    });
  }
}

/** torch `nn.GELU()` (exact). */
export class GELU extends Module implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return gelu(x);
  }
}

/** torch `nn.ReLU()`. */
export class ReLU extends Module implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

/** torch `nn.Identity()` (also stands for eval-mode Dropout). */
export class Identity extends Module implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return x;
  }
}

/** `nn.Sequential`: children keyed "0", "1", … including parameter-free ones, applied in order. */
export class Sequential extends ModuleList<Module & Layer> implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.items.reduce((h, m) => m.forward(h), x));
  }
}

/** timm `Mlp`: fc1 → GELU → fc2 (dropout is an identity at inference). */
export class Mlp extends Module implements Layer {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(inFeatures: number, hiddenFeatures: number, outFeatures = inFeatures) {
    super();
    this.fc1 = this.child('fc1', new Linear(inFeatures, hiddenFeatures));
    this.fc2 = this.child('fc2', new Linear(hiddenFeatures, outFeatures));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(gelu(this.fc1.forward(x))));
  }
}

/**
 * Stochastic depth (timm `DropPath`, `scale_by_keep`): identity in eval mode; in training each sample's
 * residual branch is zeroed with probability p and the survivors scaled by 1/(1−p). Every call draws a
 * fresh mask (a module the official code reuses for two branches drops them independently). The masks
 * come from {@link DropPath.seed} when it is set (each call takes the seed and advances it by one, so a
 * seeded step is reproducible: {@link seedDropPaths}), else from tfjs's unseeded generator.
 */
export class DropPath extends Module implements Layer {
  /** the seed of the next mask; advanced by every training-mode call */
  seed: number | undefined;
  constructor(readonly p = 0) {
    super();
    if (!(p >= 0 && p < 1)) throw new InvalidArgumentError(`DropPath: p must be in [0, 1), got ${p}`);
  }
  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    const seed = this.seed;
    if (seed !== undefined) this.seed = (seed + 1) >>> 0;
    return tf.tidy(() => {
      const keep = 1 - this.p;
      const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
      const mask = tf.floor(tf.add(tf.randomUniform(shape, 0, 1, 'float32', seed), keep));
      return tf.mul(x, tf.div(mask, keep));
    });
  }
}

/**
 * The per-block drop-path rates of timm and the three official models: `linspace(0, rate, Σ depths)`
 * over every block of every stage in order, cut per stage.
 */
export function dropPathRates(rate: number, depths: readonly number[]): number[][] {
  if (!(rate >= 0 && rate < 1)) throw new InvalidArgumentError(`drop_path_rate must be in [0, 1), got ${rate}`);
  const total = depths.reduce((a, d) => a + d, 0);
  const all = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
  const starts = depths.map((_, i) => depths.slice(0, i).reduce((a, d) => a + d, 0));
  return depths.map((d, i) => all.slice(starts[i], starts[i]! + d));
}

/**
 * Seed every {@link DropPath} of `model` (in registration order) from one 32-bit seed, so the next
 * training forward draws the same masks on every backend and after a resume. Returns how many.
 */
export function seedDropPaths(model: Module, seed: number): number {
  let i = 0;
  for (const [, m] of model.namedModules())
    if (m instanceof DropPath) m.seed = (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(++i, 0x85ebca6b)) >>> 0;
  return i;
}
