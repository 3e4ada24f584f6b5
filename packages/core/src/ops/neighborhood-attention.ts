/**
 * 2-D neighbourhood attention with NATTEN 0.14 semantics (DAT++ `N` blocks, dat.md §5, §8); tfjs has no
 * NA kernel, so both paths below are compositions of tfjs-core ops.
 *
 * Window rule per axis (length L ≥ k·d, r = ⌊k/2⌋): the axis splits into d interleaved sub-sequences
 * (equal index mod d); for a query at position t of its sub-sequence (length n),
 * start = clamp(t − r, 0, n − k) and the k keys are sub-sequence positions start … start+k−1. Windows
 * are shifted inward at the borders, never truncated: every query sees exactly k×k keys. The relative
 * position bias row is the true offset key − query (+ k − 1), which at the borders is not the window
 * slot. With d = 1 this is dat.md §5 step 5-6 exactly.
 *
 * Two implementations:
 * - **shift path** (`neighborhoodLogits`, `neighborhoodAggregate`, `neighborhoodAttention2d` with dilation 1):
 *   for window offset a along an axis, the key of query i is s(i)+a, which is a contiguous shift of
 *   the map in the interior and a constant row (a, resp. L−k+a) for the first and last r queries. So
 *   the k shifted copies of a map along an axis are concatenations of contiguous slices
 *   (`[row a ×r, rows a … a+L−2r−1, row L−k+a ×r]`); doing that along H for pieces of the map cut
 *   along W, then concatenating the pieces along W per window column, gives the k² shifted key/value
 *   maps, k at a time. Logits are q ⊙ K_shift summed over D, the output is Σ_slot p ⊙ V_shift. No
 *   gather of D-vectors anywhere: the wasm backend's `GatherV2` costs ~80–150 ns per element,
 *   contiguous slices/concats/transposes ~1 ns. The rpb bias is assembled from k×k
 *   windows of the tiny table with slices and concats. Every op used (slice, unstack, concat,
 *   transpose, reshape, mul, add, addN, sum, softmax) has a gradient that runs on cpu *and* wasm, so
 *   the shift path is differentiable on wasm too, for q, k, v and rpb (the gather path is not:
 *   tfjs-backend-wasm 4.22 lacks the `UnsortedSegmentSum` kernel the gather gradient needs).
 * - **gather path** (`*Reference`, and every call with dilation > 1): precomputed int32 index tables
 *   per axis and `tf.gather` of the windows — the direct transcription of the rule, kept as the
 *   composite reference the shift path is tested against.
 *
 * And one fused kernel, `DynavitNeighborhoodAttention2D` (cpu and wasm, any dilation): one pass over the
 * host values per query — q·k over its window plus the bias, softmax, the weighted sum of values — with
 * the same window tables: in WebAssembly SIMD when the head dimension is a multiple of 4
 * (`neighborhood-attention-simd.ts`, products in float32), else a scalar loop in float64. On WebGPU the same kernel is one WGSL shader, float32
 * (`neighborhood-attention-webgpu.ts`). `neighborhoodAttention2d` runs it when no gradient is being
 * recorded (inference) and no logits are asked for; training takes the differentiable shift path.
 * DAT-T++ at 224² on wasm: the 12 N blocks' attention went from ~1 s of composite ops to ~0.15 s. It
 * is tested against both composite paths (`neighborhood-attention.test.ts`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank, assertShape } from './assert.js';
import { checkKernelPath, computeFloat32, useFusedKernels } from './kernel-scope.js';
import { type NaHostLayout, neighborhoodAttentionSimd } from './neighborhood-attention-simd.js';
import { neighborhoodAttentionProgram } from './neighborhood-attention-webgpu.js';
import { runWebGPUProgram } from './webgpu-program.js';

export interface NeighborhoodOptions {
  /** Dilation d (default 1, the only value DAT uses). Needs H ≥ k·d and W ≥ k·d. */
  dilation?: number;
}

export interface NeighborhoodAttentionOptions extends NeighborhoodOptions {
  /** Also return the pre-softmax logits (q·k + rpb). Default false. */
  returnLogits?: boolean;
}

export interface NeighborhoodAttentionResult {
  /** [B, M, H, W, D]: softmax(logits) applied to the window values. */
  out: tf.Tensor5D;
  /** [B, M, H, W, k²] (only with `returnLogits`): q·k + rpb, slot a·k + c row-major over the window. */
  logits?: tf.Tensor5D;
}

export interface NeighborhoodWindowTables {
  /** [L·k]: key position of window slot a for query i, at i·k + a. */
  key: Int32Array;
  /** [L·k]: bias row (relative offset + k − 1) of window slot a for query i. */
  bias: Int32Array;
}

/** NATTEN window tables for one axis (host integers). See the module comment for the rule. */
export function neighborhoodAxisTables(length: number, kernelSize: number, dilation = 1): NeighborhoodWindowTables {
  const k = kernelSize;
  const d = dilation;
  const r = Math.floor(k / 2);
  const key = new Int32Array(length * k);
  const bias = new Int32Array(length * k);
  for (let i = 0; i < length; i++) {
    const g = i % d; // sub-sequence (residue class)
    const t = Math.floor(i / d); // position within it
    const n = Math.floor((length - 1 - g) / d) + 1; // its length
    const start = Math.min(Math.max(t - r, 0), n - k);
    for (let a = 0; a < k; a++) {
      key[i * k + a] = g + (start + a) * d;
      bias[i * k + a] = start + a - t + k - 1;
    }
  }
  return { key, bias };
}

