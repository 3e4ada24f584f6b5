/**
 * Images in the browser → network inputs, with the same pre-processing as everywhere else in dynavit:
 *  - classification: the official evaluation transform (bicubic resize of the shorter side to
 *    ⌊size/cropPct⌋, centre crop, ImageNet mean/std), computed on the host by `resample.ts` exactly
 *    as Pillow + torchvision do it, then uploaded as NHWC [1, H, W, 3] float32;
 *  - dense prediction: `@dynavit/heads`' `prepareImage` (mmseg/mmdet keep-ratio rescale and
 *    normalisation), fed with the decoded pixels.
 *
 * Pixels are read through a 2D canvas (`drawImage` + `getImageData`), so every source gives the same
 * bytes whatever the tfjs backend. Alpha is dropped (images are treated as opaque, like PIL's
 * `convert('RGB')`); the browser's decoder and colour management decide the RGB values of an
 * `<img>` (they can differ from PIL's by a grey level, e.g. JPEG IDCT or an embedded ICC profile).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type InputConfig, InvalidArgumentError } from '@dynavit/core';
import { type PreparedImage, type PrepareOptions, prepareImage } from '@dynavit/heads';
import { classificationPixels, type RgbImage } from '@dynavit/core';

/** Everything `readPixels` and the `prepare*` functions take. */
export type ImageSource =
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | ImageBitmap
  | VideoFrame
  | ImageData;

interface Classes {
  HTMLImageElement: HTMLImageElement;
  HTMLVideoElement: HTMLVideoElement;
  VideoFrame: VideoFrame;
  ImageData: ImageData;
}

/** `x instanceof globalThis[name]`, false where the class does not exist (workers, older browsers). */
function is<K extends keyof Classes>(x: unknown, name: K): x is Classes[K] {
  const ctor = (globalThis as Record<string, unknown>)[name];
  return typeof ctor === 'function' && x instanceof ctor;
}

function isRgbImage(x: unknown): x is RgbImage {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as RgbImage).data instanceof Uint8Array &&
    typeof (x as RgbImage).width === 'number'
  );
}

/** Intrinsic size of a source (what a model sees), in pixels. */
export function imageSize(img: ImageSource): { width: number; height: number } {
  if (is(img, 'HTMLImageElement')) return { width: img.naturalWidth, height: img.naturalHeight };
  if (is(img, 'HTMLVideoElement')) return { width: img.videoWidth, height: img.videoHeight };
  if (is(img, 'VideoFrame')) return { width: img.displayWidth, height: img.displayHeight };
  return { width: img.width, height: img.height };
}

function rgbaToRgb(rgba: Uint8ClampedArray, width: number, height: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[i * 3] = rgba[i * 4]!;
    data[i * 3 + 1] = rgba[i * 4 + 1]!;
    data[i * 3 + 2] = rgba[i * 4 + 2]!;
  }
  return { width, height, data };
}

type Context2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

function scratchContext(width: number, height: number): Context2D {
  let ctx: Context2D | null = null;
  if (typeof OffscreenCanvas !== 'undefined')
    ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  else if (typeof document !== 'undefined') {
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    ctx = c.getContext('2d', { willReadFrequently: true });
  }
  if (!ctx)
    throw new InvalidArgumentError(
      'reading pixels needs a 2D canvas (OffscreenCanvas or document), and none could be created here',
    );
  return ctx;
}

/** Decode a source to host RGB pixels (row-major HWC, 8 bits). */
export function readPixels(img: ImageSource): RgbImage {
  if (is(img, 'ImageData')) return rgbaToRgb(img.data, img.width, img.height);
  if (is(img, 'HTMLImageElement') && (!img.complete || img.naturalWidth === 0))
    throw new InvalidArgumentError(
      `image ${img.src ? `"${img.src.slice(0, 80)}"` : ''} is not loaded (or failed to decode): await img.decode() first`,
    );
  const { width, height } = imageSize(img);
  if (!(width > 0 && height > 0))
    throw new InvalidArgumentError(
      `image source has no pixels (${width}×${height})${is(img, 'HTMLVideoElement') ? ': wait for the video to have data (loadeddata)' : ''}`,
    );
  const ctx = scratchContext(width, height);
  ctx.drawImage(img, 0, 0, width, height);
  return rgbaToRgb(ctx.getImageData(0, 0, width, height).data, width, height);
}

/** A source (or host pixels) → int32 tensor [H, W, 3] in 0–255, as `Segmentor.segment` takes. */
export function imageToTensor(img: ImageSource | RgbImage): tf.Tensor3D {
  const px = isRgbImage(img) ? img : readPixels(img);
  return tf.tensor3d(Int32Array.from(px.data), [px.height, px.width, 3], 'int32');
}

/**
 * Classification input: the official evaluation transform for `input` (a variant's `InputConfig`,
 * e.g. `registry.variant('dat_pp_tiny').variant.input`) → NHWC float32 [1, size[0], size[1], 3].
 */
export function prepareClassification(img: ImageSource | RgbImage, input: InputConfig): tf.Tensor4D {
  const px = isRgbImage(img) ? img : readPixels(img);
  const values = classificationPixels(px, input);
  return tf.tensor4d(values, [1, input.size[0], input.size[1], 3], 'float32');
}

/**
 * Dense-prediction input: `@dynavit/heads`' `prepareImage` (keep-ratio rescale to `opts.scale`,
 * optional align/pad, mmcv normalisation) on the decoded pixels. The caller disposes `input`.
 */
export function prepareDense(img: ImageSource | RgbImage, opts: PrepareOptions): PreparedImage {
  const t = imageToTensor(img);
  try {
    return prepareImage(t, opts);
  } finally {
    t.dispose();
  }
}
