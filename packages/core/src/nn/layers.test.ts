// the gradients of tfjs-core's ops (its Node bundle registers none), for the fused-bias tests
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { FUSED_BIAS_FLAG } from '../ops/bias.js';
import { registerGradientKernels } from '../ops/gradient-kernels.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import {
  BatchNorm2d,
  Conv2d,
  DropPath,
  dropPathRates,
  GELU,
  gelu,
  LayerNorm,
  layerNorm,
  Linear,
  Mlp,
  Sequential,
  seedDropPaths,
} from './layers.js';

/** Direct PyTorch-semantics conv (NCHW, OIHW), written as loops: the independent reference. */
function torchConv(
  x: Float32Array,
  [B, C, H, W]: number[],
  w: Float32Array,
  [O, Ig, K, K2]: number[],
  b: Float32Array | null,
  s: number,
  p: number,
  g: number,
) {
  const Ho = Math.floor((H! + 2 * p - K!) / s) + 1;
  const Wo = Math.floor((W! + 2 * p - K2!) / s) + 1;
  const out = new Float32Array(B! * O! * Ho * Wo);
  const og = O! / g;
  for (let n = 0; n < B!; n++)
    for (let o = 0; o < O!; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let acc = b ? b[o]! : 0;
          const grp = Math.floor(o / og);
          for (let c = 0; c < Ig!; c++)
            for (let ki = 0; ki < K!; ki++)
              for (let kj = 0; kj < K2!; kj++) {
                const y = i * s - p + ki;
                const xx = j * s - p + kj;
                if (y < 0 || y >= H! || xx < 0 || xx >= W!) continue;
                acc += x[((n * C! + grp * Ig! + c) * H! + y) * W! + xx]! * w[((o * Ig! + c) * K! + ki) * K2! + kj]!;
              }
          out[((n * O! + o) * Ho + i) * Wo + j] = acc;
        }
  return { out, shape: [B!, O!, Ho, Wo] };
}

const nchwToNhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

