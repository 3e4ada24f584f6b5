/**
 * The tasks on host pixels, runtime-neutral: each takes decoded RGB images of any sizes and returns plain
 * data (every tensor disposed before it returns).
 *
 * - classification: the official evaluation transform of the variant (core's Pillow-exact
 *   `classificationPixels`: resize, centre crop, normalise), batched, softmax, top-k.
 * - segmentation: the mmseg test pipeline of the backbone (keep-ratio resize to the test scale, DeBiFormer's
 *   align-resize), logits resized to the image, argmax → a class per pixel.
 * - detection: the mmdet test pipeline (keep-ratio resize, pad to 32), boxes in image pixels, Mask R-CNN
 *   masks pasted at the image size.
 */
import * as tf from '@tensorflow/tfjs-core';
import { classificationPixels, InvalidArgumentError, NumericError, type RgbImage } from '@dynavit/core';
import type { AssembledModel } from './assemble.js';
import { classNames, type LabelSet, labelName } from './labels.js';

export interface ClassificationLabel {
  /** class name (ImageNet's for 1000-class models; `class i` otherwise, unless the pipeline was given labels) */
  label: string;
  /** class index */
  index: number;
  /** softmax probability */
  score: number;
}

export interface SegmentationOutput {
  /** class index per pixel of the input image, row-major [height·width] */
  classMap: Int32Array;
  width: number;
  height: number;
  /** the name of each class index (ADE20K: index k is dataset label k+1) */
  labels: string[];
}

export interface DetectionOutput {
  width: number;
  height: number;
  /** [x1, y1, x2, y2] in image pixels, one per detection, by descending score */
  boxes: [number, number, number, number][];
  scores: number[];
  /** class names */
  labels: string[];
  /** class indices (COCO: mmdet's 0..79) */
  classes: number[];
  /** instance-segmentation: one binary mask (1 = object) per detection, row-major [height·width] */
  masks?: Uint8Array[];
}

export interface ClassifyOptions {
  /** how many classes per image (default 5) */
  topk?: number;
  /** images per forward (default 8) */
  batchSize?: number;
}

function checkImage(img: RgbImage, i: number): void {
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3)
    throw new InvalidArgumentError(`image ${i}: ${img.width}×${img.height} with ${img.data.length} bytes is not RGB`);
}

function finite(values: ArrayLike<number>, what: string): void {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i]!))
      throw new NumericError(`the ${what} output has non-finite values (NaN or ±Inf); check the weights`);
}

/** Classify decoded images with a classifier assembled by `assembleModel`. */
export async function classifyImages(
  m: Extract<AssembledModel, { task: 'classification' }>,
  images: readonly RgbImage[],
  labelSet: LabelSet | null,
  opts: ClassifyOptions = {},
  names?: readonly string[],
): Promise<ClassificationLabel[][]> {
  const topk = opts.topk ?? 5;
  if (!Number.isInteger(topk) || topk < 1)
    throw new InvalidArgumentError(`topk must be a positive integer, got ${topk}`);
  const batch = opts.batchSize ?? 8;
  if (!Number.isInteger(batch) || batch < 1)
    throw new InvalidArgumentError(`batchSize must be a positive integer, got ${batch}`);
  const [h, w] = m.input.size;
  const k = Math.min(topk, m.numClasses);
  const out: ClassificationLabel[][] = [];
  for (let start = 0; start < images.length; start += batch) {
    const chunk = images.slice(start, start + batch);
    const pixels = new Float32Array(chunk.length * h * w * 3);
    chunk.forEach((img, i) => {
      checkImage(img, start + i);
      pixels.set(classificationPixels(img, m.input), i * h * w * 3);
    });
    const [values, indices, bad] = tf.tidy(() => {
      const x = tf.tensor4d(pixels, [chunk.length, h, w, 3]);
      const probs = tf.softmax(m.model.forward(x));
      const top = tf.topk(probs, k);
      const nonFinite = tf.sum(tf.cast(tf.logicalNot(tf.isFinite(probs)), 'int32'));
      return [top.values, top.indices, nonFinite];
    });
    const [v, ix, nb] = await Promise.all([values.data(), indices.data(), bad.data()]);
    tf.dispose([values, indices, bad]);
    if (nb[0])
      throw new NumericError(`the model's output has ${nb[0]} non-finite values (NaN or ±Inf); check the weights`);
    for (let i = 0; i < chunk.length; i++)
      out.push(
        Array.from({ length: k }, (_, j) => {
          const index = ix[i * k + j]!;
          return { label: names?.[index] ?? labelName(labelSet, index), index, score: v[i * k + j]! };
        }),
      );
  }
  return out;
}

const imageTensor = (img: RgbImage): tf.Tensor3D =>
  tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');

/** Segment decoded images with a segmentor assembled by `assembleModel`. */
export async function segmentImages(
  m: Extract<AssembledModel, { task: 'segmentation' }>,
  images: readonly RgbImage[],
  labelSet: LabelSet | null,
  names?: readonly string[],
): Promise<SegmentationOutput[]> {
  const labels = names ? [...names] : classNames(labelSet, m.numClasses);
  const out: SegmentationOutput[] = [];
  for (const [i, img] of images.entries()) {
    checkImage(img, i);
    const t = imageTensor(img);
    try {
      const r = await m.model.segment(t, { ...m.test });
      out.push({ classMap: r.classMap, width: r.width, height: r.height, labels });
    } finally {
      t.dispose();
    }
  }
  return out;
}

/** Detect objects in decoded images with a detector assembled by `assembleModel`. */
export async function detectImages(
  m: Extract<AssembledModel, { task: 'detection' }>,
  images: readonly RgbImage[],
  labelSet: LabelSet | null,
  names?: readonly string[],
): Promise<DetectionOutput[]> {
  const out: DetectionOutput[] = [];
  for (const [i, img] of images.entries()) {
    checkImage(img, i);
    const t = imageTensor(img);
    try {
      const r = await m.model.detect(t, { ...m.test });
      for (const d of r.detections) finite([d.score, ...d.box], 'detection');
      const o: DetectionOutput = {
        width: r.width,
        height: r.height,
        boxes: r.detections.map((d) => d.box),
        scores: r.detections.map((d) => d.score),
        labels: r.detections.map((d) => names?.[d.label] ?? labelName(labelSet, d.label)),
        classes: r.detections.map((d) => d.label),
      };
      if (m.masks) o.masks = r.detections.map((d) => d.mask ?? new Uint8Array(r.width * r.height));
      out.push(o);
    } finally {
      t.dispose();
    }
  }
  return out;
}
