/**
 * Resizing with torch `F.interpolate(size=…)` semantics (heads.md §2): bilinear (both align_corners)
 * and legacy 'nearest'.
 *
 * Why not `tf.image.resizeBilinear` / `resizeNearestNeighbor`: the tfjs backends compute source
 * coordinates differently from torch's float32 arithmetic. Measured on tfjs 4.22 against a float32
 * emulation of torch (random data in [-1, 1)): resizeBilinear deviates by up to ~8e-6 (cpu, which
 * computes coordinates in float64) and ~9e-6 (wasm) at 42→63, growing with the map size; cpu
 * resizeNearestNeighbor picks a different source row than torch for 24 output rows over all size
 * pairs (in ≤ 40, out ≤ 80) (e.g. 6→74, row 37: torch 2, tfjs 3), because it computes dst·in/out in
 * float64 where torch multiplies by a float32 ratio (wasm matched torch there). So both ops here compute the
 * source indices and weights on the host in float32 exactly as torch does, and apply them with
 * `tf.gather` + weights: the same result on every backend, and differentiable w.r.t. x (through the
 * gathers: cpu/webgl/webgpu, not wasm).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank } from './assert.js';

const f32 = Math.fround;

export interface ResizeBilinearOptions {
  /** torch align_corners (default false, the mmseg/mmdet setting). */
  alignCorners?: boolean;
}

/** Per-axis linear interpolation plan: out[i] = w0[i]·in[i0[i]] + w1[i]·in[i1[i]]. */
export interface LinearAxisPlan {
  i0: Int32Array;
  i1: Int32Array;
  w0: Float32Array;
  w1: Float32Array;
}

/**
 * torch's source indices and weights for bilinear resizing of one axis (upsample_bilinear2d, float32):
 * align_corners=false: scale = in/out, src = max(scale·(dst + 0.5) − 0.5, 0);
 * align_corners=true: scale = (in−1)/(out−1) (0 if out = 1), src = scale·dst;
 * i0 = min(⌊src⌋, in−1), i1 = i0 + (i0 < in−1 ? 1 : 0), w1 = clamp(src − i0, 0, 1), w0 = 1 − w1.
 */
export function linearAxisPlan(inSize: number, outSize: number, alignCorners: boolean): LinearAxisPlan {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w0 = new Float32Array(outSize);
  const w1 = new Float32Array(outSize);
  const scale = alignCorners ? (outSize > 1 ? f32((inSize - 1) / (outSize - 1)) : 0) : f32(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    let src = alignCorners ? f32(scale * d) : f32(f32(scale * f32(d + 0.5)) - 0.5);
    if (src < 0) src = 0;
    const a = Math.min(Math.floor(src), inSize - 1);
    const l1 = Math.min(Math.max(f32(src - a), 0), 1);
    i0[d] = a;
    i1[d] = a + (a < inSize - 1 ? 1 : 0);
    w1[d] = l1;
    w0[d] = f32(1 - l1);
  }
  return { i0, i1, w0, w1 };
}

/**
 * torch's legacy 'nearest' source index for one axis: identity if out = in, dst >> 1 if out = 2·in,
 * else min(⌊dst · scale⌋, in − 1) with scale = in/out and the product both in float32.
 */
export function nearestAxisIndices(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  const scale = f32(inSize / outSize);
  for (let d = 0; d < outSize; d++) {
    if (outSize === inSize) idx[d] = d;
    else if (outSize === 2 * inSize) idx[d] = d >> 1;
    else idx[d] = Math.min(Math.floor(f32(d * scale)), inSize - 1);
  }
  return idx;
}

function checkSize(op: string, x: tf.Tensor, size: readonly [number, number]): void {
  assertRank(op, 'x', x, 4);
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1))
    throw new InvalidArgumentError(
      `${op}: size must be [height, width] with positive integers, got ${JSON.stringify(size)}`,
    );
  if (x.shape[1]! < 1 || x.shape[2]! < 1)
    throw new InvalidArgumentError(`${op}: x must have a non-empty map, got [${x.shape.join(',')}]`);
}

/** Linear interpolation of one spatial axis of x [B, H, W, C]; axis 1 (rows) or 2 (columns). */
function interpAxis(x: tf.Tensor4D, axis: 1 | 2, plan: LinearAxisPlan): tf.Tensor4D {
  const n = plan.i0.length;
  const wShape = axis === 1 ? [1, n, 1, 1] : [1, 1, n, 1];
  const a = tf.gather(x, tf.tensor1d(plan.i0, 'int32'), axis); // [B, n, W, C] or [B, H, n, C]
  const b = tf.gather(x, tf.tensor1d(plan.i1, 'int32'), axis);
  return tf.add(tf.mul(a, tf.tensor(plan.w0, wShape)), tf.mul(b, tf.tensor(plan.w1, wShape)));
}

/**
 * torch `F.interpolate(x, size, mode='bilinear', align_corners)` in NHWC.
 * `x` [B, H, W, C] → [B, h, w, C]. Columns are interpolated first, then rows, as torch nests them:
 * out = w0y·(w0x·a + w1x·b) + w1y·(w0x·c + w1x·d).
 */
export function resizeBilinear(
  x: tf.Tensor4D,
  size: readonly [number, number],
  options: ResizeBilinearOptions = {},
): tf.Tensor4D {
  const op = 'resizeBilinear';
  checkSize(op, x, size);
  const [, h, w] = x.shape;
  const [oh, ow] = size;
  const ac = options.alignCorners ?? false;
  return tf.tidy(() => {
    const cols = ow === w ? x : interpAxis(x, 2, linearAxisPlan(w, ow, ac)); // [B, H, ow, C]
    return oh === h ? tf.clone(cols) : interpAxis(cols, 1, linearAxisPlan(h, oh, ac)); // [B, oh, ow, C]
  });
}

/**
 * torch `F.interpolate(x, size, mode='nearest')` (the legacy floor rule, not 'nearest-exact') in NHWC.
 * `x` [B, H, W, C] → [B, h, w, C]; source row ⌊dst·(H/h)⌋ with the ratio in float32 (see
 * {@link nearestAxisIndices}), same for columns.
 */
export function resizeNearest(x: tf.Tensor4D, size: readonly [number, number]): tf.Tensor4D {
  const op = 'resizeNearest';
  checkSize(op, x, size);
  const [, h, w] = x.shape;
  const [oh, ow] = size;
  return tf.tidy(() => {
    const rows = oh === h ? x : tf.gather(x, tf.tensor1d(nearestAxisIndices(h, oh), 'int32'), 1); // [B, oh, W, C]
    return ow === w ? tf.clone(rows) : tf.gather(rows, tf.tensor1d(nearestAxisIndices(w, ow), 'int32'), 2); // [B, oh, ow, C]
  });
}
