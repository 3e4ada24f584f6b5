/**
 * The GLNet blocks (glmix.md §4): the GLMix block — convolutions on the pixel grid, attention among a
 * few soft-clustered semantic slots — and the plain attention blocks of the later stages.
 * Zhu et al., "Revisiting the Integration of Convolution and Attention for Vision Backbone"
 * (NeurIPS 2024). Official code: rayleizhu/GLMix@3c93dbf `models/glnet.py`. Apache-2.0.
 *
 * Reading order: small pieces (L2 normalisation, LayerScale, the residual depthwise conv, the conv MLP,
 * nn.MultiheadAttention) → the GLMix mixing (shared by the block and the stand-alone `GLMixAttention`)
 * → GLMixBlock → MHSA_NCHW_Block → MHSA_Block → BasicLayer (a stage).
 * Module and parameter names are the official state_dict keys, registered in the official order.
 * Tensors are NHWC; shape comments use B batch, H×W map, L = H·W tokens (row-major, h·W + w),
 * C channels, S slots, nh heads, hd = C/nh, D MLP width.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  adaptiveAvgPool2d,
  addMacs,
  assertMap,
  type Attention2d,
  Conv2d,
  DropPath,
  GELU,
  Identity,
  InvalidArgumentError,
  type Layer,
  LayerNorm,
  LayerNorm2d,
  Linear,
  Module,
  ModuleList,
  type Parameter,
  Sequential,
  selfAttentionFromQKV,
  ShapeError,
  softCluster,
  softDispatch,
  tidyObj,
} from '@dynavit/core';

/** Set a parameter to a constant (an official init); the temporary is freed, the variable keeps its copy. */
export function fillParameter(p: Parameter, value: number): void {
  const t = tf.fill(p.variable.shape, value);
  p.variable.assign(t);
  t.dispose();
}

/**
 * torch `nn.Linear`: core's `Linear`, under the name the port gave it when core's transposed its weight at
 * every call (core now keeps the weight as [in, out] on the device, a plain matMul).
 */
export class FastLinear extends Linear {}

/** Every norm inside the blocks (timm LayerNorm2d and nn.LayerNorm(eps=1e-6)). */
const BLOCK_NORM_EPS = 1e-6;

// ---------------------------------------------------------------------------------------------------
// Small pieces

/**
 * torch `F.normalize(x, p=2, dim=-1)`: x / max(‖x‖₂, eps) along the last axis — the NORM is clamped,
 * not the squared norm (glmix.md §4.1 step 4). Candidate for core.
 */
export function l2Normalize(x: tf.Tensor, eps = 1e-12): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), eps)));
}

/** Where a LayerScale gamma lives: tokens [C] ('nlc') or NCHW maps [1, C, 1, 1] ('nchw'). */
export type LayerScaleFormat = 'nlc' | 'nchw';

/** `LayerScale`: y = gamma ⊙ x (per channel), gamma initialised to `initValue`. */
export class LayerScale extends Module implements Layer {
  readonly gamma: Parameter;
  constructor(
    readonly dim: number,
    initValue: number,
    readonly format: LayerScaleFormat,
  ) {
    super();
    this.gamma = this.param('gamma', format === 'nlc' ? [dim] : [1, dim, 1, 1]);
    fillParameter(this.gamma, initValue);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(x, tf.reshape(this.gamma.value, [this.dim])));
  }
}

/** `ResDWConvNCHW`: y = x + DWConv_k(x) (depthwise, stride 1, padding k//2, bias); `mlp.1`. */
export class ResDWConvNCHW extends Conv2d {
  constructor(dim: number, ks = 3) {
    super(dim, dim, ks, { padding: Math.floor(ks / 2), groups: dim });
  }
  override forward(x: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => tf.add(x, super.forward(x)) as tf.Tensor4D);
  }
}

/**
 * The conv MLP of the NCHW blocks: `mlp.0` 1×1 conv C→D → `mlp.1` ResDWConvNCHW(D) (mlp_dw) or
 * Identity → `mlp.2` GELU (erf) → `mlp.3` 1×1 conv D→C. D = int(mlp_ratio·C).
 */
function convMlp(dim: number, mlpRatio: number, mlpDw: boolean): Sequential {
  const hidden = Math.floor(mlpRatio * dim);
  return new Sequential([
    new Conv2d(dim, hidden, 1),
    mlpDw ? new ResDWConvNCHW(hidden, 3) : new Identity(),
    new GELU(),
    new Conv2d(hidden, dim, 1),
  ]);
}

