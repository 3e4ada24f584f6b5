// the gradients of tfjs-core's ops (its Node bundle registers none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { layerNorm } from '../nn/layers.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { LAYER_NORM_KERNEL } from './layer-norm.js';

describe.each(TEST_BACKENDS)('the fused LayerNorm on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('hand-computed: a row (1, 2, 3, 4, 5, 6) with weight 2 and bias 1', () => {
    // mean 3.5, var 35/12; (x − 3.5)/√(35/12 + 1e-5)·2 + 1
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [1, 6]);
    const w = tf.fill([6], 2);
    const b = tf.ones([6]);
    const y = layerNorm(x, w, b, 1e-5, -1, { path: 'fused' });
    const inv = 1 / Math.sqrt(35 / 12 + 1e-5);
    const want = [1, 2, 3, 4, 5, 6].map((v) => (v - 3.5) * inv * 2 + 1);
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-6);
    tf.dispose([x, w, b, y]);
  });

  it('equals the composite: C = 1, 3, 4, 64, 193; with and without affine; a large offset; many rows in chunks', async () => {
    const before = tf.memory().numTensors;
    for (const [rows, c, offset] of [
      [5, 1, 0],
      [7, 3, 0],
      [2, 4, 0],
      [3136, 64, 0],
      [9, 193, 100],
      [70_000, 32, 0], // 70 000 rows × 32 channels × 8 bytes > the 16 MiB working memory: two chunks
    ] as const) {
      const x = tf.tidy(() => tf.add(tf.tensor2d(values(rows * c, rows + c), [rows, c]), offset));
      const w = tf.tensor1d(values(c, 3));
      const b = tf.tensor1d(values(c, 4));
      for (const [wt, bt] of [
        [w, b],
        [null, null],
        [w, null],
      ] as const) {
        const fused = layerNorm(x, wt, bt, 1e-6, -1, { path: 'fused' });
        const composite = layerNorm(x, wt, bt, 1e-6, -1, { path: 'composite' });
        expect(fused.shape).toEqual([rows, c]);
        expect(maxAbsDiff(fused.dataSync(), composite.dataSync()), `${rows}×${c}+${offset}`).toBeLessThan(
          offset ? 2e-4 : 2e-5,
        );
        tf.dispose([fused, composite]);
      }
      tf.dispose([x, w, b]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // the default for inference is the kernel; a 4-D map [B, H, W, C] keeps its shape
    const x = tf.tensor4d(values(2 * 3 * 5 * 8, 9), [2, 3, 5, 8]);
    const names = (await tf.profile(() => layerNorm(x, null, null, 1e-5))).kernelNames;
    expect(names).toEqual([LAYER_NORM_KERNEL]);
    const y = layerNorm(x, null, null, 1e-5);
    expect(y.shape).toEqual([2, 3, 5, 8]);
    // another axis takes the composite
    const nchw = (await tf.profile(() => layerNorm(x, null, null, 1e-5, 1))).kernelNames;
    expect(nchw).not.toContain(LAYER_NORM_KERNEL);
    tf.dispose([x, y]);
  });

  it('under a gradient the composite runs, with its gradients', () => {
    const x = tf.tensor2d(values(4 * 6, 21), [4, 6]);
    const w = tf.tensor1d(values(6, 22));
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layerNorm(t, w, null, 1e-5), w)))(x);
    const r = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(layerNorm(t, w, null, 1e-5, -1, { path: 'composite' }), w)))(x);
    expect(Array.from(g.dataSync())).toEqual(Array.from(r.dataSync()));
    expect(maxAbsDiff(g.dataSync(), new Float32Array(24))).toBeGreaterThan(0);
    tf.dispose([x, w, g, r]);
  });

  it("path 'fused' where the kernel cannot run: a typed error", () => {
    const x = tf.zeros([2, 3, 4]);
    const w3 = tf.ones([3]);
    expect(() => layerNorm(x, null, null, 1e-5, 1, { path: 'fused' })).toThrow(InvalidArgumentError);
    expect(() => layerNorm(x, w3, null, 1e-5, -1, { path: 'fused' })).toThrow(/\[4\] weight and bias/);
    const bad = { path: 'gpu' } as unknown as { path: 'fused' };
    expect(() => layerNorm(x, null, null, 1e-5, -1, bad)).toThrow(/path must be 'fused' or 'composite'/);
    const s = tf.scalar(3);
    expect(() => layerNorm(s, null, null, 1e-5, -1, { path: 'fused' })).toThrow(InvalidArgumentError);
    s.dispose();
    tf.dispose([x, w3]);
  });
});
