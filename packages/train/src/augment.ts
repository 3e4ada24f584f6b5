/**
 * Training augmentation on tensors, timm's `transforms_imagenet_train` without the colour and erasing
 * parts: torchvision's `RandomResizedCrop(size, scale, ratio)` then `RandomHorizontalFlip(0.5)`, drawn
 * from the trainer's seeded {@link Rng} in the order torchvision draws (so a resumed run repeats them).
 * The crop is resized with core's `resizeBilinear` (torch `F.interpolate(…, 'bilinear')`, no antialias).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, resizeBilinear } from '@dynavit/core';
import type { Rng } from './rng.js';

export interface AugmentOptions {
  /** area fraction range of the crop (torchvision / timm default [0.08, 1]) */
  scale?: readonly [number, number];
  /** aspect ratio range of the crop (default [3/4, 4/3]) */
  ratio?: readonly [number, number];
  /** horizontal flip probability (default 0.5) */
  hflip?: number;
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Python's `round` (half to even). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision `RandomResizedCrop.get_params`: up to 10 draws, else the central crop clamped to `ratio`. */
export function randomResizedCropBox(
  height: number,
  width: number,
  rng: Rng,
  scale: readonly [number, number] = [0.08, 1],
  ratio: readonly [number, number] = [3 / 4, 4 / 3],
): CropBox {
  if (!(scale[0] <= scale[1] && ratio[0] <= ratio[1] && scale[0] > 0 && ratio[0] > 0))
    throw new InvalidArgumentError(`randomResizedCrop: bad scale [${scale}] or ratio [${ratio}]`);
  const area = height * width;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let k = 0; k < 10; k++) {
    const target = area * rng.range(scale[0], scale[1]);
    const aspect = Math.exp(rng.range(lr0, lr1));
    const w = roundHalfEven(Math.sqrt(target * aspect));
    const h = roundHalfEven(Math.sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(height - h + 1);
      const left = rng.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (inRatio > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** Random-resized-crop then horizontal flip of one image [H, W, C] → [size, C]; draws from `rng`. */
export function augmentImage(
  image: tf.Tensor3D,
  size: readonly [number, number],
  rng: Rng,
  options: AugmentOptions = {},
): tf.Tensor3D {
  const [H, W] = image.shape;
  const box = randomResizedCropBox(H, W, rng, options.scale, options.ratio);
  const flip = rng.uniform() < (options.hflip ?? 0.5);
  return tf.tidy(() => {
    const crop = tf.expandDims(tf.slice(image, [box.top, box.left, 0], [box.height, box.width, -1]), 0) as tf.Tensor4D;
    const sized = box.height === size[0] && box.width === size[1] ? crop : resizeBilinear(crop, size);
    const out = flip ? tf.reverse(sized, 2) : sized;
    return tf.squeeze(out, [0]) as tf.Tensor3D;
  });
}