/** LayerScale when layerscale > 0, otherwise an Identity (no weights), as the official blocks do. */
const maybeLayerScale = (dim: number, layerscale: number, format: LayerScaleFormat): Module & Layer =>
  layerscale > 0 ? new LayerScale(dim, layerscale, format) : new Identity();

/**
 * torch `nn.MultiheadAttention(C, nh, batch_first=True)` used as self-attention with
 * need_weights=False (glmix.md §4.4): packed in-projection (rows 0..C−1 → q, C..2C−1 → k,
 * 2C..3C−1 → v), heads = contiguous channel chunks, softmax((q·hd^−½)·kᵀ)·v, out-projection.
 */
export class MultiheadAttention extends Module {
  readonly in_proj_weight: Parameter;
  readonly in_proj_bias: Parameter;
  readonly out_proj: FastLinear;
  readonly headDim: number;
  readonly scale: number;
  constructor(
    readonly dim: number,
    readonly numHeads: number,
  ) {
    super();
    if (!(numHeads >= 1) || dim % numHeads)
      throw new InvalidArgumentError(
        `MultiheadAttention: embed_dim ${dim} must be divisible by num_heads ${numHeads} (num_heads = dim // head_dim)`,
      );
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    this.in_proj_weight = this.param('in_proj_weight', [3 * dim, dim], 'linear'); // [C, 3C] on the device
    this.in_proj_bias = this.param('in_proj_bias', [3 * dim]);
    this.out_proj = this.child('out_proj', new FastLinear(dim, dim));
  }

