/**
 * Training data from what a page has: images (`<img>`, canvases, `ImageBitmap`, `ImageData`, files the
 * user dropped, URLs, bytes) with a class index each, as a `@dynavit/train` dataset that `train()` and
 * `evaluate()` read, in the browser or a Web Worker. Each image is decoded once (the browser's decoder,
 * alpha dropped) and, when larger than `maxSide`, scaled down on the host (core's Pillow-exact
 * resampling), so a handful of 12-megapixel photos does not hold 36 MB each.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type RgbImage, resamplePixels } from '@dynavit/core';
import { type Dataset, InMemoryDataset } from '@dynavit/train';
import { decodeWebImage, type WebImageInput } from './pipeline-local.js';

/** One labelled image. */
export interface WebExample {
  image: Exclude<WebImageInput, tf.Tensor>;
  /** class index in [0, numClasses) */
  label: number;
}

export interface WebDatasetOptions {
  /** default: 1 + the largest label */
  numClasses?: number;
  /**
   * images whose longer side exceeds this are scaled down to it (bilinear, aspect kept) when decoded;
   * default 512 (training crops and resizes to the model's input, 64–384 pixels)
   */
  maxSide?: number;
  /** told after each decoded image */
  onProgress?: (done: number, total: number) => void;
}

/** Scale `img` down so that its longer side is at most `maxSide`. */
function shrink(img: RgbImage, maxSide: number): RgbImage {
  const long = Math.max(img.width, img.height);
  if (long <= maxSide) return img;
  const w = Math.max(1, Math.round((img.width * maxSide) / long));
  const h = Math.max(1, Math.round((img.height * maxSide) / long));
  return { width: w, height: h, data: resamplePixels(img.data, img.width, img.height, 3, w, h, 'bilinear') };
}

/**
 * A dataset of the page's images for `train()` / `evaluate()` (random access: shuffled each epoch).
 * Throws an `InvalidArgumentError` naming the example for an empty list, a label that is not a class
 * index, or an image that cannot be decoded.
 */
export async function webImageDataset(
  examples: readonly WebExample[],
  options: WebDatasetOptions = {},
): Promise<Dataset> {
  if (examples.length === 0) throw new InvalidArgumentError('webImageDataset: no examples');
  const maxSide = options.maxSide ?? 512;
  if (!Number.isInteger(maxSide) || maxSide < 1)
    throw new InvalidArgumentError(`webImageDataset: maxSide must be a positive integer, got ${maxSide}`);
  const bad = (i: number, range: string) =>
    new InvalidArgumentError(
      `webImageDataset: example ${i} has label ${String(examples[i]!.label)}, not a class index in ${range}`,
    );
  for (const [i, e] of examples.entries()) if (!Number.isInteger(e.label) || e.label < 0) throw bad(i, '[0, ∞)');
  const numClasses = options.numClasses ?? Math.max(...examples.map((e) => e.label)) + 1;
  if (!Number.isInteger(numClasses) || numClasses < 1)
    throw new InvalidArgumentError(`webImageDataset: numClasses must be a positive integer, got ${numClasses}`);
  for (const [i, e] of examples.entries()) if (e.label >= numClasses) throw bad(i, `[0, ${numClasses})`);
  const samples = [];
  for (const [i, e] of examples.entries()) {
    samples.push({ image: shrink(await decodeWebImage(e.image, i), maxSide), label: e.label });
    options.onProgress?.(i + 1, examples.length);
  }
  return new InMemoryDataset(samples, numClasses);
}
