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
 *
 * On cpu and wasm, inference takes one fused host kernel per resize instead (`DynavitResizeBilinear`,
 * `DynavitResizeNearest`): the same plans and the same float32 operations in the same order (columns,
 * then rows; each product and sum rounded to float32), so it equals the composite bit for bit. The
 * wasm backend's GatherV2 costs ~80 ns a value: UperNet at 512² spent 4.0 of its 19.8 s in the gathers
 * of its resizes (DAT-T++, 2 threads). The composite stays the reference, and the path under a gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank } from './assert.js';
import { checkKernelPath, useFusedKernels, writeFloat32 } from './kernel-scope.js';

const f32 = Math.fround;

export interface ResizeOptions {
  /**
   * 'fused' (cpu, wasm): one host kernel; 'composite': gathers and weights (differentiable). Default:
   * fused for inference on cpu and wasm, composite while a gradient is recorded or on other backends.
   */
  path?: 'fused' | 'composite';
}

export interface ResizeBilinearOptions extends ResizeOptions {
  /** torch align_corners (default false, the mmseg/mmdet setting). */
  alignCorners?: boolean;
}

export const RESIZE_BILINEAR_KERNEL = 'DynavitResizeBilinear';
export const RESIZE_NEAREST_KERNEL = 'DynavitResizeNearest';

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

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * One axis of x [B, H, W, C] (as values, `shape`) interpolated on the host: axis 1 (rows) or 2
 * (columns), out = f32(f32(w0·x[i0]) + f32(w1·x[i1])), the composite's mul, mul, add in float32.
 */
function interpAxisHost(
  x: Float32Array,
  shape: readonly [number, number, number, number],
  axis: 1 | 2,
  plan: LinearAxisPlan,
): Float32Array {
  const [b, h, w, c] = shape;
  const f = Math.fround;
  const n = plan.i0.length;
  const out = new Float32Array(axis === 1 ? b * n * w * c : b * h * n * c);
  // a run of `c` values (axis 2) or of `w·c` values (axis 1) per output position
  const run = axis === 1 ? w * c : c;
  const outer = axis === 1 ? b : b * h;
  const inLen = axis === 1 ? h : w;
  let o = 0;
  for (let r = 0; r < outer; r++) {
    const base = r * inLen * run;
    for (let d = 0; d < n; d++) {
      const a = base + plan.i0[d]! * run;
      const e = base + plan.i1[d]! * run;
      const w0 = plan.w0[d]!;
      const w1 = plan.w1[d]!;
      for (let k = 0; k < run; k++) out[o++] = f(f(w0 * x[a + k]!) + f(w1 * x[e + k]!));
    }
  }
  return out;
}

/** x [B, H, W, C]; attrs size [h, w], alignCorners → [B, h, w, C] (see the file comment). */
function resizeBilinearHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { x } = inputs as { x: tf.TensorInfo };
  const { size, alignCorners } = attrs as unknown as { size: [number, number]; alignCorners: boolean };
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const [oh, ow] = size;
  let v = be.readSync(x.dataId) as Float32Array;
  if (oh === h && ow === w) v = v.slice(); // a tensor of its own, not the input's values
  if (ow !== w) v = interpAxisHost(v, [b, h, w, c], 2, linearAxisPlan(w, ow, alignCorners));
  if (oh !== h) v = interpAxisHost(v, [b, h, ow, c], 1, linearAxisPlan(h, oh, alignCorners));
  return writeFloat32(be, v, [b, oh, ow, c]);
}

/** x [B, H, W, C]; attrs size [h, w] → [B, h, w, C], rows and columns picked by torch's legacy rule. */
function resizeNearestHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { x } = inputs as { x: tf.TensorInfo };
  const { size } = attrs as unknown as { size: [number, number] };
  const [b, h, w, c] = x.shape as [number, number, number, number];
  const [oh, ow] = size;
  const v = be.readSync(x.dataId) as Float32Array;
  const rows = nearestAxisIndices(h, oh);
  const cols = nearestAxisIndices(w, ow);
  const out = new Float32Array(b * oh * ow * c);
  let o = 0;
  for (let bi = 0; bi < b; bi++)
    for (let y = 0; y < oh; y++) {
      const rowBase = (bi * h + rows[y]!) * w;
      for (let xo = 0; xo < ow; xo++) {
        const s = (rowBase + cols[xo]!) * c;
        out.set(v.subarray(s, s + c), o);
        o += c;
      }
    }
  return writeFloat32(be, out, [b, oh, ow, c]);
}

const HOST = { [RESIZE_BILINEAR_KERNEL]: resizeBilinearHost, [RESIZE_NEAREST_KERNEL]: resizeNearestHost };
const FUSED_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = { cpu: HOST, wasm: HOST };

/** Whether this call takes the fused kernel (asked for, or the default for inference on cpu and wasm). */
function fusedPath(op: string, x: tf.Tensor, options: ResizeOptions): boolean {
  checkKernelPath(op, options.path);
  if (options.path === 'composite') return false;
  if (x.dtype !== 'float32') {
    if (options.path === 'fused')
      throw new InvalidArgumentError(`${op}: the fused kernel takes float32, got ${x.dtype}`);
    return false;
  }
  if (options.path === 'fused') {
    if (!useFusedKernels(FUSED_BY_BACKEND, true))
      throw new InvalidArgumentError(`${op}: the fused kernel runs on cpu and wasm, not ${tf.getBackend()}`);
    return true;
  }
  return useFusedKernels(FUSED_BY_BACKEND);
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
  if (fusedPath(op, x, options))
    return tf.engine().runKernel(RESIZE_BILINEAR_KERNEL, { x }, {
      size: [oh, ow],
      alignCorners: ac,
    } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
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
export function resizeNearest(
  x: tf.Tensor4D,
  size: readonly [number, number],
  options: ResizeOptions = {},
): tf.Tensor4D {
  const op = 'resizeNearest';
  checkSize(op, x, size);
  const [, h, w] = x.shape;
  const [oh, ow] = size;
  if (fusedPath(op, x, options))
    return tf
      .engine()
      .runKernel(RESIZE_NEAREST_KERNEL, { x }, { size: [oh, ow] } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
  return tf.tidy(() => {
    const rows = oh === h ? x : tf.gather(x, tf.tensor1d(nearestAxisIndices(h, oh), 'int32'), 1); // [B, oh, W, C]
    return ow === w ? tf.clone(rows) : tf.gather(rows, tf.tensor1d(nearestAxisIndices(w, ow), 'int32'), 2); // [B, oh, ow, C]
  });
}