  /** x [B, N, C] → [B, N, C] (global attention among the N tokens). */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    if (x.rank !== 3)
      throw new ShapeError('MultiheadAttention', 'x', 'rank 3 [B,N,C]', `rank ${x.rank} [${x.shape.join(',')}]`);
    if (x.shape[2] !== this.dim)
      throw new ShapeError(
        'MultiheadAttention',
        'x',
        `${this.dim} channels on the last axis`,
        `${x.shape[2]} in [${x.shape.join(',')}]`,
      );
    const [B, N, C] = x.shape;
    const nh = this.numHeads;
    return tf.tidy(() => {
      // the in-projection weight is [C, 3C] on the device: a plain matMul (matMul's transpose flags are
      // slow on wasm, and so is a transposed copy of the weight at every call)
      const qkv = tf.add(
        tf.matMul(tf.reshape(x, [B * N, C]) as tf.Tensor2D, this.in_proj_weight.value as tf.Tensor2D),
        this.in_proj_bias.value,
      );
      // packed in-projection, then q·kᵀ and attn·v over all heads (out_proj reports itself)
      addMacs(B * N * C * 3 * C + 2 * B * N * N * C);
      // softmax((q·hd^−½)·kᵀ)·v per head, heads side by side: core's selfAttentionFromQKV (one kernel for
      // inference on cpu and wasm, reading the packed projection in place)
      const merged = selfAttentionFromQKV(tf.reshape(qkv, [B, N, 3 * C]) as tf.Tensor3D, nh, { scale: this.scale });
      return this.out_proj.forward(merged) as tf.Tensor3D;
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// The GLMix mixing (glmix.md §4.1 steps 1 and 4-9)

export type SlotInit = 'ada_avgpool' | 'param';

/** Intermediates of one GLMix mixing, named like the golden `debug.*` tensors (maps NHWC here). */
export interface GLMixIntermediates {
  /** slot centres c, [B, S, C] (ada_avgpool) or [1, S, C] (param) */
  initSlots: tf.Tensor3D;
  /** assignment logits A = slot_scale · cos(c, t), [B, S, L] */
  logits: tf.Tensor3D;
  /** slots₀ = softmax_L(A) · t, [B, S, C] */
  slotsGrouped: tf.Tensor3D;
  /** slots₁ = MHA(slots₀), [B, S, C] */
  slotsUpdated: tf.Tensor3D;
  /** g = softmax_S(Aᵀ) · slots₁, [B, H, W, C] */
  globalOut: tf.Tensor4D;
  /** the local conv branch on the grid, [B, H, W, C] */
  localOut: tf.Tensor4D;
  /** m = g + loc, [B, H, W, C] */
  mixed: tf.Tensor4D;
}

/**
 * Slot centres (step 1): `ada_avgpool` pools x [B,H,W,C] with torch's adaptive bins to P×P and reads
 * it as [B, S = P², C] (slot = row·P + col); `param` returns the learned [1, S, C] as is.
 */
export function slotCentres(x: tf.Tensor4D, poolSize: number, initSlots: Parameter | null): tf.Tensor3D {
  if (initSlots) return tf.clone(initSlots.value) as tf.Tensor3D; // a copy: callers may dispose it
  return tf.tidy(() => {
    const [B, , , C] = x.shape;
    return tf.reshape(adaptiveAvgPool2d(x, poolSize), [B, poolSize * poolSize, C]) as tf.Tensor3D;
  });
}

/** The weights one GLMix mixing reads. */
interface GLMixWeights {
  slotScale: Parameter;
  relation: MultiheadAttention;
  /** `feature_conv` (1×1 → depthwise k×k → 1×1) or Identity */
  local: Module & Layer;
}

/**
 * Steps 4-9 of the GLMix block on the normed map u [B,H,W,C] with slot centres c [B|1, S, C]:
 * soft clustering of the pixels into S slots (cosine similarity × slot_scale; softmax over pixels),
 * attention among the slots, soft dispatch back to the pixels (softmax over slots of the SAME
 * logits), plus the local conv branch on u. Returns m = g + loc [B,H,W,C].
 */
function glmixMixing(
  u: tf.Tensor4D,
  centres: tf.Tensor3D,
  w: GLMixWeights,
  collect: boolean,
): { out: tf.Tensor4D; intermediates?: GLMixIntermediates } {
  return tidyObj(() => {
    const [B, H, W, C] = u.shape;
    const S = centres.shape[1];
    const t = tf.reshape(u, [B, H * W, C]) as tf.Tensor3D; // normed tokens
    let cn = l2Normalize(centres) as tf.Tensor3D;
    if (cn.shape[0] !== B) cn = tf.broadcastTo(cn, [B, S, C]); // learned slots are shared by the batch
    // A[b,s,l] = n(c[b,s]) · (slot_scale · n(t[b,l]))  → [B, S, L]
    const logits = tf.matMul(
      cn,
      tf.transpose(tf.mul(w.slotScale.value, l2Normalize(t)), [0, 2, 1]) as tf.Tensor3D,
    ) as tf.Tensor3D;
    // slots₀ = softmax_L(A)·t (values = normed tokens): core's softCluster (a fused kernel for inference on cpu)
    const slotsGrouped = softCluster(logits, t);
    const slotsUpdated = w.relation.forward(slotsGrouped);
    // g = softmax_S(Aᵀ)·slots₁: one fused kernel for inference on cpu and WebGPU (core's softDispatch)
    const globalOut = tf.reshape(softDispatch(logits, slotsUpdated), [B, H, W, C]) as tf.Tensor4D;
    addMacs(3 * B * S * H * W * C); // clustering logits n(c)·n(t)ᵀ, grouping G·t, dispatch D·slots₁ (the MHA reports itself)
    const localOut = w.local.forward(u) as tf.Tensor4D;
    const mixed = tf.add(globalOut, localOut) as tf.Tensor4D;
    if (!collect) return { out: mixed };
    // clone: the centres may be the caller's tensor or the init_slots variable
    return {
      out: mixed,
      intermediates: { initSlots: tf.clone(centres), logits, slotsGrouped, slotsUpdated, globalOut, localOut, mixed },
    };
  });
}

export interface GLMixOptions {
  numHeads: number;
  /** S; a perfect square for `ada_avgpool` (default 64) */
  numSlots?: number;
  /** default `ada_avgpool` */
  slotInit?: SlotInit;
  /** kernel of the local branch's depthwise conv (odd; ≤ 0: no local branch, loc = u); default 5 */
  localDwKs?: number;
}

interface ResolvedGLMix {
  numSlots: number;
  slotInit: SlotInit;
  localDwKs: number;
  poolSize: number;
}

function resolveGLMix(op: string, dim: number, o: GLMixOptions): ResolvedGLMix {
  const numSlots = o.numSlots ?? 64;
  const slotInit = o.slotInit ?? 'ada_avgpool';
  const localDwKs = o.localDwKs ?? 5;
  if (!Number.isInteger(numSlots) || numSlots < 1)
    throw new InvalidArgumentError(`${op}: num_slots must be a positive integer, got ${numSlots}`);
  if (slotInit !== 'ada_avgpool' && slotInit !== 'param')
    throw new InvalidArgumentError(`${op}: slot_init must be 'ada_avgpool' or 'param', got ${String(slotInit)}`);
  const poolSize = Math.floor(Math.sqrt(numSlots));
  if (slotInit === 'ada_avgpool' && poolSize * poolSize !== numSlots)
    throw new InvalidArgumentError(
      `${op}: num_slots must be a perfect square with slot_init 'ada_avgpool' (slots pooled to √S×√S), got ${numSlots}`,
    );
  if (localDwKs > 0 && localDwKs % 2 === 0)
    throw new InvalidArgumentError(
      `${op}: local_dw_ks must be odd (an even kernel with padding k//2 changes the map size), got ${localDwKs}`,
    );
  if (!(dim >= 1)) throw new InvalidArgumentError(`${op}: dim must be positive, got ${dim}`);
  return { numSlots, slotInit, localDwKs, poolSize };
}

/** `feature_conv`: 1×1 → depthwise k×k (padding k//2) → 1×1, no activation; Identity when k ≤ 0. */
const featureConv = (dim: number, ks: number): Module & Layer =>
  ks > 0
    ? new Sequential([
        new Conv2d(dim, dim, 1),
        new Conv2d(dim, dim, ks, { padding: Math.floor(ks / 2), groups: dim }),
        new Conv2d(dim, dim, 1),
      ])
    : new Identity();

/**
 * The GLMix token mixer as a drop-in `Attention2d` (NHWC in, same shape out): global attention among
 * S soft-clustered slots plus the local conv branch, with the official parameter names
 * (`slot_scale`, `init_slots`, `relation_mha.*`, `feature_conv.*`).
 *
 * `forward(x)` pools the slot centres from x itself. Inside a GLMixBlock the centres come from the raw
 * block input (before the CPE and norm1) while the mixing runs on the normed map; to reproduce that,
 * call `mix(u, slotCentres(x0, …))` — GLMixBlock does exactly this with the shared code.
 */
export class GLMixAttention extends Module implements Attention2d {
  readonly slot_scale: Parameter;
  readonly init_slots: Parameter | null;
  readonly relation_mha: MultiheadAttention;
  readonly feature_conv: Module & Layer;
  readonly numSlots: number;
  readonly slotInit: SlotInit;
  readonly poolSize: number;
  constructor(
    readonly dim: number,
    options: GLMixOptions,
  ) {
    super();
    const o = resolveGLMix('GLMixAttention', dim, options);
    ({ numSlots: this.numSlots, slotInit: this.slotInit, poolSize: this.poolSize } = o);
    this.slot_scale = this.param('slot_scale', []);
    fillParameter(this.slot_scale, dim ** -0.5); // the official init
    this.init_slots = o.slotInit === 'param' ? this.param('init_slots', [1, o.numSlots, dim]) : null;
    this.relation_mha = this.child('relation_mha', new MultiheadAttention(dim, options.numHeads));
    this.feature_conv = this.child('feature_conv', featureConv(dim, o.localDwKs));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    assertMap('GLMixAttention', x, this.dim);
    return tf.tidy(() => this.mix(x, slotCentres(x, this.poolSize, this.init_slots)).out);
  }

  /** u [B,H,W,C] (already normed) with centres [B|1, S, C] → m [B,H,W,C]. */
  mix(u: tf.Tensor4D, centres: tf.Tensor3D, collect = false): { out: tf.Tensor4D; intermediates?: GLMixIntermediates } {
    assertMap('GLMixAttention', u, this.dim);
    const [b, , c] = centres.shape;
    if (centres.rank !== 3 || c !== this.dim || (b !== 1 && b !== u.shape[0]))
      throw new ShapeError(
        'GLMixAttention.mix',
        'centres',
        `[1 or ${u.shape[0]}, S, ${this.dim}]`,
        `[${centres.shape.join(',')}]`,
      );
    return glmixMixing(
      u,
      centres,
      { slotScale: this.slot_scale, relation: this.relation_mha, local: this.feature_conv },
      collect,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// Blocks

export interface BlockOptions {
  numHeads: number;
  mlpRatio: number;
  /** conv position encoding kernel (odd), 0 = none */
  cpeKs: number;
  /** residual depthwise 3×3 conv inside the conv MLP */
  mlpDw: boolean;
  /** LayerScale init value; ≤ 0 = no layer scale */
  layerscale: number;
  /** the block's drop-path rate (training only; one `drop_path` for both branches, none on the CPE) */
  dropPath?: number;
}

export interface GLMixBlockOptions extends BlockOptions, GLMixOptions {}

/** Everything a GLMixBlock computes, named like the golden `debug.stage0.block0.*` (NHWC maps). */
export interface GLMixBlockIntermediates extends GLMixIntermediates {
  /** x1 = x0 + pos_conv(x0) (only with a CPE) */
  xAfterCpe?: tf.Tensor4D;
  /** u = norm1(x1) */
  norm1: tf.Tensor4D;
  /** norm2(x2) */
  norm2: tf.Tensor4D;
  /** MLP output before ls2 */
  mlpOut: tf.Tensor4D;
}

/** Depthwise CPE conv, cpe_ks×cpe_ks, padding cpe_ks//2, bias. */
const posConv = (dim: number, ks: number) => new Conv2d(dim, dim, ks, { padding: Math.floor(ks / 2), groups: dim });

function checkBlockOptions(op: string, o: BlockOptions): void {
  if (o.cpeKs > 0 && o.cpeKs % 2 === 0)
    throw new InvalidArgumentError(
      `${op}: cpe_ks must be odd (the CPE residual needs an unchanged map size), got ${o.cpeKs}`,
    );
  if (!(o.mlpRatio > 0)) throw new InvalidArgumentError(`${op}: mlp_ratio must be positive, got ${o.mlpRatio}`);
}

/**
 * `GLMixBlock` (glmix.md §4.1): x0 → slot centres from x0 → x1 = x0 + CPE(x0) → u = LN(x1) →
 * x2 = x1 + ls1(GLMix(u; centres)) → y = x2 + ls2(MLP(LN(x2))). NHWC in, same shape out; any H×W.
 */
export class GLMixBlock extends Module implements Layer {
  readonly slot_scale: Parameter;
  readonly init_slots: Parameter | null;
  readonly pos_conv: Conv2d | null;
  readonly norm1: LayerNorm2d;
  readonly relation_mha: MultiheadAttention;
  readonly feature_conv: Module & Layer;
  readonly norm2: LayerNorm2d;
  readonly mlp: Sequential;
  readonly ls1: Module & Layer;
  readonly ls2: Module & Layer;
  readonly drop_path: DropPath;
  readonly poolSize: number;
  constructor(
    readonly dim: number,
    opts: GLMixBlockOptions,
  ) {
    super();
    checkBlockOptions('GLMixBlock', opts);
    const o = resolveGLMix('GLMixBlock', dim, opts);
    this.poolSize = o.poolSize;
    this.slot_scale = this.param('slot_scale', []);
    fillParameter(this.slot_scale, dim ** -0.5); // the official init
    this.init_slots = o.slotInit === 'param' ? this.param('init_slots', [1, o.numSlots, dim]) : null;
    this.pos_conv = opts.cpeKs > 0 ? this.child('pos_conv', posConv(dim, opts.cpeKs)) : null;
    this.norm1 = this.child('norm1', new LayerNorm2d(dim, BLOCK_NORM_EPS));
    this.relation_mha = this.child('relation_mha', new MultiheadAttention(dim, opts.numHeads));
    this.feature_conv = this.child('feature_conv', featureConv(dim, o.localDwKs));
    this.norm2 = this.child('norm2', new LayerNorm2d(dim, BLOCK_NORM_EPS));
    this.mlp = this.child('mlp', convMlp(dim, opts.mlpRatio, opts.mlpDw));
    this.ls1 = this.child('ls1', maybeLayerScale(dim, opts.layerscale, 'nchw'));
    this.ls2 = this.child('ls2', maybeLayerScale(dim, opts.layerscale, 'nchw'));
    this.drop_path = this.child('drop_path', new DropPath(opts.dropPath ?? 0));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.run(x).out;
  }

  /** x0 [B,H,W,C] → y [B,H,W,C]; with `collect`, every step (see GLMixBlockIntermediates). */
  run(x0: tf.Tensor4D, collect = false): { out: tf.Tensor4D; intermediates?: GLMixBlockIntermediates } {
    assertMap('GLMixBlock', x0, this.dim);
    return tidyObj(() => {
      // the centres come from the RAW block input: before the CPE and before norm1 (§9)
      const centres = slotCentres(x0, this.poolSize, this.init_slots);
      const x1 = this.pos_conv ? (tf.add(x0, this.pos_conv.forward(x0)) as tf.Tensor4D) : x0;
      const u = this.norm1.forward(x1) as tf.Tensor4D;
      const g = glmixMixing(
        u,
        centres,
        { slotScale: this.slot_scale, relation: this.relation_mha, local: this.feature_conv },
        collect,
      );
      const x2 = tf.add(x1, this.drop_path.forward(this.ls1.forward(g.out)));
      const n2 = this.norm2.forward(x2) as tf.Tensor4D;
      const mlpOut = this.mlp.forward(n2) as tf.Tensor4D;
      const out = tf.add(x2, this.drop_path.forward(this.ls2.forward(mlpOut))) as tf.Tensor4D;
      if (!collect) return { out };
      const intermediates: GLMixBlockIntermediates = {
        ...g.intermediates!,
        norm1: u,
        norm2: n2,
        mlpOut,
        ...(this.pos_conv ? { xAfterCpe: x1 } : {}),
      };
      return { out, intermediates };
    });
  }
}

/** Steps of an attention block, named like the golden `debug.*` (NCHW-block maps NHWC here). */
export interface MHSABlockIntermediates {
  xAfterCpe?: tf.Tensor4D;
  /** norm1 output, tokens [B, L, C] */
  norm1: tf.Tensor3D;
  /** MHA output before ls1 and the residual, [B, L, C] */
  attnOut: tf.Tensor3D;
  /** norm2 output ([B,H,W,C] in MHSA_NCHW_Block, [B,L,C] in MHSA_Block) */
  norm2: tf.Tensor;
  /** MLP output before ls2 */
  mlpOut: tf.Tensor;
}

/**
 * `MHSA_NCHW_Block` (glmix.md §4.2): x1 = x0 + CPE(x0); tokens z = x1 as [B,L,C];
 * z2 = z + ls1(MHA(LN(z))) (global attention over all L pixels); y = x2 + ls2(MLP(LN2d(x2))).
 * NHWC in, same shape out. Cost O(L²).
 */
export class MHSA_NCHW_Block extends Module implements Layer {
  readonly pos_conv: Conv2d | null;
  readonly norm1: LayerNorm;
  readonly mha_op: MultiheadAttention;
  readonly norm2: LayerNorm2d;
  readonly mlp: Sequential;
  readonly ls1: Module & Layer;
  readonly ls2: Module & Layer;
  readonly drop_path: DropPath;
  constructor(
    readonly dim: number,
    opts: BlockOptions,
  ) {
    super();
    checkBlockOptions('MHSA_NCHW_Block', opts);
    this.pos_conv = opts.cpeKs > 0 ? this.child('pos_conv', posConv(dim, opts.cpeKs)) : null;
    this.norm1 = this.child('norm1', new LayerNorm(dim, BLOCK_NORM_EPS));
    this.mha_op = this.child('mha_op', new MultiheadAttention(dim, opts.numHeads));
    this.norm2 = this.child('norm2', new LayerNorm2d(dim, BLOCK_NORM_EPS));
    this.mlp = this.child('mlp', convMlp(dim, opts.mlpRatio, opts.mlpDw));
    this.ls1 = this.child('ls1', maybeLayerScale(dim, opts.layerscale, 'nlc'));
    this.ls2 = this.child('ls2', maybeLayerScale(dim, opts.layerscale, 'nchw'));
    this.drop_path = this.child('drop_path', new DropPath(opts.dropPath ?? 0));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.run(x).out;
  }

  run(x0: tf.Tensor4D, collect = false): { out: tf.Tensor4D; intermediates?: MHSABlockIntermediates } {
    assertMap('MHSA_NCHW_Block', x0, this.dim);
    const [B, H, W, C] = x0.shape;
    return tidyObj(() => {
      const x1 = this.pos_conv ? (tf.add(x0, this.pos_conv.forward(x0)) as tf.Tensor4D) : x0;
      const z = tf.reshape(x1, [B, H * W, C]) as tf.Tensor3D; // NHWC → tokens is a free reshape
      const n1 = this.norm1.forward(z) as tf.Tensor3D;
      const attnOut = this.mha_op.forward(n1);
      const x2 = tf.reshape(tf.add(z, this.drop_path.forward(this.ls1.forward(attnOut))), [B, H, W, C]) as tf.Tensor4D;
      const n2 = this.norm2.forward(x2);
      const mlpOut = this.mlp.forward(n2);
      const out = tf.add(x2, this.drop_path.forward(this.ls2.forward(mlpOut))) as tf.Tensor4D;
      if (!collect) return { out };
      return {
        out,
        intermediates: { norm1: n1, attnOut, norm2: n2, mlpOut, ...(this.pos_conv ? { xAfterCpe: x1 } : {}) },
      };
    });
  }
}

/**
 * `MHSA_Block` (glmix.md §4.3, STL stage 3), on tokens [B, L, C]: z2 = z + ls1(MHA(LN1(z)));
 * y = z2 + ls2(MLP(LN2(z2))) with MLP = Linear → GELU → Linear. No CPE, no dwconv.
 */
export class MHSA_Block extends Module implements Layer {
  readonly norm1: LayerNorm;
  readonly mha_op: MultiheadAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Sequential;
  readonly ls1: Module & Layer;
  readonly ls2: Module & Layer;
  readonly drop_path: DropPath;
  constructor(
    readonly dim: number,
    opts: Pick<BlockOptions, 'numHeads' | 'mlpRatio' | 'layerscale' | 'dropPath'>,
  ) {
    super();
    if (!(opts.mlpRatio > 0))
      throw new InvalidArgumentError(`MHSA_Block: mlp_ratio must be positive, got ${opts.mlpRatio}`);
    const hidden = Math.floor(opts.mlpRatio * dim);
    this.norm1 = this.child('norm1', new LayerNorm(dim, BLOCK_NORM_EPS));
    this.mha_op = this.child('mha_op', new MultiheadAttention(dim, opts.numHeads));
    this.norm2 = this.child('norm2', new LayerNorm(dim, BLOCK_NORM_EPS));
    this.mlp = this.child(
      'mlp',
      new Sequential([new FastLinear(dim, hidden), new GELU(), new FastLinear(hidden, dim)]),
    );
    this.ls1 = this.child('ls1', maybeLayerScale(dim, opts.layerscale, 'nlc'));
    this.ls2 = this.child('ls2', maybeLayerScale(dim, opts.layerscale, 'nlc'));
    this.drop_path = this.child('drop_path', new DropPath(opts.dropPath ?? 0));
  }

  forward(z: tf.Tensor3D): tf.Tensor3D {
    return this.run(z).out;
  }

  run(z: tf.Tensor3D, collect = false): { out: tf.Tensor3D; intermediates?: MHSABlockIntermediates } {
    if (z.rank !== 3)
      throw new ShapeError('MHSA_Block', 'z', 'rank 3 [B,L,C] (tokens)', `rank ${z.rank} [${z.shape.join(',')}]`);
    if (z.shape[2] !== this.dim)
      throw new ShapeError(
        'MHSA_Block',
        'z',
        `${this.dim} channels on the last axis`,
        `${z.shape[2]} in [${z.shape.join(',')}]`,
      );
    return tidyObj(() => {
      const n1 = this.norm1.forward(z) as tf.Tensor3D;
      const attnOut = this.mha_op.forward(n1);
      const z2 = tf.add(z, this.drop_path.forward(this.ls1.forward(attnOut)));
      const n2 = this.norm2.forward(z2);
      const mlpOut = this.mlp.forward(n2);
      const out = tf.add(z2, this.drop_path.forward(this.ls2.forward(mlpOut))) as tf.Tensor3D;
      if (!collect) return { out };
      return { out, intermediates: { norm1: n1, attnOut, norm2: n2, mlpOut } };
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Stage

/** `mixing_modes[i]`: which blocks a stage stacks (glmix.md §1, §3.2). */
export type MixingMode = 'glmix' | 'mha' | 'mha_nchw' | 'glmix.mha_nchw';
export const MIXING_MODES: readonly MixingMode[] = ['glmix', 'mha', 'mha_nchw', 'glmix.mha_nchw'];

/**
 * A GLNet block whose token mixer was swapped for another mechanism (`attention` overrides):
 * x1 = x0 + CPE(x0); x2 = x1 + ls1(attn(norm1(x1))); y = x2 + ls2(MLP(norm2(x2))) — GLMixBlock's
 * layout and key names, with the whole mixer under `attn` (the mechanism's own key names below it).
 */
export class SwappedMixerBlock extends Module implements Layer {
  readonly pos_conv: Conv2d | null;
  readonly norm1: LayerNorm2d;
  readonly attn: Module & Attention2d;
  readonly norm2: LayerNorm2d;
  readonly mlp: Sequential;
  readonly ls1: Module & Layer;
  readonly ls2: Module & Layer;
  readonly drop_path: DropPath;
  constructor(
    readonly dim: number,
    attn: Attention2d,
    opts: BlockOptions,
  ) {
    super();
    checkBlockOptions('SwappedMixerBlock', opts);
    this.pos_conv = opts.cpeKs > 0 ? this.child('pos_conv', posConv(dim, opts.cpeKs)) : null;
    this.norm1 = this.child('norm1', new LayerNorm2d(dim, BLOCK_NORM_EPS));
    this.attn = this.child('attn', attn as Module & Attention2d);
    this.norm2 = this.child('norm2', new LayerNorm2d(dim, BLOCK_NORM_EPS));
    this.mlp = this.child('mlp', convMlp(dim, opts.mlpRatio, opts.mlpDw));
    this.ls1 = this.child('ls1', maybeLayerScale(dim, opts.layerscale, 'nchw'));
    this.ls2 = this.child('ls2', maybeLayerScale(dim, opts.layerscale, 'nchw'));
    this.drop_path = this.child('drop_path', new DropPath(opts.dropPath ?? 0));
  }
  forward(x0: tf.Tensor4D): tf.Tensor4D {
    assertMap('SwappedMixerBlock', x0, this.dim);
    return tf.tidy(() => {
      const x1 = this.pos_conv ? (tf.add(x0, this.pos_conv.forward(x0)) as tf.Tensor4D) : x0;
      const dp = this.drop_path;
      const x2 = tf.add(x1, dp.forward(this.ls1.forward(this.attn.forward(this.norm1.forward(x1) as tf.Tensor4D))));
      return tf.add(x2, dp.forward(this.ls2.forward(this.mlp.forward(this.norm2.forward(x2))))) as tf.Tensor4D;
    });
  }
}

export type GLNetBlock = GLMixBlock | MHSA_NCHW_Block | MHSA_Block | SwappedMixerBlock;

/**
 * `BasicLayer`: `blocks.j` of one kind per mode — glmix: all GLMixBlock; mha_nchw: all
 * MHSA_NCHW_Block; glmix.mha_nchw: GLMixBlock at even j, MHSA_NCHW_Block at odd j; mha: MHSA_Block,
 * the whole stage on tokens [B, L, C]. NHWC in, same shape out. In training, each block's `drop_path`
 * (rate `dropPath[j]`) acts on both residual branches, after the layer scale; the CPE residual has none.
 */
export class BasicLayer extends Module implements Layer {
  readonly blocks: ModuleList<GLNetBlock>;
  constructor(
    readonly dim: number,
    readonly depth: number,
    readonly mixingMode: MixingMode,
    opts: GLMixBlockOptions,
    /** builds block j's token mixer instead of the mode's (a swapped mechanism): every block a SwappedMixerBlock */
    readonly swap?: (block: number) => Attention2d,
    /** block j's drop-path rate (training only); all 0 when absent */
    dropPath?: readonly number[],
  ) {
    super();
    const make = (j: number): GLNetBlock => {
      const o = { ...opts, dropPath: dropPath?.[j] ?? 0 };
      if (swap) return new SwappedMixerBlock(dim, swap(j), o);
      switch (mixingMode) {
        case 'glmix':
          return new GLMixBlock(dim, o);
        case 'mha_nchw':
          return new MHSA_NCHW_Block(dim, o);
        case 'glmix.mha_nchw':
          return j % 2 === 0 ? new GLMixBlock(dim, o) : new MHSA_NCHW_Block(dim, o);
        case 'mha':
          return new MHSA_Block(dim, o);
        default:
          throw new InvalidArgumentError(
            `BasicLayer: unknown mixing mode ${JSON.stringify(mixingMode)}; expected one of ${MIXING_MODES.join(', ')}`,
          );
      }
    };
    this.blocks = this.child('blocks', new ModuleList(Array.from({ length: depth }, (_, j) => make(j))));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    assertMap('BasicLayer', x, this.dim);
    return tf.tidy(() => {
      if (this.mixingMode === 'mha' && !this.swap) {
        const [B, H, W, C] = x.shape;
        // NCHW → [B, L, C] in the reference is a free reshape of NHWC; and back
        const z = this.blocks.items.reduce(
          (h, b) => (b as MHSA_Block).forward(h),
          tf.reshape(x, [B, H * W, C]) as tf.Tensor3D,
        );
        return tf.reshape(z, [B, H, W, C]) as tf.Tensor4D;
      }
      return this.blocks.items.reduce((h, b) => (b as GLMixBlock | MHSA_NCHW_Block | SwappedMixerBlock).forward(h), x);
    });
  }
}
