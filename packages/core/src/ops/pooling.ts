/**
 * Adaptive average pooling with torch's bin edges (tfjs has none): GLMix slot centres (glmix.md §4.1),
 * UperNet's PPM (heads.md §5).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank } from './assert.js';

const OP = 'adaptiveAvgPool2d';

/**
 * torch's adaptive pooling bins for an input length `n` pooled to `p` outputs: output i averages
 * [floor(i·n/p), ceil((i+1)·n/p)). Bins can overlap and differ in size, and when n < p they repeat
 * input positions (e.g. n=6, p=8: [0,1) [0,2) [1,3) [2,3) [3,4) [3,5) [4,6) [5,6)).
 * Returns [start, end) pairs (host integers, exact).
 */
export function adaptivePoolBins(n: number, p: number): Array<[number, number]> {
  const bins: Array<[number, number]> = [];
  for (let i = 0; i < p; i++) bins.push([Math.floor((i * n) / p), Math.ceil(((i + 1) * n) / p)]);
  return bins;
}

/** Host averaging matrix [p, n]: row i holds 1/|bin i| on bin i's columns, 0 elsewhere. */
function averagingMatrix(n: number, p: number): Float32Array {
  const m = new Float32Array(p * n);
  adaptivePoolBins(n, p).forEach(([s, e], i) => {
    for (let j = s; j < e; j++) m[i * n + j] = 1 / (e - s);
  });
  return m;
}

/**
 * torch `F.adaptive_avg_pool2d(x, outSize)` in NHWC.
 *
 * - `x` [B, H, W, C] (float32).
 * - `outSize` p or [oh, ow] (positive integers; may exceed H or W).
 * - returns [B, oh, ow, C]: out[b,i,j,c] = mean of x[b, rows of bin i, cols of bin j, c] with the bins
 *   of {@link adaptivePoolBins}.
 *
 * Implemented as two contractions with small host-built averaging matrices Ph [oh,H] and Pw [ow,W]
 * (batched `matMul`; no einsum, which the wasm backend lacks), so it runs on every backend and carries
 * gradients w.r.t. x. Each output is Σ (1/kh)(1/kw)·x rather than torch's Σx / (kh·kw): equal up to
 * float32 rounding (~1e-7 relative).
 */
export function adaptiveAvgPool2d(x: tf.Tensor4D, outSize: number | readonly [number, number]): tf.Tensor4D {
  assertRank(OP, 'x', x, 4);
  const [oh, ow] = typeof outSize === 'number' ? [outSize, outSize] : outSize;
  for (const v of [oh, ow])
    if (!Number.isInteger(v) || v < 1)
      throw new InvalidArgumentError(`${OP}: outSize must be positive integers, got ${String(outSize)}`);
  const [b, h, w, c] = x.shape;
  if (h < 1 || w < 1) throw new InvalidArgumentError(`${OP}: x must have a non-empty map, got H=${h}, W=${w}`);

  return tf.tidy(() => {
    const ph = tf.tensor3d(averagingMatrix(h, oh), [1, oh, h]);
    const pw = tf.tensor3d(averagingMatrix(w, ow), [1, ow, w]);
    // The map is always the LEFT operand: tfjs-backend-wasm caches its packed right-hand operand by data
    // id, so a caller's tensor used here as [H, W·C] and later (reshaped, same data) as another matMul's
    // right operand would meet a stale [H, W·C] packing — an out-of-bounds crash (GLMix pools its input,
    // then multiplies by it). Rows: ([B, H, W·C]ᵀ × [1, oh, H]ᵀ)ᵀ = [B, oh, W·C].
    const rows = tf.transpose(tf.matMul(tf.reshape(x, [b, h, w * c]), ph, true, true), [0, 2, 1]);
    // Columns: ([B·oh, W, C]ᵀ × [1, ow, W]ᵀ)ᵀ = [B·oh, ow, C].
    const cols = tf.transpose(tf.matMul(tf.reshape(rows, [b * oh, w, c]), pw, true, true), [0, 2, 1]);
    return tf.reshape(cols, [b, oh, ow, c]);
  });
}
