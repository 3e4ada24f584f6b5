/**
 * The demo's "teach it" panel in Node (wasm): a shipped-model trunk fine-tuned on a handful of photos
 * (here drawn: vertical against horizontal stripes) learns the user's classes, and nothing leaks.
 */
import '@tensorflow/tfjs'; // gradient functions (tfjs-core's Node bundle registers none)
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { type RgbImage, readSafetensors, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { beforeAll, describe, expect, it } from 'vitest';
import { teach, teachableModels } from './demo/teach.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const registry = new Registry([dat, dbra, glmix]);

/** A 64×64 photo of stripes: class 0 vertical, class 1 horizontal; `k` shifts the phase and the tint. */
function stripes(label: number, k: number): RgbImage {
  const data = new Uint8Array(64 * 64 * 3);
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 64; x++) {
      const on = ((label === 0 ? x : y) + 3 * k) % 10 < 5;
      data.set(on ? [230, 200 + 5 * k, 120] : [20 + 10 * k, 30, 40], 3 * (64 * y + x));
    }
  return { width: 64, height: 64, data };
}

beforeAll(async () => {
  expect(await tf.setBackend('wasm')).toBe(true);
});

describe('teach (the demo panel)', () => {
  it('offers the models whose trained weights ship with their package', () => {
    const models = teachableModels(registry).map((m) => m.model);
    expect(models).toEqual(
      registry
        .pretrained()
        .filter((e) => e.bundled)
        .map((e) => e.model),
    );
  });

  it('fine-tunes a trunk on two classes of photos: the loss falls, new photos get the right class', async () => {
    const weights = readSafetensors(
      new Uint8Array(readFileSync(`${repo}packages/dat/src/__fixtures__/golden/dat_pp_reduced.weights.safetensors`)),
    ).tensors;
    const before = tf.memory().numTensors;
    const taught = await teach(
      registry,
      'dat_fmnist',
      weights,
      [
        { name: 'vertical', images: [0, 1, 2, 3].map((k) => stripes(0, k)) },
        { name: 'horizontal', images: [0, 1, 2, 3].map((k) => stripes(1, k)) },
      ],
      { steps: 25, seed: 1 },
    );
    try {
      console.log(
        `teach: losses ${taught.losses.map((l) => l.toFixed(3)).join(' ')} in ${taught.seconds.toFixed(1)} s`,
      );
      expect(taught.classes).toEqual(['vertical', 'horizontal']);
      expect(taught.losses).toHaveLength(25);
      expect(taught.losses.at(-1)!).toBeLessThan(0.6 * taught.losses[0]!);
      for (const [label, name] of ['vertical', 'horizontal'].entries()) {
        const r = await taught.classify(stripes(label, 5)); // a phase and tint it never saw
        expect(r[0]!.label).toBe(name);
        expect(r.reduce((a, c) => a + c.probability, 0)).toBeCloseTo(1, 5);
      }
    } finally {
      taught.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses fewer than two classes or a class without photos', async () => {
    const w = new Map();
    await expect(teach(registry, 'dat_fmnist', w, [{ name: 'a', images: [stripes(0, 0)] }])).rejects.toThrow(
      /at least two classes/,
    );
    await expect(
      teach(registry, 'dat_fmnist', w, [
        { name: 'a', images: [stripes(0, 0)] },
        { name: 'b', images: [] },
      ]),
    ).rejects.toThrow(/class "b" has no photo/);
  });
});