interface Tables2d {
  /** [H·W·k²]: flat key index (row·W + col) for query (i, j), slot (a, c) at ((i·W + j)·k + a)·k + c. */
  key: Int32Array;
  /** [H·W·k²]: flat rpb index (biasRow·(2k−1) + biasCol), same layout. */
  bias: Int32Array;
}

const tableCache = new Map<string, Tables2d>();
const TABLE_CACHE_SIZE = 32;

function tables2d(h: number, w: number, k: number, d: number): Tables2d {
  const cacheKey = `${h},${w},${k},${d}`;
  const hit = tableCache.get(cacheKey);
  if (hit) return hit;
  const th = neighborhoodAxisTables(h, k, d);
  const tw = neighborhoodAxisTables(w, k, d);
  const kk = k * k;
  const span = 2 * k - 1;
  const key = new Int32Array(h * w * kk);
  const bias = new Int32Array(h * w * kk);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let a = 0; a < k; a++)
        for (let c = 0; c < k; c++) {
          const o = ((i * w + j) * k + a) * k + c;
          key[o] = th.key[i * k + a]! * w + tw.key[j * k + c]!;
          bias[o] = th.bias[i * k + a]! * span + tw.bias[j * k + c]!;
        }
  const tables = { key, bias };
  if (tableCache.size >= TABLE_CACHE_SIZE) {
    const oldest = tableCache.keys().next().value;
    if (oldest !== undefined) tableCache.delete(oldest);
  }
  tableCache.set(cacheKey, tables);
  return tables;
}

/** The fused kernels' names (registered for cpu, wasm and webgpu on first use). */
export const NEIGHBORHOOD_ATTENTION_KERNEL = 'DynavitNeighborhoodAttention2D';
export const NEIGHBORHOOD_ATTENTION_QKV_KERNEL = 'DynavitNeighborhoodAttention2DQKV';

/** Where (b, m, position) of q, k, v and the output sit in their host arrays (d is contiguous). */
type NaLayout = NaHostLayout;

/**
 * The fused loop: for each (b, m, query), logits = scale·(q·k) + rpb over the query's window, softmax,
 * the weighted sum of the window's values, accumulated in float64.
 */
