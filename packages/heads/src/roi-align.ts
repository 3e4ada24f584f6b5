/**
 * RoIAlign (mmcv `RoIAlign`, avg pooling; identical to `torchvision.ops.roi_align`) and mmdet's
 * `SingleRoIExtractor` (RoI → pyramid level), host side (heads.md §6.6). tfjs has no RoIAlign and
 * `tf.image.cropAndResize` is a different op; post-processing with data-dependent shapes runs on the
 * CPU side anyway, so this reads the feature maps once and pools in plain JS.
 *
 * Per RoI (x1, y1, x2, y2) on a level with `spatialScale` = 1/stride, float32 throughout:
 * start = x1·scale − 0.5 (aligned), size = (x2 − x1)·scale (no min-1 clamp when aligned),
 * bin = size/S, samples per bin = ⌈size/S⌉ (sampling_ratio 0, per RoI; 0 → output 0), sample
 * (start + p·bin + (i + 0.5)·bin/grid); a sample beyond [−1, H] × [−1, W] counts as 0; otherwise it
 * is clamped to ≥ 0, and a low index at the last row/column collapses both taps onto it.
 * Output = mean over the grid of the 4-tap bilinear values.
 */
import { InvalidArgumentError, ShapeError } from '@dynavit/core';
import { roiLevels } from './bbox.js';

const f32 = Math.fround;

/** A feature map read back to the host, NHWC [batch, height, width, channels], row-major. */
export interface HostFeatureMap {
  data: Float32Array;
  batch: number;
  height: number;
  width: number;
  channels: number;
}

export interface RoIAlignOptions {
  /** output bins per side (7 box head, 14 mask head) */
  outputSize: number;
  /** 1 / stride of the level */
  spatialScale: number;
  /** samples per bin side; 0 = adaptive ⌈roi size / outputSize⌉ (mmdet configs) */
  samplingRatio?: number;
  /** half-pixel shift (mmcv default true) */
  aligned?: boolean;
  /** output layout per RoI: 'nchw' [C,S,S] (what the box head flattens) or 'nhwc' [S,S,C] */
  layout?: 'nchw' | 'nhwc';
}

/** Per output bin along one axis: the merged interpolation taps (index, summed weight) of its samples. */
interface AxisTaps {
  index: Int32Array[];
  weight: Float64Array[];
}

/**
 * Sample positions of one axis (float32 as mmcv: start + p·bin + (i + 0.5)·bin/grid) and their
 * 2-tap linear weights (clamped to ≥ 0, last index collapsed), merged per bin. A sample outside
 * [−1, size] has no taps: it contributes 0 but still counts.
 */
function axisTaps(start: number, bin: number, grid: number, S: number, size: number): AxisTaps {
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  const idx: number[] = [];
  const wts: number[] = [];
  const add = (i: number, w: number) => {
    const k = idx.indexOf(i);
    if (k >= 0) wts[k]! += w;
    else {
      idx.push(i);
      wts.push(w);
    }
  };
  for (let p = 0; p < S; p++) {
    idx.length = 0;
    wts.length = 0;
    for (let i = 0; i < grid; i++) {
      let v = f32(f32(start + f32(p * bin)) + f32(f32(f32(i + 0.5) * bin) / grid));
      if (v < -1 || v > size) continue;
      if (v <= 0) v = 0;
      let low = Math.floor(v);
      let high: number;
      if (low >= size - 1) {
        high = low = size - 1;
        v = low;
      } else high = low + 1;
      const l = f32(v - low);
      add(low, f32(1 - l));
      add(high, l);
    }
    index.push(Int32Array.from(idx));
    weight.push(Float64Array.from(wts));
  }
  return { index, weight };
}

/**
 * Pool one RoI of batch image `b` (box x1,y1,x2,y2) into `out` starting at `offset`
 * (C·S·S numbers, layout as in `opts`). `acc` is scratch of ≥ C numbers.
 *
 * The bilinear weight of a sample is separable (row weight × column weight) and a bin's samples form
 * a full grid, so the bin average is Σ_rows Σ_cols w_row·w_col·f[row, col] / count with the taps of
 * all samples merged per row / column: the same value as mmcv's per-sample sum (up to float
 * rounding order), at a fraction of the cost.
 */