describe.each(TEST_BACKENDS)('layers on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
    // the convolution gradients wasm lacks, as backend selection registers them
    registerGradientKernels(backend);
  });

  const convCases = [
    { name: 'k3 s2 p1 on even input (torch pads both sides)', C: 3, O: 4, H: 6, W: 8, k: 3, s: 2, p: 1, g: 1 },
    { name: 'k3 s1 p1 depthwise', C: 4, O: 4, H: 5, W: 5, k: 3, s: 1, p: 1, g: 4 },
    { name: 'k9 s8 p4 depthwise (DAT offset net)', C: 2, O: 2, H: 16, W: 12, k: 9, s: 8, p: 4, g: 2 },
    { name: 'k3 s1 p1 groups 2', C: 4, O: 6, H: 5, W: 4, k: 3, s: 1, p: 1, g: 2 },
    { name: 'k4 s4 p0 patchify', C: 3, O: 5, H: 8, W: 12, k: 4, s: 4, p: 0, g: 1 },
    { name: 'k1 s1 p0 pointwise', C: 5, O: 3, H: 3, W: 2, k: 1, s: 1, p: 0, g: 1 },
  ];
  for (const c of convCases) {
    it(`Conv2d matches torch semantics: ${c.name}`, () => {
      const x = values(2 * c.C * c.H * c.W, 1);
      const wShape = [c.O, c.C / c.g, c.k, c.k];
      const w = values(
        wShape.reduce((a, b) => a * b),
        2,
      );
      const b = values(c.O, 3);
      const conv = new Conv2d(c.C, c.O, c.k, { stride: c.s, padding: c.p, groups: c.g });
      conv.loadStateDict({
        weight: { dtype: 'F32', shape: wShape, data: w },
        bias: { dtype: 'F32', shape: [c.O], data: b },
      });
      const ref = torchConv(x, [2, c.C, c.H, c.W], w, wShape, b, c.s, c.p, c.g);
      const before = tf.memory().numTensors;
      const xt = tf.tidy(() => nchwToNhwc(tf.tensor4d(x, [2, c.C, c.H, c.W])));
      const y = conv.forward(xt);
      const yNchw = tf.transpose(y, [0, 3, 1, 2]);
      expect(yNchw.shape).toEqual(ref.shape);
      expect(maxAbsDiff(yNchw.dataSync(), ref.out)).toBeLessThan(1e-5);
      tf.dispose([xt, y, yNchw]);
      expect(tf.memory().numTensors).toBe(before);
      conv.dispose();
    });
  }

  it('Conv2d rejects a wrong channel count and rank with ShapeError', () => {
    const conv = new Conv2d(3, 4, 3, { padding: 1 });
    const x = tf.zeros([1, 5, 5, 2]);
    expect(() => conv.forward(x)).toThrow(ShapeError);
    expect(() => conv.forward(x)).toThrow(/3 channels on axis 3/);
    expect(() => conv.forward(tf.zeros([5, 5, 3]))).toThrow(/rank 4/);
    const tiny = tf.zeros([1, 1, 1, 3]);
    expect(() => new Conv2d(3, 4, 5).forward(tiny)).toThrow(/padded size of at least 5×5/);
    tf.dispose([x, tiny]);
    conv.dispose();
  });

  it('Linear uses the [out, in] weight as torch does', () => {
    const lin = new Linear(3, 2);
    lin.loadStateDict({
      weight: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 2, 3, -1, 0, 1) },
      bias: { dtype: 'F32', shape: [2], data: Float32Array.of(0.5, -0.5) },
    });
    const y = lin.forward(tf.tensor3d([[[1, 1, 1]], [[2, 0, -1]]]));
    // [1,1,1]: 6.5, -0.5 ; [2,0,-1]: 2-3+0.5 = -0.5, -2-1-0.5 = -3.5
    expect(Array.from(y.dataSync())).toEqual([6.5, -0.5, -0.5, -3.5]);
    expect(y.shape).toEqual([2, 1, 2]);
    y.dispose();
    lin.dispose();
  });

  // for inference the bias is added inside the product (tf.fused.*); the composite (product, then tf.add)
  // runs with the flag off and under a gradient
  // kernel: the fused kernel (null: not fused); withGrad: whether tfjs has the gradient (none when dilated)
  type BiasCase = {
    name: string;
    make: () => Conv2d | Linear;
    shape: number[];
    kernel: string | null;
    withGrad: boolean;
  };
  const biasLayers: BiasCase[] = [
    {
      name: 'conv 3×3 stride 2',
      make: () => new Conv2d(6, 8, 3, { stride: 2, padding: 1 }),
      shape: [2, 9, 7, 6],
      kernel: 'FusedConv2D',
      withGrad: true,
    },
    {
      name: 'conv 3×3 dilation 2',
      make: () => new Conv2d(5, 4, 3, { padding: 2, dilation: 2 }),
      shape: [1, 8, 7, 5],
      kernel: 'FusedConv2D',
      withGrad: false,
    },
    { name: 'conv 1×1', make: () => new Conv2d(8, 12, 1), shape: [1, 5, 4, 8], kernel: 'FusedConv2D', withGrad: true },
    {
      name: 'depthwise 5×5',
      make: () => new Conv2d(4, 4, 5, { padding: 2, groups: 4 }),
      shape: [1, 9, 11, 4],
      kernel: 'FusedDepthwiseConv2D',
      withGrad: true,
    },
    {
      name: 'depthwise 9×9 stride 8 (DAT offset net)',
      make: () => new Conv2d(4, 4, 9, { stride: 8, padding: 4, groups: 4 }),
      shape: [1, 17, 12, 4],
      kernel: 'FusedDepthwiseConv2D',
      withGrad: true,
    },
    {
      name: 'depthwise 3×3 dilation 2',
      make: () => new Conv2d(4, 4, 3, { padding: 2, dilation: 2, groups: 4 }),
      shape: [1, 9, 11, 4],
      kernel: 'FusedDepthwiseConv2D',
      withGrad: false,
    },
    { name: 'linear', make: () => new Linear(10, 7), shape: [3, 5, 10], kernel: '_FusedMatMul', withGrad: true },
    {
      name: 'grouped conv (not fused)',
      make: () => new Conv2d(4, 6, 3, { padding: 1, groups: 2 }),
      shape: [1, 5, 5, 4],
      kernel: null,
      withGrad: true,
    },
  ];
  for (const { name, make, shape, kernel, withGrad } of biasLayers)
    it(`${name}: the bias inside the product${kernel ? ` (${kernel})` : ''} equals product then addition; gradients take the composite`, async () => {
      const layer = make();
      let seed = 40;
      const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
      const tensorOf = (s: readonly number[]) => ({
        dtype: 'F32' as const,
        shape: [...s],
        data: values(numel(s), seed++),
      });
      layer.loadStateDict(Object.fromEntries([...layer.namedEntries()].map((e) => [e.key, tensorOf(e.torchShape)])));
      const x = tf.tensor(values(numel(shape), 7), shape);
      const before = tf.memory().numTensors;
      const pass = async (fused: boolean) => {
        tf.env().set(FUSED_BIAS_FLAG, fused);
        try {
          // f's values and the kernels it ran (tf.profile reuses one record: names are read at once)
          const profiled = async (f: () => tf.Tensor) => {
            let data: Float32Array = new Float32Array();
            const info = await tf.profile(() => {
              const y = f();
              data = y.dataSync() as Float32Array;
              y.dispose();
            });
            return { data, names: info.kernels.map((k) => k.name) };
          };
          const forward = await profiled(() => layer.forward(x));
          if (!withGrad)
            return { out: forward.data, kernels: forward.names, kernelsUnderGrad: [], dx: new Float32Array() };
          const grad = tf.grad((t: tf.Tensor) => tf.sum(tf.square(layer.forward(t))));
          const backward = await profiled(() => grad(x));
          return { out: forward.data, kernels: forward.names, kernelsUnderGrad: backward.names, dx: backward.data };
        } finally {
          tf.env().set(FUSED_BIAS_FLAG, true);
        }
      };
      const fused = await pass(true);
      const composite = await pass(false);
      expect(composite.kernels).not.toContain(kernel);
      expect(composite.kernels).toContain('Add');
      if (kernel) {
        expect(fused.kernels).toContain(kernel);
        expect(fused.kernels).not.toContain('Add');
      } else expect(fused.kernels).toEqual(composite.kernels);
      let maxRef = 0;
      for (const v of composite.out) maxRef = Math.max(maxRef, Math.abs(v));
      expect(maxRef).toBeGreaterThan(0.5);
      expect(maxAbsDiff(fused.out, composite.out)).toBeLessThanOrEqual(1e-5 * Math.max(1, maxRef));
      // under a gradient the composite runs whatever the flag: the same kernels, the same gradient
      expect(fused.dx.length).toBe(withGrad ? x.size : 0);
      for (const k of ['FusedConv2D', 'FusedDepthwiseConv2D', '_FusedMatMul'])
        expect(fused.kernelsUnderGrad).not.toContain(k);
      expect(fused.kernelsUnderGrad).toEqual(composite.kernelsUnderGrad);
      expect(Array.from(fused.dx)).toEqual(Array.from(composite.dx));
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      layer.dispose();
    });

  it('LayerNorm normalises channels with biased variance and eps', () => {
    const ln = new LayerNorm(4, 1e-5);
    ln.loadStateDict({
      weight: { dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 1, 1) },
      bias: { dtype: 'F32', shape: [4], data: Float32Array.of(0, 0, 1, 0) },
    });
    const y = ln.forward(tf.tensor2d([[1, 2, 3, 4]]));
    // mean 2.5, biased var 1.25
    const inv = 1 / Math.sqrt(1.25 + 1e-5);
    const want = [-1.5 * inv, -0.5 * inv * 2, 0.5 * inv + 1, 1.5 * inv];
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-6);
    // channels-first form over axis 1 of an NCHW tensor equals channels-last on the NHWC one
    const x = tf.tensor4d(values(2 * 4 * 3 * 3, 9), [2, 4, 3, 3]);
    const a = layerNorm(x, null, null, 1e-6, 1);
    const b = tf.transpose(layerNorm(tf.transpose(x, [0, 2, 3, 1]), null, null, 1e-6), [0, 3, 1, 2]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-6);
    tf.dispose([y, x, a, b]);
    ln.dispose();
  });

  it('BatchNorm2d in eval mode uses running stats', () => {
    const bn = new BatchNorm2d(2);
    bn.loadStateDict({
      weight: { dtype: 'F32', shape: [2], data: Float32Array.of(2, 1) },
      bias: { dtype: 'F32', shape: [2], data: Float32Array.of(0, 1) },
      running_mean: { dtype: 'F32', shape: [2], data: Float32Array.of(1, -1) },
      running_var: { dtype: 'F32', shape: [2], data: Float32Array.of(4, 0.25) },
      num_batches_tracked: { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) },
    });
    const y = bn.forward(tf.tensor4d([3, 0], [1, 1, 1, 2]));
    const want = [((3 - 1) / Math.sqrt(4 + 1e-5)) * 2, (1 / Math.sqrt(0.25 + 1e-5)) * 1 + 1];
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-5);
    expect(bn.stateDict().get('num_batches_tracked')?.data).toEqual(BigInt64Array.of(7n));
    y.dispose();
    bn.dispose();
  });

  it('BatchNorm2d in training mode normalises with the batch and updates the running stats as torch', () => {
    const bn = new BatchNorm2d(2);
    bn.loadStateDict({
      weight: { dtype: 'F32', shape: [2], data: Float32Array.of(2, 1) },
      bias: { dtype: 'F32', shape: [2], data: Float32Array.of(0, 1) },
      running_mean: { dtype: 'F32', shape: [2], data: Float32Array.of(1, -1) },
      running_var: { dtype: 'F32', shape: [2], data: Float32Array.of(4, 0.25) },
      num_batches_tracked: { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) },
    });
    bn.train();
    const start = tf.memory().numTensors;
    // [B=2, H=1, W=2, C=2]: channel 0 holds 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3);
    // channel 1 holds 0, 0, 0, 4 (mean 1, biased var 3, unbiased 4)
    const x = tf.tensor4d([1, 0, 3, 0, 5, 0, 7, 4], [2, 1, 2, 2]);
    const y = bn.forward(x);
    const s0 = Math.sqrt(5 + 1e-5);
    const s1 = Math.sqrt(3 + 1e-5);
    const want = [-3 / s0, -1 / s1 + 1, -1 / s0, -1 / s1 + 1, 1 / s0, -1 / s1 + 1, 3 / s0, 3 / s1 + 1].map((v, i) =>
      i % 2 ? v : 2 * v,
    );
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-5);
    const sd = bn.stateDict();
    expect(
      maxAbsDiff(sd.get('running_mean')!.data as Float32Array, [0.9 * 1 + 0.1 * 4, 0.9 * -1 + 0.1 * 1]),
    ).toBeLessThan(1e-6);
    expect(
      maxAbsDiff(sd.get('running_var')!.data as Float32Array, [0.9 * 4 + (0.1 * 20) / 3, 0.9 * 0.25 + 0.1 * 4]),
    ).toBeLessThan(1e-6);
    expect(sd.get('num_batches_tracked')?.data).toEqual(BigInt64Array.of(8n));
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(start);
    // eval mode reads the updated running statistics again
    bn.eval();
    const z = bn.forward(tf.tensor4d([1.3, -0.8], [1, 1, 1, 2]));
    expect(maxAbsDiff(z.dataSync(), [0, 1])).toBeLessThan(1e-6);
    z.dispose();
    // one value per channel cannot give a batch variance
    bn.train();
    const one = tf.zeros([1, 1, 1, 2]);
    expect(() => bn.forward(one)).toThrow(ShapeError);
    tf.dispose(one);
    bn.dispose();
  });

  it('GELU is the exact erf form', () => {
    const x = tf.tensor1d([-3, -1, -0.5, 0, 0.5, 1, 3]);
    const y = gelu(x);
    // 0.5·x·(1 + erf(x/√2)), erf values from tables
    const want = [-0.00404969, -0.15865525, -0.15426877, 0, 0.34573123, 0.84134475, 2.99595031];
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(2e-6);
    tf.dispose([x, y]);
  });

  it('Sequential and Mlp compose with torch key names', () => {
    const seq = new Sequential([new Linear(2, 3), new GELU(), new Linear(3, 2, { bias: false })]);
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '2.weight']);
    const mlp = new Mlp(4, 8);
    expect(mlp.stateDictShapes()).toEqual([
      ['fc1.weight', [8, 4]],
      ['fc1.bias', [8]],
      ['fc2.weight', [4, 8]],
      ['fc2.bias', [4]],
    ]);
    expect(mlp.parameterCount()).toBe(8 * 4 + 8 + 4 * 8 + 4);
    seq.dispose();
    mlp.dispose();
  });

  it('DropPath is the identity in eval mode and drops whole samples in training', () => {
    const dp = new DropPath(0.5);
    const x = tf.ones([64, 2, 2, 3]);
    expect(dp.forward(x)).toBe(x);
    dp.train();
    dp.seed = 42;
    const y = dp.forward(x);
    expect(dp.seed).toBe(43);
    const per = tf.tidy(() => Array.from(tf.mean(y, [1, 2, 3]).dataSync()));
    for (const v of per) expect([0, 2]).toContain(v);
    expect(per.some((v) => v === 0) && per.some((v) => v === 2)).toBe(true);
    // the same seed gives the same mask; the next call (seed 43) another one
    dp.seed = 42;
    const again = dp.forward(x);
    const next = dp.forward(x);
    expect(Array.from(again.dataSync())).toEqual(Array.from(y.dataSync()));
    expect(Array.from(next.dataSync())).not.toEqual(Array.from(y.dataSync()));
    tf.dispose([x, y, again, next]);
    expect(() => new DropPath(1)).toThrow(InvalidArgumentError);
  });

  it('dropPathRates is linspace(0, rate, Σ depths) cut per stage; seedDropPaths seeds every DropPath', () => {
    expect(dropPathRates(0.3, [1, 2, 1]).map((r) => r.map((v) => +v.toFixed(12)))).toEqual([[0], [0.1, 0.2], [0.3]]);
    expect(dropPathRates(0, [2])).toEqual([[0, 0]]);
    expect(dropPathRates(0.5, [1])).toEqual([[0]]); // torch.linspace(0, r, 1) is [0]
    expect(() => dropPathRates(1, [2])).toThrow(InvalidArgumentError);
    const seq = new Sequential([new DropPath(0.1), new Linear(2, 2), new Sequential([new DropPath(0.2)])]);
    expect(seedDropPaths(seq, 7)).toBe(2);
    const [a, , inner] = seq.items as [DropPath, Linear, Sequential];
    const b = inner.items[0] as DropPath;
    expect(a.seed).toBeTypeOf('number');
    expect(b.seed).toBeTypeOf('number');
    expect(a.seed).not.toBe(b.seed);
    const first = a.seed;
    seedDropPaths(seq, 7);
    expect(a.seed).toBe(first);
    seedDropPaths(seq, 8);
    expect(a.seed).not.toBe(first);
    seq.dispose();
  });
});
