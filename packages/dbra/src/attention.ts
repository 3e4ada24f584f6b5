/**
 * The two attentions of DeBiFormer, each a drop-in `Attention2d` (NHWC in, same shape out):
 * BiFormer's bi-level routing attention (BRA, Zhu et al., CVPR 2023, rayleizhu/BiFormer
 * `ops/bra_legacy.py`, dbra.md §4.1) and DeBiFormer's deformable agent bi-level routing attention
 * (DBRA, maclong01/DeBiFormer@1ceb090 `classification/debiformer.py`, dbra.md §4.2–4.5). MIT-licensed code.
 *
 * Reading order: settings → shared helpers (padding, region routing, routed attention) → BRA → DBRA.
 * Parameter names are the official state_dict keys, registered in the official order. Shape comments:
 * N batch, H×W the map entering a module, Hp×Wp that map padded to multiples of S = n_win, C channels,
 * m heads, d = C/m, g offset groups, Cg = C/g, hg = m/g, P = S² regions, T tokens per region, Hk×Wk the
 * agent grid, Hg×Wg the agent grid padded, Ns = Hg·Wg.
 *
 * Only the auto-pad code path exists (dbra.md §1): the official `auto_pad=False` path of DBRA reads
 * unbound locals and cannot run; padding by 0 is a no-op, so inputs divisible by n_win are unaffected.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  addMacs,
  assertMap,
  type Attention2d,
  Conv2d,
  gatherBatched,
  GELU,
  gridSample,
  InputSizeError,
  InvalidArgumentError,
  type Layer,
  LayerNorm,
  LayerNormProxy,
  Linear,
  Module,
  type Parameter,
  regionPartition,
  regionReverse,
  routedAttentionFused,
  separableGridSample,
  Sequential,
  stopGradient,
  tidyObj,
  topKIndices,
  TransformerMLPWithConv,
  useFusedRoutedAttention,
} from '@dynavit/core';

// ---------------------------------------------------------------------------------------------------
// Settings

export type AttentionKind = 'BRA' | 'DBRA';

/** One attention module of a block: its kind and how many regions each query region routes to. */
export interface AttentionSpec {
  kind: AttentionKind;
  topk: number;
}

/**
 * The deformable settings of one stage (dbra.md §2.2). The official code looks them up by channel
 * width (`if self.dim == 64: …` per `param_size`); here they are explicit.
 */
export interface DeformSettings {
  /** offset groups g (heads gi·hg … gi·hg+hg−1 belong to group gi) */
  groups: number;
  /** depthwise kernel kk of the offset network */
  offsetKernel: number;
  /** agent stride s: the agent grid is ⌈Hp/s⌉ × ⌈Wp/s⌉ */
  offsetStride: number;
  /** hidden width of the agent MLP = C · agentMlpRatio */
  agentMlpRatio: number;
  /** RPE table size q: `rpe_table` is [m, 2q−1, 2q−1], fixed per stage (independent of the input) */
  rpeSize: number;
}

// ---------------------------------------------------------------------------------------------------
// Shared helpers

/** Smallest multiple of `s` that is ≥ a. */
const ceilTo = (a: number, s: number): number => Math.ceil(a / s) * s;

/** Zero-pad [N,h,w,c] at the bottom/right to [N,hp,wp,c] (no-op when already that size). */
function padBottomRight<T extends tf.Tensor4D>(x: T, hp: number, wp: number): T {
  const [, h, w] = x.shape;
  if (hp === h && wp === w) return x;
  return tf.pad(x, [
    [0, 0],
    [0, hp - h],
    [0, wp - w],
    [0, 0],
  ]) as T;
}

/** Crop [N,hp,wp,c] to its top-left [N,h,w,c]. */
function cropTo(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, hp, wp, c] = x.shape;
  return hp === h && wp === w ? x : tf.slice(x, [0, 0, 0, 0], [n, h, w, c]);
}

/** [N, L, C] → heads [N, m, L, d] (channel c belongs to head c // d). */
function splitHeads(t: tf.Tensor, m: number): tf.Tensor4D {
  const [n, l, c] = t.shape as [number, number, number];
  return tf.transpose(tf.reshape(t, [n, l, m, c / m]), [0, 2, 1, 3]);
}

/** [N, L, C] → transposed heads [N, m, d, L], for q·kᵀ as a plain matMul (faster than transposeB on wasm). */
function splitHeadsT(t: tf.Tensor, m: number): tf.Tensor4D {
  const [n, l, c] = t.shape as [number, number, number];
  return tf.transpose(tf.reshape(t, [n, l, m, c / m]), [0, 2, 3, 1]);
}

