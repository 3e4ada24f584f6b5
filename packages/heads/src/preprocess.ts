/**
 * Test-time pre-processing as mmseg/mmdet evaluated the papers' models (heads.md §1.5): keep-ratio
 * rescale to an (long, short) scale, optional stretch to a size divisor (DeBiFormer's AlignResize),
 * optional zero padding to a divisor (mmdet), normalisation on 0–255 RGB. Images are HWC RGB.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type RGB, resizeBilinear, ShapeError } from '@dynavit/core';

/** mmcv's default dense-prediction normalisation on 0–255 RGB. */
export const MM_MEAN: RGB = [123.675, 116.28, 103.53];
export const MM_STD: RGB = [58.395, 57.12, 57.375];

/** mmcv `rescale_size` with keep_ratio: sf = min(long/max(h,w), short/min(h,w)); size rounded half up. */
export function keepRatioSize(h: number, w: number, scale: readonly [number, number]): [number, number] {
  const [long, short] = [Math.max(...scale), Math.min(...scale)];
  const sf = Math.min(long / Math.max(h, w), short / Math.min(h, w));
  return [Math.floor(h * sf + 0.5), Math.floor(w * sf + 0.5)];
}

export interface PreparedImage {
  /** [1, H, W, 3] normalised network input (padded if requested) */
  input: tf.Tensor4D;
  /** original image size */
  oriHw: [number, number];
  /** resized size before padding (mmdet `img_shape`) */
  imgHw: [number, number];
  /** per-axis scale factors [sx, sy] (new/old), float32 as mmdet stores them */
  scale: [number, number];
}

export interface PrepareOptions {
  /** (long, short) test scale: ADE20K (2048, 512), COCO (1333, 800) */
  scale: readonly [number, number];
  /** stretch the rescaled image to multiples of this (DeBiFormer/BiFormer AlignResize) */
  alignTo?: number;
  /** zero-pad bottom/right to multiples of this after normalising (mmdet Pad size_divisor) */
  padTo?: number;
  mean?: RGB;
  std?: RGB;
}

/**
 * image [H,W,3] RGB in 0–255 (int32/float32) → network input. The resize is bilinear with half-pixel
 * centres and the result rounded to 0–255 integers, as cv2 does for uint8 images (cv2's fixed-point
 * weights can differ from this by one grey level at some pixels).
 */
export function prepareImage(image: tf.Tensor3D, opts: PrepareOptions): PreparedImage {
  if (image.rank !== 3 || image.shape[2] !== 3)
    throw new ShapeError('prepareImage', 'image', '[H,W,3] RGB', `[${image.shape.join(',')}]`);
  const [h, w] = image.shape;
  let [nh, nw] = keepRatioSize(h, w, opts.scale);
  const imgHw: [number, number] = [nh, nw];
  const mean = opts.mean ?? MM_MEAN;
  const std = opts.std ?? MM_STD;
  const input = tf.tidy(() => {
    const x = tf.expandDims(tf.cast(image, 'float32'), 0) as tf.Tensor4D;
    let r = tf.clipByValue(tf.round(resizeBilinear(x, [nh, nw])), 0, 255) as tf.Tensor4D;
    if (opts.alignTo) {
      const a = opts.alignTo;
      [nh, nw] = [Math.ceil(nh / a) * a, Math.ceil(nw / a) * a];
      if (nh !== imgHw[0] || nw !== imgHw[1])
        r = tf.clipByValue(tf.round(resizeBilinear(r, [nh, nw])), 0, 255) as tf.Tensor4D;
    }
    let n = tf.div(tf.sub(r, tf.tensor1d([...mean])), tf.tensor1d([...std])) as tf.Tensor4D;
    if (opts.padTo) {
      const p = opts.padTo;
      n = tf.pad(n, [
        [0, 0],
        [0, Math.ceil(nh / p) * p - nh],
        [0, Math.ceil(nw / p) * p - nw],
        [0, 0],
      ]);
    }
    return n;
  });
  return {
    input,
    oriHw: [h, w],
    imgHw: opts.alignTo ? [nh, nw] : imgHw,
    scale: [Math.fround(nw / w), Math.fround(nh / h)],
  };
}
