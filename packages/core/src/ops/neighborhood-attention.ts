/**
 * 2-D neighbourhood attention with NATTEN 0.14 semantics (DAT++ `N` blocks, dat.md §5, §8), built from
 * precomputed int32 index tables and `tf.gather` (tfjs has no NA kernel).
 *
 * Window rule per axis (length L ≥ k·d, r = ⌊k/2⌋): the axis splits into d interleaved sub-sequences
 * (equal index mod d); for a query at position t of its sub-sequence (length n),
 * start = clamp(t − r, 0, n − k) and the k keys are sub-sequence positions start … start+k−1. Windows
 * are shifted inward at the borders, never truncated: every query sees exactly k×k keys. The relative
 * position bias row is the true offset key − query (+ k − 1), which at the borders is not the window
 * slot. With d = 1 this is dat.md §5 step 5-6 exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank, assertShape } from './assert.js';

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

/**
 * NATTEN's QK+RPB: logits[b,m,i,j, a·k+c] = q[b,m,i,j]·key[b,m,ki(a),kj(c)] + rpb[m, bi(a), bj(c)].
 *
 * - `q`, `k` [B, M, H, W, D] (heads already split; no scaling here — scale q before if needed).
 * - `rpb` [M, 2k−1, 2k−1] or null.
 * - returns [B, M, H, W, k²].
 * Throws InvalidArgumentError if H or W < k·dilation (pad first).
 */
export function neighborhoodLogits(
  q: tf.Tensor5D,
  k: tf.Tensor5D,
  rpb: tf.Tensor3D | null,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const { shape, dilation } = check('neighborhoodLogits', q, k, rpb, kernelSize, options);
  const [, , h, w] = shape;
  const t = tables2d(h, w, kernelSize, dilation);
  const kk = kernelSize * kernelSize;
  return tf.tidy(() => {
    const bias = rpb === null ? null : gatherBias(rpb, tf.tensor1d(t.bias, 'int32'), h, w, kk);
    return logitsFrom(q, gatherWindows(k, tf.tensor1d(t.key, 'int32'), kk), bias, kk);
  });
}

/**
 * NATTEN's AV: out[b,m,i,j] = Σ_slot attn[b,m,i,j,slot] · v[b,m,ki(a),kj(c)].
 *
 * - `attn` [B, M, H, W, k²] (e.g. softmax of {@link neighborhoodLogits}).
 * - `v` [B, M, H, W, D].
 * - returns [B, M, H, W, D].
 */
export function neighborhoodAggregate(
  attn: tf.Tensor5D,
  v: tf.Tensor5D,
  kernelSize: number,
  options: NeighborhoodOptions = {},
): tf.Tensor5D {
  const op = 'neighborhoodAggregate';
  const { shape, dilation } = check(op, v, null, null, kernelSize, options, 'v');
  const [b, m, h, w, d] = shape;
  const kk = kernelSize * kernelSize;
  assertShape(op, 'attn', attn, [b, m, h, w, kk]);
  const t = tables2d(h, w, kernelSize, dilation);
  return tf.tidy(() => {
    const vWin = gatherWindows(v, tf.tensor1d(t.key, 'int32'), kk); // [B·M·H·W, k², D]
    // [B·M·H·W, 1, k²] × [B·M·H·W, k², D] → [B·M·H·W, 1, D]
    const out = tf.matMul(tf.reshape(attn, [b * m * h * w, 1, kk]), vWin);
    return tf.reshape(out, [b, m, h, w, d]) as tf.Tensor5D;
  });
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
 * Memory: the gathered keys and values are B·M·H·W·k²·D floats each.
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
  const { shape, dilation } = check(op, q, k, rpb, kernelSize, options);
  assertShape(op, 'v', v, q.shape);
  const [b, m, h, w, d] = shape;
  const t = tables2d(h, w, kernelSize, dilation);
  const kk = kernelSize * kernelSize;
  return tf.tidy(() => {
    const keyIdx = tf.tensor1d(t.key, 'int32');
    const bias = rpb === null ? null : gatherBias(rpb, tf.tensor1d(t.bias, 'int32'), h, w, kk);
    const logits = logitsFrom(q, gatherWindows(k, keyIdx, kk), bias, kk); // [B, M, H, W, k²]
    const attn = tf.softmax(logits); // over the k² window slots (last axis)
    const vWin = gatherWindows(v, keyIdx, kk); // [B·M·H·W, k², D]
    const out = tf.reshape(tf.matMul(tf.reshape(attn, [b * m * h * w, 1, kk]), vWin), [b, m, h, w, d]) as tf.Tensor5D;
    return options.returnLogits ? { out, logits } : { out };
  });
}
