/**
 * Image I/O in Node with sharp: decode JPEG/PNG/WebP (and anything else libvips reads) to RGB,
 * and the classification pre-processing of the official evaluations (resize the shorter side to
 * size/cropPct with a bicubic kernel, centre crop, ImageNet mean/std).
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { IMAGENET_MEAN, IMAGENET_STD, type InputConfig, InvalidArgumentError } from '@dynavit/core';
import sharp from 'sharp';

export interface RGBImage {
  width: number;
  height: number;
  /** row-major RGB bytes, height·width·3 */
  data: Uint8Array;
}

/** Decode an image file to 8-bit sRGB (alpha dropped, EXIF orientation applied). */
export async function readImage(path: string): Promise<RGBImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new InvalidArgumentError(err.code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${err.message}`);
  }
  try {
    const { data, info } = await sharp(bytes).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (e) {
    throw new InvalidArgumentError(`not a readable image: ${path} (${(e as Error).message})`);
  }
}

/** [H,W,3] int32 tensor of an image (0–255), for the dense-prediction pipelines. */
export function imageTensor(img: RGBImage): tf.Tensor3D {
  return tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
}

export const DEFAULT_CLS_INPUT: InputConfig = { size: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD, cropPct: 0.875, interpolation: 'bicubic' };

/**
 * Classification input: shorter side → round(size/cropPct) (torchvision `Resize(int)`), centre crop
 * to size, /255, (x − mean)/std → [1, H, W, 3] float32 NHWC. With cropPct 1 the image is resized
 * straight to size (DAT-B++ 384).
 */
export async function classificationInput(img: RGBImage, cfg: InputConfig = DEFAULT_CLS_INPUT): Promise<tf.Tensor4D> {
  const [h, w] = cfg.size;
  const kernel = cfg.interpolation === 'bicubic' ? 'cubic' : 'linear';
  const src = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  let pipeline: sharp.Sharp;
  if (cfg.cropPct >= 1) pipeline = src.resize(w, h, { fit: 'fill', kernel });
  else {
    const short = Math.floor(Math.min(h, w) / cfg.cropPct);
    const scale = short / Math.min(img.width, img.height);
    const rw = Math.max(w, Math.round(img.width * scale));
    const rh = Math.max(h, Math.round(img.height * scale));
    const resized = await src.resize(rw, rh, { fit: 'fill', kernel }).raw().toBuffer();
    pipeline = sharp(resized, { raw: { width: rw, height: rh, channels: 3 } }).extract({ left: Math.floor((rw - w) / 2), top: Math.floor((rh - h) / 2), width: w, height: h });
  }
  const data = await pipeline.removeAlpha().raw().toBuffer();
  return tf.tidy(() => {
    const x = tf.div(tf.tensor4d(Float32Array.from(data), [1, h, w, 3]), 255);
    return tf.div(tf.sub(x, tf.tensor1d([...cfg.mean])), tf.tensor1d([...cfg.std])) as tf.Tensor4D;
  });
}
