/**
 * Non-maximum suppression as mmcv 1.x computes it (heads.md §6.5), host side:
 * - `nms`: greedy, candidates in descending score order; a box is dropped when its IoU with an
 *   already kept box is **strictly greater** than the threshold (tfjs' `nonMaxSuppression` uses ≥).
 *   Areas, intersections and IoU in float32, no +1.
 * - `batchedNms`: class/level-aware NMS by mmcv's coordinate-offset trick: every box is shifted by
 *   `group · (max coordinate + 1)` (float32) and NMS runs on the shifted boxes, so boxes of different
 *   groups never overlap, while IoUs within a group carry the same float32 rounding as mmcv's.
 *   NMS then runs per group (identical result: cross-group IoUs are 0) and the survivors are merged
 *   in descending score order.
 * Ties in score are broken by the lower index first (torch's sort leaves them unspecified).
 */
import { InvalidArgumentError } from '@dynavit/core';

const f32 = Math.fround;

/** Indices in descending score order (ties: lower index first). */
export function argsortDescending(scores: ArrayLike<number>, indices?: ArrayLike<number>): Int32Array {
  const idx = indices ? Int32Array.from(indices) : Int32Array.from({ length: scores.length }, (_, i) => i);
  return idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
}

/** The k-th largest value (1-based k ≤ n) of `values` (quickselect on a copy). */
function kthLargest(values: ArrayLike<number>, k: number): number {
  const a = Float64Array.from(values);
  let lo = 0;
  let hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target]!;
}

/**
 * The indices of the k largest scores in descending order (ties: lower index first) — the first k
 * of {@link argsortDescending} without sorting everything.
 */
export function topKDescending(scores: ArrayLike<number>, k: number): Int32Array {
  const n = scores.length;
  if (k >= n) return argsortDescending(scores);
  if (k <= 0) return new Int32Array(0);
  const t = kthLargest(scores, k);
  const pick: number[] = [];
  for (let i = 0; i < n; i++) if (scores[i]! > t) pick.push(i);
  for (let i = 0; i < n && pick.length < k; i++) if (scores[i]! === t) pick.push(i);
  return argsortDescending(scores, pick);
}

/** Greedy NMS over `order` (indices into boxes [N·4], already in descending score order). */
function greedy(boxes: ArrayLike<number>, order: Int32Array, iouThreshold: number): Int32Array {
  const n = order.length;
  const thr = f32(iouThreshold);
  const x1 = new Float32Array(n);
  const y1 = new Float32Array(n);
  const x2 = new Float32Array(n);
  const y2 = new Float32Array(n);
  const area = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const b = order[k]! * 4;
    x1[k] = boxes[b]!;
    y1[k] = boxes[b + 1]!;
    x2[k] = boxes[b + 2]!;
    y2[k] = boxes[b + 3]!;
    area[k] = f32(f32(x2[k]! - x1[k]!) * f32(y2[k]! - y1[k]!));
  }
  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let i = 0; i < n; i++) {
    if (suppressed[i]) continue;
    keep.push(order[i]!);
    const ix1 = x1[i]!;
    const iy1 = y1[i]!;
    const ix2 = x2[i]!;
    const iy2 = y2[i]!;
    const ia = area[i]!;
    for (let j = i + 1; j < n; j++) {
      if (suppressed[j]) continue;
      const w = f32(Math.min(ix2, x2[j]!) - Math.max(ix1, x1[j]!));
      const h = f32(Math.min(iy2, y2[j]!) - Math.max(iy1, y1[j]!));
      // no overlap: IoU 0, never > a non-negative threshold
      if (!(w > 0 && h > 0) && thr >= 0) continue;
      const inter = f32(Math.max(0, w) * Math.max(0, h));
      const iou = f32(inter / f32(f32(ia + area[j]!) - inter));
      if (iou > thr) suppressed[j] = 1;
    }
  }
  return Int32Array.from(keep);
}

/** mmcv `nms`: indices of the kept boxes (boxes [N·4] x1,y1,x2,y2), in descending score order. */
export function nms(boxes: ArrayLike<number>, scores: ArrayLike<number>, iouThreshold: number): Int32Array {
  if (boxes.length !== scores.length * 4)
    throw new InvalidArgumentError(
      `nms: boxes must hold 4 numbers per score (${scores.length} scores, ${boxes.length} numbers)`,
    );
  return greedy(boxes, argsortDescending(scores), iouThreshold);
}

/**
 * mmcv `batched_nms` (not class-agnostic): NMS within each group id (class or pyramid level) with
 * the coordinate-offset trick; returns the kept indices in descending score order.
 */
export function batchedNms(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  groups: ArrayLike<number>,
  iouThreshold: number,
): Int32Array {
  const n = scores.length;
  if (boxes.length !== n * 4 || groups.length !== n)
    throw new InvalidArgumentError(
      `batchedNms: need 4 box numbers and 1 group per score (${n} scores, ${boxes.length} box numbers, ${groups.length} groups)`,
    );
  if (n === 0) return new Int32Array(0);
  let maxCoord = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < boxes.length; i++) if (boxes[i]! > maxCoord) maxCoord = boxes[i]!;
  const step = f32(maxCoord + 1);
  const shifted = new Float32Array(n * 4);
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const g = groups[i]!;
    const off = f32(g * step);
    for (let k = 0; k < 4; k++) shifted[i * 4 + k] = f32(boxes[i * 4 + k]! + off);
    const m = members.get(g);
    if (m) m.push(i);
    else members.set(g, [i]);
  }
  const kept: number[] = [];
  for (const idx of members.values())
    for (const k of greedy(shifted, argsortDescending(scores, idx), iouThreshold)) kept.push(k);
  return argsortDescending(scores, kept);
}

/** Detections of one image: [K·5] (x1, y1, x2, y2, score), labels, and how many candidates entered NMS. */
export interface NmsDetections {
  bboxes: Float32Array;
  labels: Int32Array;
  numCandidates: number;
}

/**
 * The tail of mmdet's `multiclass_nms` / `_get_bboxes_single`: class-aware NMS of the candidates
 * (boxes [N·4], scores, labels), the first `maxPerImg` kept, descending score.
 */
export function nmsDetections(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  iouThreshold: number,
  maxPerImg: number,
): NmsDetections {
  const keep = batchedNms(boxes, scores, labels, iouThreshold).subarray(0, maxPerImg);
  const bboxes = new Float32Array(keep.length * 5);
  const outLabels = new Int32Array(keep.length);
  keep.forEach((k, j) => {
    for (let q = 0; q < 4; q++) bboxes[j * 5 + q] = boxes[k * 4 + q]!;
    bboxes[j * 5 + 4] = scores[k]!;
    outLabels[j] = labels[k]!;
  });
  return { bboxes, labels: outLabels, numCandidates: scores.length };
}