/** Heads [N, m, L, d] → [N, L, m·d] (channel = head·d + c_in_head). */
function mergeHeads(t: tf.Tensor4D): tf.Tensor3D {
  const [n, m, l, d] = t.shape;
  return tf.reshape(tf.transpose(t, [0, 2, 1, 3]), [n, l, m * d]);
}

/**
 * `TopkRouting` (dbra.md §4): region-level queries qr [N,P,C] and keys kr [N,P,C] →
 * int32 [N,P,k], the k regions with the largest (qr·scale)·krᵀ, by descending logit.
 * The softmax of the chosen logits (`r_weight`) is not used by the official models
 * (mul_weight='none'). Detached as in the reference (indices carry no gradient).
 */
function routeRegions(qr: tf.Tensor3D, kr: tf.Tensor3D, scale: number, topk: number): tf.Tensor3D {
  return tf.tidy(() => {
    const logits = tf.matMul(tf.mul(qr, scale), kr, false, true); // [N,P,P]
    addMacs(qr.shape[0] * qr.shape[1] * kr.shape[1] * qr.shape[2]); // the region-level q·kᵀ (`TopkRouting`'s matmul)
    return topKIndices(stopGradient(logits), topk) as tf.Tensor3D;
  });
}

/**
 * Routed token attention (BRA step 7, DBRA step 15): the queries of region p attend to the tokens
 * of the regions `idx[p, ·]`, per head, softmax over those k·T keys. q is multiplied by `scale` first.
 * q [N,P,tq,C] (already region-partitioned), k/v [N,P,T,C] per region, idx int32 [N,P,k] (distinct
 * regions per row), m heads → [N,P,tq,C].
 *
 * For inference on cpu and webgpu ('auto' with no gradient being recorded; 'fused' asks for it on wasm
 * too) it is one fused kernel, core's `routedAttentionFused`: the routed regions' keys and values read
 * where they are. Otherwise (training, wasm, other backends), two composite evaluations of the same
 * function, chosen by cost
 * (see {@link preferMaskedAttention}); they are the reference the fused kernel is tested against:
 * - gathered (`KVGather`, as the reference): copy the k·T selected keys/values of every region;
 * - masked: every query region scores all P·T tokens and the non-selected regions get −1e30 before the
 *   softmax, so their weights are exactly 0. Cheaper when queries per region are few (DBRA agents)
 *   or k is a large share of P (stage 2/3), because tfjs gathers are slow per element.
 * Both sum the same non-zero terms; only the float summation order differs (softmax is permutation
 * invariant, dbra.md §4 "KV gather").
 */
