/**
 * Box arithmetic of mmdet 2.x, host side, in float32 as torch computes it (heads.md §6.4, §6.6, §11):
 * `DeltaXYWHBBoxCoder.decode` (no +1 anywhere, dw/dh clamped at ±|ln(16/1000)|, clipped to the
 * unpadded image), the RoI → pyramid level rule of `SingleRoIExtractor`, and the per-axis rescaling
 * between network-input and original-image coordinates.
 */

const f32 = Math.fround;

/** |ln(16/1000)| as a float32 (torch clamps a float tensor with a python float cast to float32). */
export const DELTA_WH_CLAMP = f32(Math.abs(Math.log(16 / 1000)));

/** [h, w] */
export type HW = readonly [number, number];

export interface DeltaCoder {
  means: readonly [number, number, number, number];
  stds: readonly [number, number, number, number];
}

/** RPN and RetinaNet coder (means 0, stds 1). */
export const UNIT_CODER: DeltaCoder = { means: [0, 0, 0, 0], stds: [1, 1, 1, 1] };
/** Faster/Mask R-CNN box-head coder. */
export const RCNN_CODER: DeltaCoder = { means: [0, 0, 0, 0], stds: [0.1, 0.1, 0.2, 0.2] };

/**
 * Decode one (prior, delta) pair into `out[o..o+3]`: prior rows from `priors[p..p+3]`, deltas
 * (dx, dy, dw, dh) from `deltas[d..d+3]`; clipped to `maxShape` ([h, w]) when given.
 */
export function decodeDelta(
  priors: ArrayLike<number>,
  p: number,
  deltas: ArrayLike<number>,
  d: number,
  coder: DeltaCoder,
  maxShape: HW | null,
  out: Float32Array,
  o: number,
): void {
  const { means, stds } = coder;
  const dx = f32(f32(deltas[d]! * f32(stds[0])) + f32(means[0]));
  const dy = f32(f32(deltas[d + 1]! * f32(stds[1])) + f32(means[1]));
  let dw = f32(f32(deltas[d + 2]! * f32(stds[2])) + f32(means[2]));
  let dh = f32(f32(deltas[d + 3]! * f32(stds[3])) + f32(means[3]));
  const x1 = priors[p]!;
  const y1 = priors[p + 1]!;
  const x2 = priors[p + 2]!;
  const y2 = priors[p + 3]!;
  const px = f32(f32(x1 + x2) * 0.5);
  const py = f32(f32(y1 + y2) * 0.5);
  const pw = f32(x2 - x1);
  const ph = f32(y2 - y1);
  dw = Math.min(Math.max(dw, -DELTA_WH_CLAMP), DELTA_WH_CLAMP);
  dh = Math.min(Math.max(dh, -DELTA_WH_CLAMP), DELTA_WH_CLAMP);
  const gx = f32(px + f32(pw * dx));
  const gy = f32(py + f32(ph * dy));
  const gw = f32(pw * f32(Math.exp(dw)));
  const gh = f32(ph * f32(Math.exp(dh)));
  let bx1 = f32(gx - f32(gw * 0.5));
  let by1 = f32(gy - f32(gh * 0.5));
  let bx2 = f32(gx + f32(gw * 0.5));
  let by2 = f32(gy + f32(gh * 0.5));
  if (maxShape) {
    const [h, w] = maxShape;
    bx1 = Math.min(Math.max(bx1, 0), w);
    bx2 = Math.min(Math.max(bx2, 0), w);
    by1 = Math.min(Math.max(by1, 0), h);
    by2 = Math.min(Math.max(by2, 0), h);
  }
  out[o] = bx1;
  out[o + 1] = by1;
  out[o + 2] = bx2;
  out[o + 3] = by2;
}

/** Decode N (prior, delta) rows: priors [N·4], deltas [N·4] → boxes [N·4]. */
export function decodeDeltas(
  priors: ArrayLike<number>,
  deltas: ArrayLike<number>,
  coder: DeltaCoder,
  maxShape: HW | null,
): Float32Array {
  const n = deltas.length / 4;
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++) decodeDelta(priors, i * 4, deltas, i * 4, coder, maxShape, out, i * 4);
  return out;
}

/**
 * `SingleRoIExtractor.map_roi_levels`: scale = √(w·h), level = ⌊log2(scale/finest + 1e-6)⌋ clamped to
 * [0, numLevels−1] (float32). boxes [R·4] (x1, y1, x2, y2) → int32 [R].
 */
export function roiLevels(boxes: ArrayLike<number>, numLevels: number, finestScale = 56): Int32Array {
  const n = boxes.length / 4;
  const out = new Int32Array(n);
  const eps = f32(1e-6);
  for (let i = 0; i < n; i++) {
    const w = f32(boxes[i * 4 + 2]! - boxes[i * 4]!);
    const h = f32(boxes[i * 4 + 3]! - boxes[i * 4 + 1]!);
    const scale = f32(Math.sqrt(f32(w * h)));
    const lvl = Math.floor(f32(Math.log2(f32(f32(scale / finestScale) + eps))));
    out[i] = Math.min(Math.max(Number.isFinite(lvl) ? lvl : 0, 0), numLevels - 1);
  }
  return out;
}

/** Divide boxes [N·stride] (first 4 columns) by per-axis scale factors [sx, sy, sx, sy], float32. */
export function divideBoxes(boxes: Float32Array, scaleFactor: readonly number[], stride = 4): Float32Array {
  const out = boxes.slice();
  for (let i = 0; i < out.length; i += stride)
    for (let k = 0; k < 4; k++) out[i + k] = f32(out[i + k]! / f32(scaleFactor[k]!));
  return out;
}

/** Multiply boxes [N·stride] (first 4 columns) by per-axis scale factors; returns [N·4]. */
export function multiplyBoxes(boxes: Float32Array, scaleFactor: readonly number[], stride = 4): Float32Array {
  const n = boxes.length / stride;
  const out = new Float32Array(n * 4);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < 4; k++) out[i * 4 + k] = f32(boxes[i * stride + k]! * f32(scaleFactor[k]!));
  return out;
}