function naLoop(
  L: NaLayout,
  shape: [number, number, number, number, number],
  rpb: Float32Array | null,
  kernelSize: number,
  dilation: number,
  scale: number,
  out: Float32Array,
): void {
  const [b, m, h, w, dim] = shape;
  const { key, bias } = tables2d(h, w, kernelSize, dilation);
  // four channels a step in WebAssembly SIMD where D allows (neighborhood-attention-simd.ts)
  if (neighborhoodAttentionSimd(L, shape, key, bias, rpb, kernelSize, scale, out)) return;
  const { q: qv, k: kv, v: vv } = L;
  const [sb, sm, sp] = L.inStrides;
  const [ob, om, op] = L.outStrides;
  const kk = kernelSize * kernelSize;
  const span2 = (2 * kernelSize - 1) ** 2;
  const hw = h * w;
  const p = new Float64Array(kk);
  const acc = new Float64Array(dim);
  // the query, once per query as float64; the products four lanes at a time (independent sums: the
  // additions need not wait on each other), which takes ~25 % off the loop in V8
  const qd = new Float64Array(dim);
  const d4 = dim & ~3;
  for (let bi = 0; bi < b; bi++)
    for (let mi = 0; mi < m; mi++) {
      const base = bi * sb + mi * sm;
      const rb = mi * span2;
      for (let i = 0; i < hw; i++) {
        const qo = L.qOff + base + i * sp;
        const t = i * kk;
        for (let d = 0; d < dim; d++) qd[d] = qv[qo + d]!;
        let max = Number.NEGATIVE_INFINITY;
        for (let s = 0; s < kk; s++) {
          const ko = L.kOff + base + key[t + s]! * sp;
          let a0 = 0;
          let a1 = 0;
          let a2 = 0;
          let a3 = 0;
          let d = 0;
          for (; d < d4; d += 4) {
            a0 += qd[d]! * kv[ko + d]!;
            a1 += qd[d + 1]! * kv[ko + d + 1]!;
            a2 += qd[d + 2]! * kv[ko + d + 2]!;
            a3 += qd[d + 3]! * kv[ko + d + 3]!;
          }
          for (; d < dim; d++) a0 += qd[d]! * kv[ko + d]!;
          const dot = (a0 + a1 + (a2 + a3)) * scale + (rpb ? rpb[rb + bias[t + s]!]! : 0);
          p[s] = dot;
          if (dot > max) max = dot;
        }
        let sum = 0;
        for (let s = 0; s < kk; s++) {
          const e = Math.exp(p[s]! - max);
          p[s] = e;
          sum += e;
        }
        acc.fill(0);
        for (let s = 0; s < kk; s++) {
          const ps = p[s]! / sum;
          const vo = L.vOff + base + key[t + s]! * sp;
          let d = 0;
          for (; d < d4; d += 4) {
            acc[d]! += ps * vv[vo + d]!;
            acc[d + 1]! += ps * vv[vo + d + 1]!;
            acc[d + 2]! += ps * vv[vo + d + 2]!;
            acc[d + 3]! += ps * vv[vo + d + 3]!;
          }
          for (; d < dim; d++) acc[d]! += ps * vv[vo + d]!;
        }
        const oo = bi * ob + mi * om + i * op;
        for (let d = 0; d < dim; d++) out[oo + d] = acc[d]!;
      }
    }
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** `q`, `k`, `v` [B, M, H, W, D], `rpb`? [M, 2k−1, 2k−1]; attrs kernelSize, dilation → [B, M, H, W, D]. */
function fusedNeighborhoodAttention({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { q, k, v, rpb } = inputs as Record<string, tf.TensorInfo | undefined>;
  const { kernelSize, dilation } = attrs as unknown as { kernelSize: number; dilation: number };
  const shape = q!.shape as [number, number, number, number, number];
  const [, m, h, w, dim] = shape;
  return computeFloat32(be, rpb ? [q!, k!, v!, rpb] : [q!, k!, v!], [...shape], (out, [qv, kv, vv, rv]) => {
    const layout: NaLayout = {
      q: qv as Float32Array,
      k: kv as Float32Array,
      v: vv as Float32Array,
      qOff: 0,
      kOff: 0,
      vOff: 0,
      inStrides: [m * h * w * dim, h * w * dim, dim],
      outStrides: [m * h * w * dim, h * w * dim, dim],
    };
    naLoop(layout, shape, (rv as Float32Array | undefined) ?? null, kernelSize, dilation, 1, out);
  });
}

/**
 * `qkv` [B, H, W, 3·M·D] (channels ordered 3, M, D: a fused projection), `rpb`?; attrs numHeads,
 * kernelSize, dilation, scale → [B, H, W, M·D]: no transposes in or out.
 */
function fusedNeighborhoodAttentionQKV({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { qkv, rpb } = inputs as Record<string, tf.TensorInfo | undefined>;
  const { numHeads: m, kernelSize, dilation, scale } = attrs as unknown as Record<string, number>;
  const [b, h, w, c3] = qkv!.shape as [number, number, number, number];
  const dim = c3 / 3 / m!;
  return computeFloat32(be, rpb ? [qkv!, rpb] : [qkv!], [b, h, w, m! * dim], (out, [values, rv]) => {
    const layout: NaLayout = {
      q: values as Float32Array,
      k: values as Float32Array,
      v: values as Float32Array,
      qOff: 0,
      kOff: m! * dim,
      vOff: 2 * m! * dim,
      inStrides: [h * w * c3, dim, c3],
      outStrides: [h * w * m! * dim, dim, m! * dim],
    };
    const r = (rv as Float32Array | undefined) ?? null;
    naLoop(layout, [b, m!, h, w, dim], r, kernelSize!, dilation!, scale!, out);
  });
}

const FUSED: Record<string, tf.KernelFunc> = {
  [NEIGHBORHOOD_ATTENTION_KERNEL]: fusedNeighborhoodAttention,
  [NEIGHBORHOOD_ATTENTION_QKV_KERNEL]: fusedNeighborhoodAttentionQKV,
};

/** The same two kernels on WebGPU: one WGSL shader (neighborhood-attention-webgpu.ts), same layouts. */
const FUSED_WEBGPU: Record<string, tf.KernelFunc> = {
  [NEIGHBORHOOD_ATTENTION_KERNEL]({ inputs, backend, attrs }) {
    const { q, k, v, rpb } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { kernelSize, dilation } = attrs as unknown as { kernelSize: number; dilation: number };
    const shape = q!.shape as [number, number, number, number, number];
    const [, m, h, w, dim] = shape;
    const strides: [number, number, number] = [m * h * w * dim, h * w * dim, dim];
    const layout = { fusedQKV: false, offsets: [0, 0, 0], inStrides: strides, outStrides: strides } as const;
    const program = neighborhoodAttentionProgram(shape, kernelSize, dilation, 1, !!rpb, layout, [...shape]);
    return runWebGPUProgram(backend, program, rpb ? [q!, k!, v!, rpb] : [q!, k!, v!]);
  },
  [NEIGHBORHOOD_ATTENTION_QKV_KERNEL]({ inputs, backend, attrs }) {
    const { qkv, rpb } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { numHeads: m, kernelSize, dilation, scale } = attrs as unknown as Record<string, number>;
    const [b, h, w, c3] = qkv!.shape as [number, number, number, number];
    const dim = c3 / 3 / m!;
    const layout = {
      fusedQKV: true,
      offsets: [0, m! * dim, 2 * m! * dim],
      inStrides: [h * w * c3, dim, c3],
      outStrides: [h * w * m! * dim, dim, m! * dim],
    } as const;
    const program = neighborhoodAttentionProgram([b, m!, h, w, dim], kernelSize!, dilation!, scale!, !!rpb, layout, [
      b,
      h,
      w,
      m! * dim,
    ]);
    return runWebGPUProgram(backend, program, rpb ? [qkv!, rpb] : [qkv!]);
  },
};

/** The fused kernels per backend: the host loops on cpu and wasm, the WGSL shader on webgpu. */
const FUSED_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: FUSED,
  wasm: FUSED,
  webgpu: FUSED_WEBGPU,
};

/** Whether the fused kernels can run here: a cpu, wasm or webgpu backend, no gradient being recorded. */
const useFusedKernel = (): boolean => useFusedKernels(FUSED_BY_BACKEND);

function requireFusedBackend(op: string): void {
  const backend = tf.getBackend();
  if (!useFusedKernels(FUSED_BY_BACKEND, true))
    throw new InvalidArgumentError(`${op}: the fused kernel runs on cpu, wasm and webgpu, not ${backend}`);
}

/**
 * The fused kernel directly (cpu, wasm and webgpu backends; not differentiable): what
 * {@link neighborhoodAttention2d} runs for inference there. Same arguments and result as its `out`.
 */
export function neighborhoodAttention2dFused(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  v: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const op = 'neighborhoodAttention2dFused';
  const { dilation } = check(op, q, k, rpb, kernelSize, options);
  assertShape(op, 'v', v, q.shape);
  requireFusedBackend(op);
  return runFused(q, k, v, rpb, kernelSize, dilation);
}

/** The heads-first fused kernel on checked arguments (registered by `useFusedKernel`). */
function runFused(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  v: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  dilation: number,
): tf.Tensor5D {
  const inputs: tf.NamedTensorMap = rpb ? { q, k, v, rpb } : { q, k, v };
  const attrs = { kernelSize, dilation } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(NEIGHBORHOOD_ATTENTION_KERNEL, inputs, attrs) as tf.Tensor5D;
}

export interface NeighborhoodQKVOptions extends NeighborhoodOptions {
  /** Force the composite path (reshape, transpose, scale, {@link neighborhoodAttention2d}, transpose) or the fused kernel; default: fused where {@link neighborhoodAttention2d} would run it. */
  path?: 'composite' | 'fused';
}

/**
 * Neighbourhood attention from a fused qkv projection, as DAT's N blocks compute it (dat.md §5):
 * `qkv` [B, H, W, 3·M·D] with channels ordered (3, M, D) (torch `reshape(B, H, W, 3, M, D)`), q scaled
 * by `scale`, `rpb` [M, 2k−1, 2k−1] or null → [B, H, W, M·D] (heads merged back, channels (M, D)).
 * The composite path transposes to heads-first, runs {@link neighborhoodAttention2d} and transposes
 * back; the fused kernel (cpu, wasm, webgpu; inference) reads and writes the channels-last layout directly.
 */
export function neighborhoodAttentionFromQKV(
  qkv: tf.Tensor4D,
  numHeads: number,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  scale: number,
  options: NeighborhoodQKVOptions = {},
): tf.Tensor4D {
  const op = 'neighborhoodAttentionFromQKV';
  assertRank(op, 'qkv', qkv, 4);
  const [b, h, w, c3] = qkv.shape;
  if (!Number.isInteger(numHeads) || numHeads < 1 || c3 % (3 * numHeads) !== 0)
    throw new InvalidArgumentError(`${op}: qkv's ${c3} channels are not 3 × ${numHeads} heads × a head width`);
  const dim = c3 / 3 / numHeads;
  const shape: [number, number, number, number, number] = [b, numHeads, h, w, dim];
  // the checks of the heads-first ops, on the heads-first shape
  const probe = { shape, rank: 5 } as unknown as tf.Tensor5D;
  const { dilation } = check(op, probe, probe, rpb, kernelSize, options);
  const path = checkKernelPath(op, options.path);
  const fused = path === 'fused' || (path !== 'composite' && useFusedKernel());
  if (fused) {
    if (path === 'fused') requireFusedBackend(op);
    const inputs: tf.NamedTensorMap = rpb ? { qkv, rpb } : { qkv };
    const attrs = { numHeads, kernelSize, dilation, scale } as unknown as tf.NamedAttrMap;
    return tf.engine().runKernel(NEIGHBORHOOD_ATTENTION_QKV_KERNEL, inputs, attrs) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    const heads = tf.transpose(tf.reshape(qkv, [b, h, w, 3, numHeads, dim]), [3, 0, 4, 1, 2, 5]);
    const [q, k, v] = tf.unstack(heads, 0) as [tf.Tensor5D, tf.Tensor5D, tf.Tensor5D];
    const { out } = compositeAttention(tf.mul(q, scale) as tf.Tensor5D, k, v, rpb, kernelSize, dilation, false);
    return tf.reshape(tf.transpose(out, [0, 2, 3, 1, 4]), [b, h, w, numHeads * dim]);
  });
}

/** Shared argument checks; returns [B, M, H, W, D] and the dilation. */
function check(
  op: string,
  q: tf.Tensor,
  k: tf.Tensor | null,
  rpb: tf.Tensor | null,
  kernelSize: number,
  options: NeighborhoodOptions,
  qName = 'q',
): { shape: [number, number, number, number, number]; dilation: number } {
  assertRank(op, qName, q, 5);
  if (k !== null) assertShape(op, 'k', k, q.shape);
  const [b, m, h, w, dim] = q.shape as [number, number, number, number, number];
  if (!Number.isInteger(kernelSize) || kernelSize < 1 || kernelSize % 2 !== 1)
    throw new InvalidArgumentError(`${op}: kernelSize must be an odd positive integer, got ${kernelSize}`);
  const dilation = options.dilation ?? 1;
  if (!Number.isInteger(dilation) || dilation < 1)
    throw new InvalidArgumentError(`${op}: dilation must be a positive integer, got ${dilation}`);
  const need = kernelSize * dilation;
  if (h < need || w < need)
    throw new InvalidArgumentError(
      `${op}: the map (H=${h}, W=${w}) is smaller than kernelSize·dilation = ${need}; NATTEN needs H, W ≥ ${need}. ` +
        `Zero-pad the input at the bottom/right to at least ${need}×${need} before the qkv projection (as DAT does, dat.md §5 step 2) and crop the output.`,
    );
  if (rpb !== null) {
    const span = 2 * kernelSize - 1;
    assertShape(op, 'rpb', rpb, [m, span, span]);
  }
  return { shape: [b, m, h, w, dim], dilation };
}

/** Keys or values gathered per window: [B, M, H, W, D] → [B·M·H·W, k², D]. */
function gatherWindows(x: tf.Tensor5D, keyIdx: tf.Tensor1D, kk: number): tf.Tensor3D {
  const [b, m, h, w, d] = x.shape;
  const flat = tf.reshape(x, [b, m, h * w, d]); // [B, M, H·W, D]
  const g = tf.gather(flat, keyIdx, 2); // [B, M, H·W·k², D]
  return tf.reshape(g, [b * m * h * w, kk, d]);
}

/** rpb [M, 2k−1, 2k−1] → bias per query and slot, [1, M, H, W, k²]. */
function gatherBias(rpb: tf.Tensor3D, biasIdx: tf.Tensor1D, h: number, w: number, kk: number): tf.Tensor5D {
  const [m, span] = rpb.shape;
  const g = tf.gather(tf.reshape(rpb, [m, span * span]), biasIdx, 1); // [M, H·W·k²]
  return tf.reshape(g, [1, m, h, w, kk]);
}

function logitsFrom(q: tf.Tensor5D, kWin: tf.Tensor3D, bias: tf.Tensor5D | null, kk: number): tf.Tensor5D {
  const [b, m, h, w, d] = q.shape;
  // [B·M·H·W, 1, D] × [B·M·H·W, k², D]ᵀ → [B·M·H·W, 1, k²]
  const dots = tf.matMul(tf.reshape(q, [b * m * h * w, 1, d]), kWin, false, true);
  const logits = tf.reshape(dots, [b, m, h, w, kk]) as tf.Tensor5D;
  return bias === null ? logits : tf.add(logits, bias);
}

// ---------------------------------------------------------------------------------------------------
// Gather path (reference; also every dilation > 1)

/**
 * Gather-path QK+RPB (the composite reference of {@link neighborhoodLogits}, any dilation): gathers
 * every window of `k` into [B·M·H·W, k², D] with `tf.gather`. Slow on wasm; not differentiable there.
 */
export function neighborhoodLogitsReference(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const { dilation } = check('neighborhoodLogitsReference', q, k, rpb, kernelSize, options);
  return gatherLogits(q, k, rpb, kernelSize, dilation);
}

/** The gather-path logits of checked arguments (shared by the reference and the dilated fast path). */
function gatherLogits(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  dilation: number,
): tf.Tensor5D {
  const [, , h, w] = q.shape;
  const t = tables2d(h, w, kernelSize, dilation);
  const kk = kernelSize * kernelSize;
  return tf.tidy(() => {
    const bias = rpb === null ? null : gatherBias(rpb, tf.tensor1d(t.bias, 'int32'), h, w, kk);
    return logitsFrom(q, gatherWindows(k, tf.tensor1d(t.key, 'int32'), kk), bias, kk);
  });
}

/** Gather-path AV (the composite reference of {@link neighborhoodAggregate}, any dilation). */
export function neighborhoodAggregateReference(
  attn: tf.Tensor5D,
  v: tf.Tensor5D,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const op = 'neighborhoodAggregateReference';
  const { shape, dilation } = check(op, v, null, null, kernelSize, options, 'v');
  const [b, m, h, w] = shape;
  assertShape(op, 'attn', attn, [b, m, h, w, kernelSize * kernelSize]);
  return gatherAggregate(attn, v, kernelSize, dilation);
}

/** The gather-path AV of checked arguments (shared by the reference and the dilated fast path). */
function gatherAggregate(attn: tf.Tensor5D, v: tf.Tensor5D, kernelSize: number, dilation: number): tf.Tensor5D {
  const [, , h, w] = v.shape;
  const t = tables2d(h, w, kernelSize, dilation);
  return tf.tidy(() => aggregateGathered(attn, v, tf.tensor1d(t.key, 'int32'), kernelSize * kernelSize));
}

function aggregateGathered(attn: tf.Tensor5D, v: tf.Tensor5D, keyIdx: tf.Tensor1D, kk: number): tf.Tensor5D {
  const [b, m, h, w, d] = v.shape;
  const vWin = gatherWindows(v, keyIdx, kk); // [B·M·H·W, k², D]
  // [B·M·H·W, 1, k²] × [B·M·H·W, k², D] → [B·M·H·W, 1, D]
  const out = tf.matMul(tf.reshape(attn, [b * m * h * w, 1, kk]), vWin);
  return tf.reshape(out, [b, m, h, w, d]);
}

/**
 * Gather-path neighbourhood attention: the composite reference of {@link neighborhoodAttention2d}
 * (same arguments, results equal to float32 rounding), and what it runs for dilation > 1.
 * Memory: the gathered keys and values are B·M·H·W·k²·D floats each.
 */
export function neighborhoodAttention2dReference(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  v: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  options: NeighborhoodAttentionOptions = {},
): NeighborhoodAttentionResult {
  const op = 'neighborhoodAttention2dReference';
  const { dilation } = check(op, q, k, rpb, kernelSize, options);
  assertShape(op, 'v', v, q.shape);
  return gatherAttention(q, k, v, rpb, kernelSize, dilation, options.returnLogits ?? false);
}

/** The gather-path attention of checked arguments (shared by the reference and the dilated fast path). */
function gatherAttention(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  v: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  dilation: number,
  returnLogits: boolean,
): NeighborhoodAttentionResult {
  const [, , h, w] = q.shape;
  const t = tables2d(h, w, kernelSize, dilation);
  const kk = kernelSize * kernelSize;
  return tf.tidy(() => {
    const keyIdx = tf.tensor1d(t.key, 'int32');
    const bias = rpb === null ? null : gatherBias(rpb, tf.tensor1d(t.bias, 'int32'), h, w, kk);
    const logits = logitsFrom(q, gatherWindows(k, keyIdx, kk), bias, kk); // [B, M, H, W, k²]
    const out = aggregateGathered(tf.softmax(logits), v, keyIdx, kk); // softmax over the k² slots
    return returnLogits ? { out, logits } : { out };
  });
}

// ---------------------------------------------------------------------------------------------------
// Shift path (dilation 1)
//
// Along one axis (length L ≥ k, r = ⌊k/2⌋, s(i) = clamp(i − r, 0, L − k)) the keys of window offset a
// are rows s(i)+a, i = 0 … L−1: `[row a ×r, rows a … L−k+a, row L−k+a ×r]`, a contiguous shift inside
// and a repeated row at each border. So the k shifted copies of an axis are one concat of *segments*
// of it: for L > 2k the first k and the last k rows singly plus the core rows k … L−k−1 as one piece
// (every offset's copy contains the whole core), otherwise every row singly. Segments are cut along the
// outermost axis only — contiguous: a view on the cpu backend, a memcpy on wasm, where strided slices
// are slow on both — and from small tensors (wasm's Slice copies its whole input each time).
//
// 2-D: the map is transposed W-outermost and cut into W segments; each W segment is transposed
// H-outermost and gets its k row shifts (small tensors, [k_a·H, w·N·D], N = B·M); the key map of
// window column c is the concat of its W segments' row stacks, [k_a, H, W, N, D] (1.4 M floats at
// DAT-T++ stage 0, 224²). Logits are computed one c at a time, slot-major [k_c, k_a, H, W, N]; the
// output sums the k weighted column maps with one addN.

interface AxisPlan {
  /** Segments [start, size] of the axis: rows 0 … k−1 singly, the core, rows L−k … L−1 singly (L > 2k); else every row. */
  segments: Array<[number, number]>;
  /** Per window offset a, the segment indices whose concat is the shifted axis (length L). */
  blocks: number[][];
}

const planCache = new Map<string, AxisPlan>();

function axisPlan(len: number, k: number): AxisPlan {
  const cacheKey = `${len},${k}`;
  const hit = planCache.get(cacheKey);
  if (hit) return hit;
  const r = (k - 1) / 2;
  const split = len > 2 * k;
  const segments: Array<[number, number]> = split
    ? [
        ...Array.from({ length: k }, (_, i): [number, number] => [i, 1]),
        [k, len - 2 * k],
        ...Array.from({ length: k }, (_, i): [number, number] => [len - k + i, 1]),
      ]
    : Array.from({ length: len }, (_, i): [number, number] => [i, 1]);
  const segOf = (row: number) => (!split || row < k ? row : row >= len - k ? row - len + 2 * k + 1 : k);
  const blocks = Array.from({ length: k }, (_, a) => {
    const rows = [
      ...new Array<number>(r).fill(a),
      ...Array.from({ length: len - k + 1 }, (_, t) => a + t),
      ...new Array<number>(r).fill(len - k + a),
    ];
    const out: number[] = [];
    for (const row of rows) {
      const sg = segOf(row);
      if (!(split && sg === k && out[out.length - 1] === k)) out.push(sg); // the core once
    }
    return out;
  });
  const plan = { segments, blocks };
  if (planCache.size >= TABLE_CACHE_SIZE) planCache.clear();
  planCache.set(cacheKey, plan);
  return plan;
}

/** x [L, R] cut into the plan's segments, each [size, R] (contiguous slices / unstacks of axis 0). */
function axisSegments(x: tf.Tensor2D, plan: AxisPlan): tf.Tensor2D[] {
  const [len, rest] = x.shape;
  const rows = (t: tf.Tensor2D, n: number) => tf.unstack(tf.reshape(t, [n, 1, rest])) as tf.Tensor2D[]; // n × [1, R]
  if (plan.segments.length === len) return rows(x, len); // every row single (also right for L = 2k+1, core of one row)
  const k = (plan.segments.length - 1) / 2;
  const head = rows(tf.slice(x, [0, 0], [k, rest]), k);
  const tail = rows(tf.slice(x, [len - k, 0], [k, rest]), k);
  return [...head, tf.slice(x, [k, 0], [len - 2 * k, rest]), ...tail];
}

/** The k shifted copies of axis 0, stacked: x [L, R] → [k·L, R], block a = rows s(i)+a, i = 0 … L−1. */
function shiftStack(x: tf.Tensor2D, plan: AxisPlan): tf.Tensor2D {
  const segs = axisSegments(x, plan);
  return tf.concat(
    plan.blocks.flat().map((i) => segs[i]!),
    0,
  );
}

/**
 * x [B, M, H, W, D] → the row-shifted W segments: `stacks[s]` is [k_a·H, w_s·N·D] (row-major
 * [k_a, H, w_s, N, D]); {@link columnMap} assembles window column c from them.
 */
function rowShiftedSegments(x: tf.Tensor5D, k: number): { stacks: tf.Tensor2D[]; planW: AxisPlan } {
  const [b, m, h, w, d] = x.shape;
  const nd = b * m * d;
  const planW = axisPlan(w, k);
  const planH = axisPlan(h, k);
  // [N, H, W, D] → [W, H, N, D]: W outermost
  const xw = tf.reshape<tf.Rank.R2>(tf.transpose(tf.reshape(x, [b * m, h, w, d]), [2, 1, 0, 3]), [w, h * nd]);
  const stacks = axisSegments(xw, planW).map((seg) => {
    const ws = seg.shape[0];
    // [w_s, H, N·D] → [H, w_s·N·D]: H outermost (a reshape for a single column)
    const hw =
      ws === 1
        ? tf.reshape<tf.Rank.R2>(seg, [h, nd])
        : tf.reshape<tf.Rank.R2>(tf.transpose(tf.reshape(seg, [ws, h, nd]), [1, 0, 2]), [h, ws * nd]);
    return shiftStack(hw, planH); // [k_a·H, w_s·N·D]
  });
  return { stacks, planW };
}

/** The keys (values) of window column c for every query and window row: [k_a·H, W·N·D] = [k_a, H, W, N, D]. */
function columnMap(segs: { stacks: tf.Tensor2D[]; planW: AxisPlan }, c: number): tf.Tensor2D {
  return tf.concat(
    segs.planW.blocks[c]!.map((i) => segs.stacks[i]!),
    1,
  );
}

/**
 * rpb [M, 2k−1, 2k−1] → the bias of every query and slot, [M, H, W, k²] (slot a·k + c):
 * rpb[m, σ(i)+a, σ(j)+c] with σ(i) = s(i) − i + k − 1 (k−1−i for i < r, r inside, L−1−i for i ≥ L−r),
 * so each query's bias is one of the (2r+1)² k×k windows of the table. Slices and concats only
 * (differentiable on every backend); ~k² tiny slices plus two concats.
 */
function biasMap(rpb: tf.Tensor3D, h: number, w: number, k: number): tf.Tensor4D {
  const m = rpb.shape[0];
  const r = (k - 1) / 2;
  const kk = k * k;
  const sigma = (i: number, len: number) => (i < r ? k - 1 - i : i >= len - r ? len - 1 - i : r);
  const windows = new Map<number, tf.Tensor3D>();
  const window = (sh: number, sw: number): tf.Tensor3D => {
    const key = sh * k + sw;
    let t = windows.get(key);
    if (!t) {
      t = tf.reshape(tf.slice(rpb, [0, sh, sw], [m, k, k]), [m, 1, kk]); // [M, 1, k²]
      windows.set(key, t);
    }
    return t;
  };
  const rows = new Map<number, tf.Tensor3D>();
  const rowOf = (sh: number): tf.Tensor3D => {
    let t = rows.get(sh);
    if (!t) {
      const cols = Array.from({ length: w }, (_, j) => window(sh, sigma(j, w)));
      t = tf.reshape(tf.concat(cols, 1), [m, 1, w * kk]); // [M, W, k²] as [M, 1, W·k²]
      rows.set(sh, t);
    }
    return t;
  };
  const all = tf.concat(
    Array.from({ length: h }, (_, i) => rowOf(sigma(i, h))),
    1,
  ); // [M, H, W·k²]
  return tf.reshape(all, [m, h, w, kk]);
}

/** Shift-path QK+RPB: q, k [B, M, H, W, D] → logits [B, M, H, W, k²]. Call inside tf.tidy. */
function shiftLogits(q: tf.Tensor5D, k: tf.Tensor5D, rpb: tf.Tensor3D | null, ks: number): tf.Tensor5D {
  const [b, m, h, w, d] = q.shape;
  const n = b * m;
  const segs = rowShiftedSegments(k, ks);
  // q [N, H·W, D] → [H·W, N, D]: the (h, w, n, d) order of a column map
  const qf = tf.reshape(tf.transpose(tf.reshape(q, [n, h * w, d]), [1, 0, 2]), [h * w * n * d]);
  const dots = Array.from({ length: ks }, (_, c) =>
    tf.tidy(() => {
      const keys = tf.reshape(columnMap(segs, c), [ks, h * w * n * d]); // [k_a, H·W·N·D]
      return tf.sum(tf.reshape(tf.mul(keys, qf), [ks * h * w * n, d]), -1); // Σ_D (q broadcast over k_a) → [k_a·H·W·N]
    }),
  );
  // [k_c, k_a, H·W, N] → [N, H·W, k_a, k_c] → slot a·k + c
  const logits = tf.reshape<tf.Rank.R5>(
    tf.transpose(tf.reshape(tf.concat(dots, 0), [ks, ks, h * w, n]), [3, 2, 1, 0]),
    [b, m, h, w, ks * ks],
  );
  return rpb === null ? logits : tf.add<tf.Tensor5D>(logits, biasMap(rpb, h, w, ks)); // bias [M, H, W, k²] broadcast over B
}

/** Shift-path AV: attn [B, M, H, W, k²], v [B, M, H, W, D] → [B, M, H, W, D]. Call inside tf.tidy. */
function shiftAggregate(attn: tf.Tensor5D, v: tf.Tensor5D, ks: number): tf.Tensor5D {
  const [b, m, h, w, d] = v.shape;
  const n = b * m;
  const rows = ks * h * w * n;
  const segs = rowShiftedSegments(v, ks);
  // attn [N, H·W, k_a, k_c] → [k_c, k_a, H·W, N], one [k_a·H·W·N] row per window column c
  const p = tf.unstack(tf.reshape(tf.transpose(tf.reshape(attn, [n, h * w, ks, ks]), [3, 2, 1, 0]), [ks, rows]));
  // Σ over k_c of the weighted column maps (one addN: a single pass, where running adds cost ~15 ns
  // per element each on the cpu backend) → [k_a·H·W·N, D]
  const weighted = p.map((pc, c) =>
    tf.tidy(() =>
      tf.mul<tf.Tensor2D>(spreadColumns(tf.reshape(pc, [rows, 1]), d), tf.reshape(columnMap(segs, c), [rows, d])),
    ),
  );
  const acc = tf.addN(weighted);
  // Σ over k_a; then [H·W, N, D] → [N, H·W, D]
  const out = tf.reshape(sumRows(tf.reshape(acc, [ks, h * w * n * d])), [h * w, n, d]);
  return tf.reshape(tf.transpose(out, [1, 0, 2]), [b, m, h, w, d]);
}

/**
 * Σ over axis 0 of x [k, X] → [X]. `tf.sum` over a leading axis transposes first, which the cpu
 * backend does at ~200 ns per element; there the rows (contiguous views) go to one addN instead.
 */
function sumRows(x: tf.Tensor2D): tf.Tensor1D {
  return tf.getBackend() === 'cpu' ? tf.addN(tf.unstack(x) as tf.Tensor1D[]) : tf.sum(x, 0);
}

/**
 * p [R, 1] for a product with a [R, D] tensor. Broadcasting a trailing size-1 axis is free on wasm,
 * webgl and webgpu but ~100 ns per element on the cpu backend, where D concatenated copies are far
 * cheaper (and a concat of 1-wide columns is what would be slow on wasm).
 */
function spreadColumns(p: tf.Tensor2D, d: number): tf.Tensor2D {
  return tf.getBackend() === 'cpu' && d > 1 ? tf.concat(new Array<tf.Tensor2D>(d).fill(p), 1) : p;
}

// ---------------------------------------------------------------------------------------------------
// Public ops

/**
 * The shift path (no gathers) for dilation 1 on the CPU backends (wasm: ~80 ns per gathered element,
 * the shift path is 8–15× faster there; cpu, tfjs-node). GPU backends keep the gather path: the shift
 * path issues ~300–500 small kernels per call, which costs more launches than it saves on a GPU.
 */
function useShiftPath(dilation: number): boolean {
  if (dilation !== 1) return false;
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu' || b === 'tensorflow';
}

/**
 * NATTEN's QK+RPB: logits[b,m,i,j, a·k+c] = q[b,m,i,j]·key[b,m,ki(a),kj(c)] + rpb[m, bi(a), bj(c)].
 *
 * - `q`, `k` [B, M, H, W, D] (heads already split; no scaling here — scale q before if needed).
 * - `rpb` [M, 2k−1, 2k−1] or null.
 * - returns [B, M, H, W, k²].
 * Throws InvalidArgumentError if H or W < k·dilation (pad first). Shift path for dilation 1, gather
 * path ({@link neighborhoodLogitsReference}) otherwise.
 */
export function neighborhoodLogits(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const { dilation } = check('neighborhoodLogits', q, k, rpb, kernelSize, options);
  if (!useShiftPath(dilation)) return gatherLogits(q, k, rpb, kernelSize, dilation);
  return tf.tidy(() => shiftLogits(q, k, rpb, kernelSize));
}

/**
 * NATTEN's AV: out[b,m,i,j] = Σ_slot attn[b,m,i,j,slot] · v[b,m,ki(a),kj(c)].
 *
 * - `attn` [B, M, H, W, k²] (e.g. softmax of {@link neighborhoodLogits}).
 * - `v` [B, M, H, W, D].
 * - returns [B, M, H, W, D]. Shift path for dilation 1, gather path otherwise.
 */
export function neighborhoodAggregate(
  attn: tf.Tensor5D,
  v: tf.Tensor5D,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const op = 'neighborhoodAggregate';
  const { shape, dilation } = check(op, v, null, null, kernelSize, options, 'v');
  const [b, m, h, w] = shape;
  assertShape(op, 'attn', attn, [b, m, h, w, kernelSize * kernelSize]);
  if (!useShiftPath(dilation)) return gatherAggregate(attn, v, kernelSize, dilation);
  return tf.tidy(() => shiftAggregate(attn, v, kernelSize));
}

/**
 * Neighbourhood attention (NATTEN 0.14 `natten2dqkrpb` → softmax → `natten2dav`).
 *
 * - `q`, `k`, `v` [B, M, H, W, D]: heads split, q already scaled by the caller (DAT scales q by hd^−½
 *   before the product; nothing is scaled here).
 * - `rpb` [M, 2k−1, 2k−1] or null; `kernelSize` odd k.
 * - returns `{ out [B, M, H, W, D], logits? [B, M, H, W, k²] }`.
 *
 * Requires H ≥ k·d and W ≥ k·d and throws InvalidArgumentError otherwise: NATTEN does not truncate
 * windows, the model must zero-pad the map (bottom/right) before its qkv projection and crop after.
 * For inference on cpu, wasm and webgpu (no gradient being recorded, no logits asked for) it runs the fused
 * kernel ({@link neighborhoodAttention2dFused}); otherwise dilation 1 runs the shift path
 * (differentiable on cpu and wasm), dilation > 1 the gather path ({@link neighborhoodAttention2dReference}). Memory (shift path): working tensors of k·B·M·H·W·D
 * floats (1.4 M for DAT-T++ stage 0 at 224²), peaking at k² of them while the k weighted value maps
 * are summed; the gather path holds two B·M·H·W·k²·D-float window tensors.
 */
export function neighborhoodAttention2d(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  v: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  options: NeighborhoodAttentionOptions = {},
): NeighborhoodAttentionResult {
  const op = 'neighborhoodAttention2d';
  const { dilation } = check(op, q, k, rpb, kernelSize, options);
  assertShape(op, 'v', v, q.shape);
  if (!options.returnLogits && useFusedKernel()) return { out: runFused(q, k, v, rpb, kernelSize, dilation) };
  return compositeAttention(q, k, v, rpb, kernelSize, dilation, options.returnLogits ?? false);
}

/** The composite paths on checked arguments: shift (dilation 1 on cpu/wasm) or gather. */
function compositeAttention(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  v: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  dilation: number,
  returnLogits: boolean,
): NeighborhoodAttentionResult {
  if (!useShiftPath(dilation)) return gatherAttention(q, k, v, rpb, kernelSize, dilation, returnLogits);
  return tf.tidy(() => {
    const logits = shiftLogits(q, k, rpb, kernelSize); // [B, M, H, W, k²]
    const out = shiftAggregate(tf.softmax(logits), v, kernelSize); // softmax over the k² slots
    return returnLogits ? { out, logits } : { out };
  });
}
