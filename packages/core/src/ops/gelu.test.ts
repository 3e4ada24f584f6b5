// the gradients of tfjs-core's ops (its Node bundle registers none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { gelu } from '../nn/layers.js';
import { TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { GELU_KERNEL } from './gelu.js';

/** erf in float64: its Maclaurin series to |u| ≤ 4 (error < 1e-11), ±1 beyond (erfc(4) = 1.5e-8). */
function erf64(u: number): number {
  if (Math.abs(u) > 4) return Math.sign(u);
  let term = u;
  let sum = u;
  for (let n = 1; n < 200 && Math.abs(term) > 1e-17 * Math.abs(sum); n++) {
    term *= (-u * u) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const gelu64 = (x: number) => 0.5 * x * (1 + erf64(x / Math.SQRT2));

/** max over i of |a_i − b_i| / max(1, |x_i|) */
function maxScaledDiff(a: ArrayLike<number>, b: ArrayLike<number>, x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(x[i]!)));
  return m;
}

describe.each(TEST_BACKENDS)('the fused GELU on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('against GELU with erf in float64: x from −10 to 10 in steps of 1/128, within 2.5e-7·max(1, |x|), as the composite', () => {
    const xs = Float32Array.from({ length: 2561 }, (_, i) => -10 + i / 128);
    const x = tf.tensor1d(xs);
    const want = Array.from(xs, gelu64);
    const fused = gelu(x, { path: 'fused' });
    const composite = gelu(x, { path: 'composite' });
    const f = fused.dataSync();
    expect(maxScaledDiff(f, want, xs)).toBeLessThan(2.5e-7);
    expect(maxScaledDiff(composite.dataSync(), want, xs)).toBeLessThan(2.5e-7);
    // hand-checked points: GELU(0) = 0, GELU(1) = 0.841344746…, GELU(−1) = −0.158655254…
    expect(f[1280]).toBe(0);
    expect(f[1280 + 128]).toBeCloseTo(0.8413447461, 6);
    expect(f[1280 - 128]).toBeCloseTo(-0.1586552539, 6);
    tf.dispose([x, fused, composite]);
  });

  it('equals the composite on sizes 1, 3, 4, 5, 4097 and one past a chunk; keeps the shape; no tensor left', async () => {
    const before = tf.memory().numTensors;
    for (const shape of [[1], [3], [4], [1, 5], [17, 241], [2, 3, 5, 8], [4 * 2 ** 20 + 3]]) {
      const size = shape.reduce((a, d) => a * d, 1);
      const x = tf.tidy(() => tf.mul(tf.tensor(values(size, size), shape), 4));
      const fused = gelu(x, { path: 'fused' });
      const composite = gelu(x, { path: 'composite' });
      expect(fused.shape).toEqual(shape);
      expect(maxScaledDiff(fused.dataSync(), composite.dataSync(), x.dataSync()), shape.join('×')).toBeLessThan(4e-7);
      tf.dispose([x, fused, composite]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // the default for inference is the kernel
    const x = tf.tensor4d(values(2 * 3 * 5 * 8, 9), [2, 3, 5, 8]);
    expect((await tf.profile(() => gelu(x))).kernelNames).toEqual([GELU_KERNEL]);
    x.dispose();
  });

  it('NaN stays NaN, +∞ gives +∞ and −∞ NaN, as the composite; far below zero it is 0', () => {
    const x = tf.tensor1d([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -30, -200, 30]);
    const [f, c] = [gelu(x, { path: 'fused' }), gelu(x, { path: 'composite' })];
    const [fused, composite] = [Array.from(f.dataSync()), Array.from(c.dataSync())];
    expect(fused.slice(0, 3)).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NaN]);
    expect(composite.slice(0, 3)).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NaN]);
    expect(Math.abs(fused[3]!)).toBe(0);
    expect(Math.abs(fused[4]!)).toBe(0);
    expect(fused[5]).toBe(30);
    tf.dispose([x, f, c]);
  });

  it('under a gradient the composite runs, with its gradients', () => {
    const x = tf.tensor2d(values(4 * 6, 21), [4, 6]);
    const w = tf.tensor2d(values(4 * 6, 22), [4, 6]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t), w)))(x);
    const r = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gelu(t, { path: 'composite' }), w)))(x);
    expect(Array.from(g.dataSync())).toEqual(Array.from(r.dataSync()));
    expect(Math.max(...Array.from(g.dataSync(), Math.abs))).toBeGreaterThan(0);
    tf.dispose([x, w, g, r]);
  });

  it("path 'fused' where the kernel cannot run, or an unknown path: a typed error", () => {
    const i = tf.tensor1d([1, 2], 'int32');
    expect(() => gelu(i, { path: 'fused' })).toThrow(InvalidArgumentError);
    expect(() => gelu(i, { path: 'fused' })).toThrow(/float32.*got int32/);
    const bad = { path: 'gpu' } as unknown as { path: 'fused' };
    expect(() => gelu(i, bad)).toThrow(/gelu: path must be 'fused' or 'composite'/);
    i.dispose();
  });
});