export function routedAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  idx: tf.Tensor3D,
  m: number,
  scale: number,
  strategy: 'auto' | 'fused' | 'gather' | 'mask' = 'auto',
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, p, tq, c] = q.shape;
    const t = k.shape[2];
    const topk = idx.shape[2];
    // q·kᵀ and attn·v over the k·T routed keys, as the reference computes them; the masked evaluation
    // multiplies more (by zero weights), which is an implementation detail and not counted
    addMacs(2 * n * p * tq * topk * t * c);
    if (strategy === 'fused' || (strategy === 'auto' && useFusedRoutedAttention()))
      return routedAttentionFused(q, k, v, idx, m, scale);
    const qs = tf.mul(q, scale);
    if (strategy === 'mask' || (strategy === 'auto' && preferMaskedAttention(n, p, tq, t, c, m, topk))) {
      // [N,P,P] 1 where region j is among idx[p,·] → additive mask over tokens [N,1,P·tq,P·T].
      // Broadcast at rank 4 ([N·P,1,P,1] → [N·P,tq,P,T], the same memory order as [N,P·tq,P·T]):
      // tfjs-webgpu's Tile has no GPU program for rank ≥ 5 (it reads back synchronously).
      // chosen[b,i,j] = Σ_k [idx[b,i,k] = j], reduced over the LAST axis: a reduction over an inner axis
      // transposes first, and tfjs-webgpu's Transpose cannot read int32/bool data (its casts to float32
      // only relabel the buffer), so a summed int32 one-hot breaks there.
      // On cpu/wasm the same count comes from a one-hot summed over k (wasm's broadcast Equal took
      // 35 ms at P = k = 49, OneHot 0.4 ms; wasm's OneHot writes float32 output wrongly, so it is cast).
      const chosen = CHEAP_ONE_HOT.has(tf.getBackend())
        ? tf.sum(tf.cast(tf.oneHot(idx, p), 'float32'), 2)
        : tf.sum(
            tf.cast(
              tf.equal(tf.reshape(idx, [n, p, 1, topk]), tf.reshape(tf.range(0, p, 1, 'int32'), [1, 1, p, 1])),
              'float32',
            ), // [N,P,P,k]
            3,
          );
      const regionMask = tf.reshape(tf.mul(tf.sub(chosen, 1), 1e30), [n * p, 1, p, 1]);
      const tokenMask = tf.reshape(tf.broadcastTo(regionMask, [n * p, tq, p, t]), [n, 1, p * tq, p * t]);
      const qh = splitHeads(tf.reshape(qs, [n, p * tq, c]), m); // [N,m,P·tq,d]
      const khT = splitHeadsT(tf.reshape(k, [n, p * t, c]), m); // [N,m,d,P·T]
      const vh = splitHeads(tf.reshape(v, [n, p * t, c]), m); // [N,m,P·T,d]
      const attn = tf.softmax(tf.add(tf.matMul(qh, khT), tokenMask)); // [N,m,P·tq,P·T]
      return tf.reshape(mergeHeads(tf.matMul(attn, vh) as tf.Tensor4D), [n, p, tq, c]) as tf.Tensor4D;
    }
    // KVGather: one gather for k and v together → [N,P,k,T,2C] → [N·P, k·T, 2C]
    const kvSel = tf.reshape(gatherBatched(tf.concat([k, v], 3), idx), [n * p, topk * t, 2 * c]);
    const [kSel, vSel] = tf.split(kvSel, 2, 2) as [tf.Tensor3D, tf.Tensor3D];
    // heads: [N·P, L, C] → [N·P, m, L, d]
    const qh = splitHeads(tf.reshape(qs, [n * p, tq, c]), m);
    const attn = tf.softmax(tf.matMul(qh, splitHeadsT(kSel, m))); // [N·P, m, tq, k·T]
    const o = mergeHeads(tf.matMul(attn, splitHeads(vSel, m)) as tf.Tensor4D); // [N·P, tq, C]
    return tf.reshape(o, [n, p, tq, c]) as tf.Tensor4D;
  });
}

/** Backends where the region mask is counted from `tf.oneHot` (int32 one-hot, reduced over an inner axis). */
const CHEAP_ONE_HOT = new Set(['cpu', 'wasm', 'tensorflow']);

/** Largest masked-attention logit tensor (elements) before falling back to the gather. */
const MASKED_MAX_ELEMENTS = 1 << 24;

/**
 * Cost model for {@link routedAttention}: the masked form computes N·m·P·tq·P·T logits of which a share
 * (P − k)/P is wasted (≈ d/2 + 5 elementary operations each: two matmuls, add, exp); the gathered form
 * copies N·P·k·T·2C values, which tfjs's GatherV2 does at roughly 40 elementary operations per
 * element on cpu and wasm. Measured on wasm (2-core VM): DeBiFormer-T at 224² took 2.7 s with every
 * routed attention gathered, 1.6 s with this choice (stage 0/1 BRA gather, everything else masks).
 */
function preferMaskedAttention(
  n: number,
  p: number,
  tq: number,
  t: number,
  c: number,
  m: number,
  topk: number,
): boolean {
  const logits = n * m * p * tq * p * t;
  if (logits > MASKED_MAX_ELEMENTS) return false;
  const wasted = logits * (1 - topk / p) * (c / m / 2 + 5);
  const gathered = n * p * topk * t * 2 * c * 40;
  return wasted <= gathered;
}

function checkHeads(op: string, dim: number, numHeads: number, nWin: number, topk: number): void {
  if (!Number.isInteger(numHeads) || numHeads < 1 || dim % numHeads)
    throw new InvalidArgumentError(`${op}: dim ${dim} must be divisible by the number of heads (${numHeads})`);
  if (!Number.isInteger(nWin) || nWin < 1)
    throw new InvalidArgumentError(`${op}: nWin must be a positive integer, got ${nWin}`);
  if (!Number.isInteger(topk) || topk < 1 || topk > nWin * nWin)
    throw new InvalidArgumentError(`${op}: topk must be an integer in [1, nWin² = ${nWin * nWin}], got ${topk}`);
}

// ---------------------------------------------------------------------------------------------------
// Bi-level routing attention (BiFormer), dbra.md §4.1

