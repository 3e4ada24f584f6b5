/**
 * Image I/O in Node with sharp: decode JPEG/PNG/WebP (and anything else libvips reads) to RGB, and
 * the classification pre-processing of the official evaluations (core's Pillow-exact resampler).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  classificationPixels,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type InputConfig,
  InvalidArgumentError,
} from '@dynavit/core';
import { readFileBytes } from '@dynavit/core/node';
import sharp from 'sharp';

export interface RGBImage {
  width: number;
  height: number;
  /** row-major RGB bytes, height·width·3 */
  data: Uint8Array;
}

/** Decode an image file to 8-bit sRGB (alpha dropped, EXIF orientation applied). */
export async function readImage(path: string): Promise<RGBImage> {
  const bytes = await readFileBytes(path, (m) => new InvalidArgumentError(m));
  try {
    const { data, info } = await sharp(bytes)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion`);
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (e) {
    throw new InvalidArgumentError(`not a readable image: ${path} (${(e as Error).message})`);
  }
}

/** [H,W,3] int32 tensor of an image (0–255), for the dense-prediction pipelines. */
export function imageTensor(img: RGBImage): tf.Tensor3D {
  return tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
}

export const DEFAULT_CLS_INPUT: InputConfig = {
  size: [224, 224],
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  cropPct: 0.875,
  interpolation: 'bicubic',
};

/**
 * Classification input exactly as the official evaluations computed it (torchvision `Resize` with
 * Pillow's antialiasing bicubic, `CenterCrop`, `ToTensor`, `Normalize`): core's `classificationPixels`,
 * the same host code the browser backend uses, bit-exact with Pillow → [1, H, W, 3] float32 NHWC.
 */
export function classificationInput(img: RGBImage, cfg: InputConfig = DEFAULT_CLS_INPUT): tf.Tensor4D {
  const values = classificationPixels({ width: img.width, height: img.height, data: img.data }, cfg);
  return tf.tensor4d(values, [1, cfg.size[0], cfg.size[1], 3]);
}