export function roiAlignOne(
  feat: HostFeatureMap,
  b: number,
  box: readonly [number, number, number, number],
  opts: RoIAlignOptions,
  out: Float32Array,
  offset: number,
  acc: Float64Array = new Float64Array(feat.channels),
): void {
  const { height: H, width: W, channels: C, data } = feat;
  const S = opts.outputSize;
  const scale = f32(opts.spatialScale);
  const aligned = opts.aligned ?? true;
  const nchw = (opts.layout ?? 'nchw') === 'nchw';
  const shift = aligned ? 0.5 : 0;
  const startW = f32(f32(box[0] * scale) - shift);
  const startH = f32(f32(box[1] * scale) - shift);
  const endW = f32(f32(box[2] * scale) - shift);
  const endH = f32(f32(box[3] * scale) - shift);
  let roiW = f32(endW - startW);
  let roiH = f32(endH - startH);
  if (!aligned) {
    roiW = Math.max(roiW, 1);
    roiH = Math.max(roiH, 1);
  }
  const binW = f32(roiW / S);
  const binH = f32(roiH / S);
  const sr = opts.samplingRatio ?? 0;
  const gridH = sr > 0 ? sr : Math.ceil(f32(roiH / S));
  const gridW = sr > 0 ? sr : Math.ceil(f32(roiW / S));
  const count = Math.max(gridH * gridW, 1);
  const ys = axisTaps(startH, binH, gridH, S, H);
  const xs = axisTaps(startW, binW, gridW, S, W);
  const base = b * H * W;
  const SS = S * S;
  for (let ph = 0; ph < S; ph++) {
    const ry = ys.index[ph]!;
    const wy = ys.weight[ph]!;
    for (let pw = 0; pw < S; pw++) {
      const cx = xs.index[pw]!;
      const wx = xs.weight[pw]!;
      acc.fill(0, 0, C);
      for (let a = 0; a < ry.length; a++) {
        const row = (base + ry[a]! * W) * C;
        const w0 = wy[a]!;
        for (let q = 0; q < cx.length; q++) {
          const w = w0 * wx[q]!;
          const p = row + cx[q]! * C;
          for (let c = 0; c < C; c++) acc[c]! += w * data[p + c]!;
        }
      }
      const bin = ph * S + pw;
      if (nchw) for (let c = 0; c < C; c++) out[offset + c * SS + bin] = acc[c]! / count;
      else for (let c = 0; c < C; c++) out[offset + bin * C + c] = acc[c]! / count;
    }
  }
}

/** RoIAlign over R RoIs `rois` [R·5] (batch index, x1, y1, x2, y2) of one map → [R·C·S·S]. */
export function roiAlign(feat: HostFeatureMap, rois: ArrayLike<number>, opts: RoIAlignOptions): Float32Array {
  const R = rois.length / 5;
  if (!Number.isInteger(R))
    throw new ShapeError('roiAlign', 'rois', '[R, 5] (batch index, x1, y1, x2, y2)', `${rois.length} numbers`);
  const size = feat.channels * opts.outputSize * opts.outputSize;
  const out = new Float32Array(R * size);
  const acc = new Float64Array(feat.channels);
  for (let r = 0; r < R; r++) {
    const b = rois[r * 5]!;
    if (!(b >= 0 && b < feat.batch))
      throw new InvalidArgumentError(`roiAlign: RoI ${r} has batch index ${b}, the map holds ${feat.batch} image(s)`);
    roiAlignOne(
      feat,
      b,
      [rois[r * 5 + 1]!, rois[r * 5 + 2]!, rois[r * 5 + 3]!, rois[r * 5 + 4]!],
      opts,
      out,
      r * size,
      acc,
    );
  }
  return out;
}

export interface RoIFeatures {
  /** [R, C, S, S] ('nchw') or [R, S, S, C] ('nhwc'), RoIs in input order */
  data: Float32Array;
  /** pyramid level each RoI was pooled from */
  levels: Int32Array;
}

/**
 * mmdet `SingleRoIExtractor` with RoIAlign (sampling_ratio 0, aligned): each RoI is pooled from the
 * level `⌊log2(√area/finestScale + 1e-6)⌋` (clamped to the given maps), with spatial scale 1/stride.
 */
export function extractRoIFeatures(
  feats: readonly HostFeatureMap[],
  strides: readonly number[],
  rois: ArrayLike<number>,
  outputSize: number,
  layout: 'nchw' | 'nhwc',
  finestScale = 56,
): RoIFeatures {
  if (feats.length !== strides.length || feats.length === 0)
    throw new InvalidArgumentError(`extractRoIFeatures: ${feats.length} maps for ${strides.length} strides`);
  const C = feats[0]!.channels;
  if (feats.some((f) => f.channels !== C))
    throw new ShapeError(
      'extractRoIFeatures',
      'feats',
      `maps with ${C} channels each`,
      `[${feats.map((f) => f.channels).join(', ')}]`,
    );
  const R = rois.length / 5;
  const boxes = new Float32Array(R * 4);
  for (let r = 0; r < R; r++) for (let k = 0; k < 4; k++) boxes[r * 4 + k] = rois[r * 5 + 1 + k]!;
  const levels = roiLevels(boxes, feats.length, finestScale);
  const size = C * outputSize * outputSize;
  const data = new Float32Array(R * size);
  const acc = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    const l = levels[r]!;
    const f = feats[l]!;
    const b = rois[r * 5]!;
    if (!(b >= 0 && b < f.batch))
      throw new InvalidArgumentError(
        `extractRoIFeatures: RoI ${r} has batch index ${b}, the maps hold ${f.batch} image(s)`,
      );
    roiAlignOne(
      f,
      b,
      [boxes[r * 4]!, boxes[r * 4 + 1]!, boxes[r * 4 + 2]!, boxes[r * 4 + 3]!],
      { outputSize, spatialScale: 1 / strides[l]!, layout },
      data,
      r * size,
      acc,
    );
  }
  return { data, levels };
}