/** `QKVLinear`: one Linear C → 3C under `.qkv`, output split [q | k | v]. */
export class QKVLinear extends Module implements Layer {
  readonly qkv: Linear;
  constructor(dim: number) {
    super();
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.qkv.forward(x);
  }
}

export interface BRAOptions {
  numHeads: number;
  /** regions per side S */
  nWin: number;
  /** regions each query region attends to */
  topk: number;
  /** LePE depthwise kernel (official 5) */
  sideDwconv?: number;
}

/** Intermediates of one BRA, named like the golden `debug.*` tensors (NHWC here). */
export interface BRAIntermediates {
  /** [N, S², topk] int32 */
  routeIdx: tf.Tensor3D;
  /** LePE map of v, [N, Hp, Wp, C] */
  lepe: tf.Tensor4D;
  /** routed attention + LePE, before `wo`, [N, Hp, Wp, C] */
  preProj: tf.Tensor4D;
}

/**
 * `BiLevelRoutingAttention` (BiFormer, as DeBiFormer uses it): the map is split into S×S regions;
 * each region routes to its top-k regions by the affinity of region-mean queries and keys, and its
 * tokens attend to all tokens of those regions; plus a depthwise-conv LePE of v.
 * Scale = C^−0.5 (qk_dim = C, not the head width).
 */
export class BiLevelRoutingAttention extends Module implements Attention2d {
  readonly lepe: Conv2d;
  readonly qkv: QKVLinear;
  readonly wo: Linear;
  readonly numHeads: number;
  readonly nWin: number;
  readonly topk: number;
  readonly scale: number;
  constructor(
    readonly dim: number,
    options: BRAOptions,
  ) {
    super();
    checkHeads('BiLevelRoutingAttention', dim, options.numHeads, options.nWin, options.topk);
    this.numHeads = options.numHeads;
    this.nWin = options.nWin;
    this.topk = options.topk;
    this.scale = dim ** -0.5;
    const side = options.sideDwconv ?? 5;
    this.lepe = this.child('lepe', new Conv2d(dim, dim, side, { padding: Math.floor(side / 2), groups: dim }));
    this.qkv = this.child('qkv', new QKVLinear(dim));
    this.wo = this.child('wo', new Linear(dim, dim));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.run(x).out;
  }

