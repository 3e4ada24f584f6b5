/**
 * Images in Chromium: every supported source (ImageData, <canvas>, OffscreenCanvas, ImageBitmap,
 * VideoFrame, <img> decoded from a PNG) gives the same pixels, and the classification input matches
 * Pillow + torchvision bit for bit (the fixture from scripts/make-resample-fixture.py); the dense input
 * is `@dynavit/heads`' `prepareImage`. Runs on the wasm backend; no tensor leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynavitError, IMAGENET_MEAN, IMAGENET_STD, type InputConfig } from '@dynavit/core';
import { prepareImage } from '@dynavit/heads';
import { selectBackend } from './select-backend.js';
import { FILES, WASM_PATHS } from './cases.browser.js';
import { type ImageSource, imageToTensor, prepareClassification, prepareDense, readPixels } from './image.js';
import { loadWeights } from './weights.js';

const W = 61;
const H = 47;

/** The same formula as the Pillow fixture. */
function pattern(): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(new ArrayBuffer(W * H * 4));
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) out[(y * W + x) * 4 + c] = (x * 31 + y * 17 + ((x * y) % 7) * 40 + c * 85) % 256;
      out[(y * W + x) * 4 + 3] = 255;
    }
  return out;
}

const INPUT: InputConfig = {
  size: [32, 32],
  cropPct: 0.875,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  interpolation: 'bicubic',
};

const sources: Record<string, ImageSource> = {};
let expectedRgb: Uint8Array;
let torchvision: Float32Array;

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm', wasmPaths: WASM_PATHS });
  const data = new ImageData(pattern(), W, H);
  expectedRgb = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) expectedRgb[i * 3 + c] = data.data[i * 4 + c]!;
  sources['ImageData'] = data;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  canvas.getContext('2d')!.putImageData(data, 0, 0);
  sources['HTMLCanvasElement'] = canvas;
  const off = new OffscreenCanvas(W, H);
  off.getContext('2d')!.putImageData(data, 0, 0);
  sources['OffscreenCanvas'] = off;
  sources['ImageBitmap'] = await createImageBitmap(data);
  sources['VideoFrame'] = new VideoFrame(off, { timestamp: 0 });
  const png = await new Promise<Blob>((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('toBlob failed'))), 'image/png'),
  );
  const img = new Image();
  img.src = URL.createObjectURL(png);
  await img.decode();
  sources['HTMLImageElement'] = img;
  torchvision = (await loadWeights(FILES.resampleFixture)).tensors.get('classification')!.data as Float32Array;
});

describe('image sources', () => {
  for (const name of [
    'ImageData',
    'HTMLCanvasElement',
    'OffscreenCanvas',
    'ImageBitmap',
    'VideoFrame',
    'HTMLImageElement',
  ]) {
    it(`${name}: same pixels, torchvision-exact classification input, heads' dense input`, async () => {
      const src = sources[name]!;
      const px = readPixels(src);
      expect([px.width, px.height]).toEqual([W, H]);
      expect(px.data).toEqual(expectedRgb);

      const before = tf.memory().numTensors;
      const x = prepareClassification(src, INPUT);
      expect(x.shape).toEqual([1, 32, 32, 3]);
      expect(x.dtype).toBe('float32');
      expect(Array.from(await x.data())).toEqual(Array.from(torchvision));
      x.dispose();

      const dense = prepareDense(src, { scale: [64, 40] });
      const t = imageToTensor(src);
      expect(t.shape).toEqual([H, W, 3]);
      expect(t.dtype).toBe('int32');
      const ref = prepareImage(t, { scale: [64, 40] });
      expect(dense.input.shape).toEqual(ref.input.shape);
      expect(dense.imgHw).toEqual(ref.imgHw);
      expect(Array.from(await dense.input.data())).toEqual(Array.from(await ref.input.data()));
      tf.dispose([dense.input, ref.input, t]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('refuses sources without pixels, with typed errors', () => {
    const pending = new Image();
    const err = (() => {
      try {
        readPixels(pending);
      } catch (e) {
        return e;
      }
    })();
    expect(DynavitError.isInstance(err)).toBe(true);
    expect((err as Error).message).toMatch(/not loaded/);
    expect(() => readPixels(document.createElement('video'))).toThrow(/no pixels.*loadeddata/);
  });
});
