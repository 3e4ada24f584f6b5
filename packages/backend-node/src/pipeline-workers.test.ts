/**
 * `pipeline(task, model, { workers: N })`: the images of a call spread over N worker threads (one backend
 * and model each), with the results of the single-thread pipeline, in order; bad worker counts, factories
 * and tensors refused with one typed line. Runs the built package (the worker script is `dist/workers/`).
 */
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '@dynavit/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { pipeline as Pipeline } from './pipeline.js';

const { pipeline } = (await import(new URL('../dist/pipeline.js', import.meta.url).href)) as {
  pipeline: typeof Pipeline;
};
const images = fileURLToPath(new URL('./__fixtures__/images/', import.meta.url));
const photos = ['chelsea.png', 'coffee.jpg', 'astronaut-square.png', 'rocket-portrait.png'].map((f) => images + f);

describe('pipeline with workers', () => {
  it('2 workers give the single-thread results, in order, with the same labels and report', async () => {
    const one = await pipeline('image-classification', 'dat_fmnist', { backend: 'wasm' });
    const two = await pipeline('image-classification', 'dat_fmnist', { backend: 'wasm', workers: 2 });
    try {
      const want = await one(photos, { topk: 3 });
      const got = await two(photos, { topk: 3 });
      expect(got).toEqual(want);
      expect(await two(photos[1]!, { topk: 3 })).toEqual(want[1]);
      expect(two.labels).toEqual(one.labels);
      expect(two.report).toEqual(one.report);
      expect(two.backend.backend).toBe('wasm');
      const t = tf.zeros([8, 8, 3]);
      await expect(two(t as tf.Tensor3D)).rejects.toThrow(/a tensor cannot be sent to a worker/);
      t.dispose();
    } finally {
      one.dispose();
      two.dispose();
    }
    await expect(two(photos[0]!)).rejects.toThrow(/disposed/);
  }, 300_000);

  it('refuses a worker count outside 1…parallelism and an attention factory, before any work', async () => {
    for (const workers of [0, 1.5, 100_000])
      await expect(pipeline('image-classification', 'dat_fmnist', { workers })).rejects.toThrow(
        new RegExp(`^workers must be an integer from 1 to \\d+ \\(this machine's parallelism\\), got ${workers}$`),
      );
    await expect(
      pipeline('image-classification', 'dat_fmnist', {
        workers: 2,
        weights: null,
        attention: { 2: (() => null) as never },
      }),
    ).rejects.toThrow(InvalidArgumentError);
  });
});