  /** x [N,H,W,C] (the LayerNorm output) → [N,H,W,C]; with `collect`, also the intermediates. */
  run(x: tf.Tensor4D, collect = false): { out: tf.Tensor4D; intermediates?: BRAIntermediates } {
    assertMap('BiLevelRoutingAttention', x, this.dim);
    const [, H, W] = x.shape;
    const S = this.nWin;
    const Hp = ceilTo(H, S);
    const Wp = ceilTo(W, S);
    return tidyObj(() => {
      // 1–2. zero padding after the LayerNorm (padded tokens: bias-only q/k/v, never masked)
      const xp = padBottomRight(x, Hp, Wp);
      const [q, k, v] = tf.split(this.qkv.forward(xp), 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      // 3. regions: [N,Hp,Wp,C] → [N,S²,T,C]
      const qR = regionPartition(q, S);
      const kR = regionPartition(k, S);
      const vR = regionPartition(v, S);
      // 4–5. routing on region means
      const routeIdx = routeRegions(tf.mean(qR, 2), tf.mean(kR, 2), this.scale, this.topk);
      // 6–7. gather + token attention, back to the map
      const o = regionReverse(routedAttention(qR, kR, vR, routeIdx, this.numHeads, this.scale), S, Hp, Wp);
      // 8. LePE on the padded v map
      const lepe = this.lepe.forward(v);
      const preProj = tf.add(o, lepe) as tf.Tensor4D;
      // 9. wo (per pixel), crop
      const out = cropTo(this.wo.forward(preProj) as tf.Tensor4D, H, W);
      return collect ? { out, intermediates: { routeIdx, lepe, preProj } } : { out };
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Deformable bi-level routing attention, dbra.md §4.2–4.5

/** `qkv_conv`: one 1×1 conv C → 3C under `.qkv`, output split [q | k | v]. */
export class QKVConv extends Module implements Layer {
  readonly qkv: Conv2d;
  constructor(dim: number) {
    super();
    this.qkv = this.child('qkv', new Conv2d(dim, 3 * dim, 1));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.qkv.forward(x);
  }
}

export interface DBRAOptions extends DeformSettings {
  numHeads: number;
  /** regions per side S (of the token map and of the agent grid) */
  nWin: number;
  /** regions each agent region attends to */
  topk: number;
  /** LePE depthwise kernel (official 5) */
  sideDwconv?: number;
}

/** Intermediates of one DBRA, named like the golden `debug.*` tensors (NHWC here). */
export interface DBRAIntermediates {
  /** step 7, the single offset channel, [N·g, Hk, Wk, 1] */
  offset: tf.Tensor4D;
  /** step 9, clamped positions in (x, y) order (`sample_grid_xy`), unpadded, [N·g, Hk, Wk, 2] */
  sampleGridXY: tf.Tensor4D;
  /** step 11, sampled agents padded to the agent grid, [N, Hg, Wg, C] */
  sampled: tf.Tensor4D;
  /** step 12, agent queries, [N, Hg, Wg, C] */
  agentQ: tf.Tensor4D;
  /** step 13, [N, S², topk] int32 */
  routeIdx: tf.Tensor3D;
  /** step 16, after `unifyheads1`, [N, Hg, Wg, C] */
  bilevelOut: tf.Tensor4D;
  /** step 19, the agents, [N, Hg, Wg, C] */
  agents: tf.Tensor4D;
  /** §4.4, [N·g, hg, Hp·Wp, Ns] */
  rpeBias: tf.Tensor4D;
  /** step 23, after `proj_out`, before the crop, [N, Hp, Wp, C] */
  preCrop: tf.Tensor4D;
}

/** Dense-attention working set per query chunk (elements of one [N, m, rows, Ns] tensor). */
const DENSE_CHUNK_ELEMENTS = 1 << 22;

/**
 * `DeBiLevelRoutingAttention` (DBRA, dbra.md §4.3): (a) agents are sampled bilinearly from the input
 * at reference points of a stride-s grid moved by one learned offset channel (added to y and x,
 * clamped to [−1, 1]); (b) the agents, as queries, attend with bi-level routing to the full-resolution
 * keys/values, then a residual, an MLP and a LayerNorm ("agent transformer layer"); (c) every
 * full-resolution query attends densely to all agents, with a relative position bias sampled from a
 * learned table. NHWC in, same shape out (`Attention2d`). Scale = C^−0.5 everywhere.
 */
export class DeBiLevelRoutingAttention extends Module implements Attention2d {
  readonly rpe_table: Parameter;
  readonly lepe1: Conv2d;
  readonly qkv_conv: QKVConv;
  readonly proj_q: Conv2d;
  readonly proj_k: Conv2d;
  readonly proj_v: Conv2d;
  readonly proj_out: Conv2d;
  readonly unifyheads1: Conv2d;
  readonly conv_offset_q: Sequential;
  readonly norm: LayerNorm;
  readonly norm2: LayerNorm;
  readonly mlp: TransformerMLPWithConv;
  readonly numHeads: number;
  readonly nWin: number;
  readonly topk: number;
  readonly groups: number;
  readonly stride: number;
  readonly scale: number;
  constructor(
    readonly dim: number,
    readonly options: DBRAOptions,
  ) {
    super();
    const op = 'DeBiLevelRoutingAttention';
    const { numHeads: m, groups: g, offsetKernel: kk, offsetStride: s, nWin, topk, agentMlpRatio, rpeSize } = options;
    checkHeads(op, dim, m, nWin, topk);
    if (!Number.isInteger(g) || g < 1 || dim % g || m % g)
      throw new InvalidArgumentError(
        `${op}: dim ${dim} and heads ${m} must both be divisible by the offset groups (${g})`,
      );
    if (!Number.isInteger(kk) || kk < 1 || kk % 2 === 0)
      throw new InvalidArgumentError(`${op}: offsetKernel must be a positive odd integer, got ${kk}`);
    if (!Number.isInteger(s) || s < 1)
      throw new InvalidArgumentError(`${op}: offsetStride must be a positive integer, got ${s}`);
    if (!Number.isInteger(rpeSize) || rpeSize < 1)
      throw new InvalidArgumentError(`${op}: rpeSize must be a positive integer, got ${rpeSize}`);
    const hidden = dim * agentMlpRatio;
    if (!Number.isInteger(hidden) || hidden < 1)
      throw new InvalidArgumentError(`${op}: agent MLP width dim·agentMlpRatio = ${hidden} is not a positive integer`);
    this.numHeads = m;
    this.nWin = nWin;
    this.topk = topk;
    this.groups = g;
    this.stride = s;
    this.scale = dim ** -0.5;
    const Cg = dim / g;
    const side = options.sideDwconv ?? 5;
    // registration order = the official state_dict order
    this.rpe_table = this.param('rpe_table', [m, 2 * rpeSize - 1, 2 * rpeSize - 1]);
    this.lepe1 = this.child(
      'lepe1',
      new Conv2d(dim, dim, side, { stride: s, padding: Math.floor(side / 2), groups: dim }),
    );
    this.qkv_conv = this.child('qkv_conv', new QKVConv(dim));
    this.proj_q = this.child('proj_q', new Conv2d(dim, dim, 1));
    this.proj_k = this.child('proj_k', new Conv2d(dim, dim, 1));
    this.proj_v = this.child('proj_v', new Conv2d(dim, dim, 1));
    this.proj_out = this.child('proj_out', new Conv2d(dim, dim, 1));
    this.unifyheads1 = this.child('unifyheads1', new Conv2d(dim, dim, 1));
    this.conv_offset_q = this.child(
      'conv_offset_q',
      new Sequential([
        new Conv2d(Cg, Cg, kk, { stride: s, padding: Math.floor(kk / 2), groups: Cg, bias: false }),
        new LayerNormProxy(Cg),
        new GELU(),
        new Conv2d(Cg, 1, 1, { bias: false }),
      ]),
    );
    this.norm = this.child('norm', new LayerNorm(dim, 1e-6));
    this.norm2 = this.child('norm2', new LayerNorm(dim, 1e-6));
    this.mlp = this.child('mlp', new TransformerMLPWithConv(dim, hidden));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.run(x).out;
  }

  /** x [N,H,W,C] (the LayerNorm output) → [N,H,W,C]; with `collect`, also the intermediates. */
  run(x: tf.Tensor4D, collect = false): { out: tf.Tensor4D; intermediates?: DBRAIntermediates } {
    const op = 'DeBiLevelRoutingAttention';
    assertMap(op, x, this.dim);
    const [N, H, W, C] = x.shape;
    const S = this.nWin;
    const { numHeads: m, groups: g } = this;
    const Cg = C / g;
    const Hp = ceilTo(H, S);
    const Wp = ceilTo(W, S);
    if (Hp < 2 || Wp < 2)
      throw new InputSizeError(
        `${op}: the padded map is ${Hp}×${Wp}; the dense position bias needs at least 2×2 (the reference divides by Hp−1 and Wp−1)`,
      );
    // row n·g + gi holds channels gi·Cg … (gi+1)·Cg−1 of sample n
    const toGroups = (t: tf.Tensor4D): tf.Tensor4D => {
      const [, h, w] = t.shape;
      return tf.reshape(tf.transpose(tf.reshape(t, [N, h, w, g, Cg]), [0, 3, 1, 2, 4]), [N * g, h, w, Cg]);
    };
    const fromGroups = (t: tf.Tensor4D): tf.Tensor4D => {
      const [, h, w] = t.shape;
      return tf.reshape(tf.transpose(tf.reshape(t, [N, g, h, w, Cg]), [0, 2, 3, 1, 4]), [N, h, w, C]);
    };
    return tidyObj(() => {
      // 1–2. pad, q/k/v over the padded map
      const xp = padBottomRight(x, Hp, Wp); // [N,Hp,Wp,C]
      const [q, k, v] = tf.split(this.qkv_conv.forward(xp), 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      // 3. strided LePE of v: [N,Hk,Wk,C]
      const lepe = this.lepe1.forward(v);
      // 4–7. offset network on q per group: [N·g,Hp,Wp,Cg] → [N·g,Hk,Wk,1]
      const offset = this.conv_offset_q.forward(toGroups(q)) as tf.Tensor4D;
      const [, Hk, Wk] = offset.shape;
      // 8–9. reference grid (pixel centres) + the one offset channel on both coordinates, clamped.
      // Kept in (x,y) order, grid_sample's (the reference holds (y,x) and flips; same values).
      const sampleGridXY = tf.clipByValue(tf.add(agentReferencePoints(Hk, Wk), offset), -1, 1) as tf.Tensor4D; // [N·g,Hk,Wk,2] (x,y)
      // 10. bilinear sampling of the padded input x (align_corners=True): [N·g,Hk,Wk,Cg] → [N,Hk,Wk,C]
      const sampled0 = fromGroups(gridSample(toGroups(xp), sampleGridXY, { alignCorners: true, paddingMode: 'zeros' }));
      // 11. pad the agent grid to multiples of S (padded agents: value 0, position (0,0))
      const Hg = ceilTo(Hk, S);
      const Wg = ceilTo(Wk, S);
      const sampled = padBottomRight(sampled0, Hg, Wg); // [N,Hg,Wg,C]
      const lepeP = padBottomRight(lepe, Hg, Wg);
      const posP = padBottomRight(sampleGridXY, Hg, Wg); // [N·g,Hg,Wg,2] (x,y)
      // 12. agent queries
      const agentQ = this.proj_q.forward(sampled); // [N,Hg,Wg,C]
      // 13–15. bi-level routing: agent regions (Hg/S × Wg/S agents) → token regions (Hp/S × Wp/S tokens)
      const aqR = regionPartition(agentQ, S); // [N,S²,ta,C]
      const kR = regionPartition(k, S); // [N,S²,T,C]
      const vR = regionPartition(v, S);
      const routeIdx = routeRegions(tf.mean(aqR, 2), tf.mean(kR, 2), this.scale, this.topk); // [N,S²,topk]
      const routed = regionReverse(routedAttention(aqR, kR, vR, routeIdx, m, this.scale), S, Hg, Wg); // [N,Hg,Wg,C]
      // 16. + LePE, unify heads
      const bilevelOut = this.unifyheads1.forward(tf.add(routed, lepeP));
      // 17–19. agent transformer layer: residual on the sampled (pre-proj_q) agents, MLP, LayerNorm
      let a: tf.Tensor4D = tf.add(sampled, bilevelOut);
      a = tf.add(a, this.mlp.forward(this.norm2.forward(a)));
      const agents = this.norm.forward(a) as tf.Tensor4D; // [N,Hg,Wg,C]
      // 20–23. every query of the padded map attends to all Ns agents, + sampled RPE
      const Ns = Hg * Wg;
      const k2T = splitHeadsT(tf.reshape(this.proj_k.forward(agents), [N, Ns, C]), m); // [N,m,d,Ns]
      const v2 = splitHeads(tf.reshape(this.proj_v.forward(agents), [N, Ns, C]), m);
      const qh = splitHeads(tf.reshape(q, [N, Hp * Wp, C]), m); // [N,m,HpWp,d]
      const dense = this.#denseAttention(qh, k2T, v2, posP, Hp, Wp, collect);
      const merged = tf.reshape(mergeHeads(dense.out), [N, Hp, Wp, C]);
      const preCrop = this.proj_out.forward(merged);
      // 24. crop
      const out = cropTo(preCrop, H, W);
      if (!collect) return { out };
      const intermediates: DBRAIntermediates = {
        offset,
        sampleGridXY,
        sampled,
        agentQ,
        routeIdx,
        bilevelOut,
        agents,
        rpeBias: dense.rpeBias!,
        preCrop,
      };
      return { out, intermediates };
    });
  }

  /**
   * Steps 21–23 (logits · scale + RPE bias, softmax over the agents, weighted sum), in chunks of
   * query rows so the [N, m, rows, Ns] working set stays bounded on large maps.
   * qh [N,m,HpWp,d], k2T [N,m,d,Ns], v2 [N,m,Ns,d], posP [N·g,Hg,Wg,2] (x,y) → [N,m,HpWp,d]
   * (+ the full bias if asked).
   */
  #denseAttention(
    qh: tf.Tensor4D,
    k2T: tf.Tensor4D,
    v2: tf.Tensor4D,
    posP: tf.Tensor4D,
    Hp: number,
    Wp: number,
    withBias: boolean,
  ): { out: tf.Tensor4D; rpeBias?: tf.Tensor4D } {
    const [N, m, L] = qh.shape;
    const Ns = k2T.shape[3];
    // chunks of whole map rows (the bias is sampled on a separable grid: map rows × map columns)
    const mapRows = Math.max(1, Math.floor(DENSE_CHUNK_ELEMENTS / (N * m * Ns * Wp)));
    const outs: tf.Tensor4D[] = [];
    const biases: tf.Tensor4D[] = [];
    for (let i0 = 0; i0 < Hp; i0 += mapRows) {
      const i1 = Math.min(Hp, i0 + mapRows);
      const [r0, r1] = [i0 * Wp, i1 * Wp];
      const part = tidyObj(() => {
        const q = r0 === 0 && r1 === L ? qh : tf.slice(qh, [0, 0, r0, 0], [N, m, r1 - r0, -1]);
        const bias = this.positionBias(posP, Hp, Wp, i0, i1, N); // [N·g,hg,rows,Ns]
        const logits = tf.add(tf.mul(tf.matMul(q, k2T), this.scale), tf.reshape(bias, [N, m, r1 - r0, Ns])); // [N,m,rows,Ns]
        const o = tf.matMul(tf.softmax(logits), v2) as tf.Tensor4D; // [N,m,rows,d]
        addMacs(2 * N * m * (r1 - r0) * Ns * qh.shape[3]); // dense q·kᵀ and attn·v (the reference's two einsums)
        return withBias ? { o, bias } : { o };
      });
      outs.push(part.o);
      if (part.bias) biases.push(part.bias);
    }
    return tidyObj(() => {
      const out = outs.length === 1 ? outs[0]! : (tf.concat(outs, 2) as tf.Tensor4D);
      if (!withBias) return { out };
      return { out, rpeBias: biases.length === 1 ? biases[0]! : (tf.concat(biases, 2) as tf.Tensor4D) };
    });
  }

  /**
   * Relative position bias (dbra.md §4.4): `rpe_table` [m, 2q−1, 2q−1] viewed per group, sampled
   * (bilinear, align_corners=True) at half the displacement from each query (align-corners grid of
   * the padded Hp×Wp map, rows i0 … i1−1) to each padded agent position. The query grid is separable,
   * so this is `separableGridSample` (fused on cpu/wasm, in training too; two matMuls elsewhere).
   * posP [N·g,Hg,Wg,2] (x,y) → [N·g, hg, (i1−i0)·Wp, Ns].
   */
  positionBias(posP: tf.Tensor4D, Hp: number, Wp: number, i0: number, i1: number, N: number): tf.Tensor4D {
    return tf.tidy(() => {
      const g = this.groups;
      const hg = this.numHeads / g;
      const table = this.rpe_table.value; // [m, Th, Tw]
      const [, Th, Tw] = table.shape as [number, number, number];
      // [m,Th,Tw] → [g,hg,Th,Tw] → [g,Th,Tw,hg]: row n·g + gi of the grids uses group gi's table
      const perGroup = tf.transpose(tf.reshape(table, [g, hg, Th, Tw]), [0, 2, 3, 1]) as tf.Tensor4D;
      const [, Hg, Wg] = posP.shape;
      const Ns = Hg * Wg;
      const [px, py] = tf.split(tf.reshape(posP, [N * g, 1, Ns, 2]), 2, 3) as [tf.Tensor4D, tf.Tensor4D];
      // disp = (q − pos)·0.5 per axis, in [−1, 1]: y from the query row, x from the query column
      const half = (q: Float32Array, p: tf.Tensor4D) =>
        tf.reshape(tf.mul(tf.sub(tf.tensor4d(q, [1, q.length, 1, 1]), p), 0.5), [N * g, q.length, Ns]) as tf.Tensor3D;
      const gridY = half(alignedAxis(Hp).subarray(i0, i1), py); // [N·g,rows,Ns]
      const gridX = half(alignedAxis(Wp), px); // [N·g,Wp,Ns]
      return separableGridSample(perGroup, gridY, gridX, { alignCorners: true }); // [N·g,hg,rows·Wp,Ns]
    });
  }
}

/**
 * Agent reference points (pixel-centre convention, dbra.md §4.3 step 8): x = ((b + 0.5)/Wk)·2 − 1,
 * y = ((a + 0.5)/Hk)·2 − 1, in float32 steps → [1, Hk, Wk, 2] in (x, y) order.
 */
export function agentReferencePoints(Hk: number, Wk: number): tf.Tensor4D {
  const data = new Float32Array(Hk * Wk * 2);
  const f = Math.fround;
  for (let i = 0; i < Hk; i++)
    for (let j = 0; j < Wk; j++) {
      data[(i * Wk + j) * 2] = f(f(f(j + 0.5) / Wk) * 2) - 1;
      data[(i * Wk + j) * 2 + 1] = f(f(f(i + 0.5) / Hk) * 2) - 1;
    }
  return tf.tensor4d(data, [1, Hk, Wk, 2]);
}

/** One axis of the align-corners query grid of the padded map, in float32 steps: (i/(n−1))·2 − 1 → [n]. */
function alignedAxis(n: number): Float32Array {
  const f = Math.fround;
  return Float32Array.from({ length: n }, (_, i) => f(f(i / (n - 1)) * 2) - 1);
}
