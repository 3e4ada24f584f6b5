import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { adaptiveAvgPool2d, adaptivePoolBins } from './pooling.js';

describe('adaptivePoolBins (torch bin edges, glmix.md §4.1 examples)', () => {
  it('P = 8 for n = 56, 28, 14, 6', () => {
    expect(adaptivePoolBins(56, 8)).toEqual(Array.from({ length: 8 }, (_, i) => [7 * i, 7 * i + 7]));
    expect(adaptivePoolBins(28, 8)).toEqual([
      [0, 4],
      [3, 7],
      [7, 11],
      [10, 14],
      [14, 18],
      [17, 21],
      [21, 25],
      [24, 28],
    ]);
    expect(adaptivePoolBins(14, 8)).toEqual([
      [0, 2],
      [1, 4],
      [3, 6],
      [5, 7],
      [7, 9],
      [8, 11],
      [10, 13],
      [12, 14],
    ]);
    expect(adaptivePoolBins(6, 8)).toEqual([
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
      [3, 4],
      [3, 5],
      [4, 6],
      [5, 6],
    ]);
  });
});

describe.each(TEST_BACKENDS)('adaptiveAvgPool2d on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('hand-computed: linear map 6x28 → 8x8 (repeating rows, overlapping columns), 2 images × 3 channels', () => {
    // x[b, y, x, c] = s_b·(100·y + x) + c with s = (1, −1). The mean of a linear function over a bin
    // [s, e) is its value at the bin centre (s + e − 1)/2, so out = s_b·(100·cy + cx) + c.
    const [H, W, C] = [6, 28, 3];
    const data = new Float32Array(2 * H * W * C);
    for (let b = 0; b < 2; b++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let c = 0; c < C; c++) data[((b * H + y) * W + x) * C + c] = (b === 0 ? 1 : -1) * (100 * y + x) + c;
    // Bin centres from the literal bins of glmix.md §4.1: n=6 → [0,1) [0,2) [1,3) [2,3) [3,4) [3,5) [4,6) [5,6);
    // n=28 → [0,4) [3,7) [7,11) [10,14) [14,18) [17,21) [21,25) [24,28).
    const cy = [0, 0.5, 1.5, 2, 3, 3.5, 4.5, 5];
    const cx = [1.5, 4.5, 8.5, 11.5, 15.5, 18.5, 22.5, 25.5];
    const expected = new Float32Array(2 * 8 * 8 * C);
    for (let b = 0; b < 2; b++)
      for (let i = 0; i < 8; i++)
        for (let j = 0; j < 8; j++)
          for (let c = 0; c < C; c++)
            expected[((b * 8 + i) * 8 + j) * C + c] = (b === 0 ? 1 : -1) * (100 * cy[i]! + cx[j]!) + c;
    const x = tf.tensor4d(data, [2, H, W, C]);
    const before = tf.memory().numTensors;
    const out = adaptiveAvgPool2d(x, 8);
    expect(out.shape).toEqual([2, 8, 8, C]);
    expect(maxAbsDiff(out.dataSync(), expected)).toBeLessThan(1e-4); // values up to ~530: a few float32 ulps
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('matches a direct bin-average loop on random data (14x9 → [8, 6], 28x28 → 3, 4x4 → 6)', () => {
    for (const [h, w, oh, ow] of [
      [14, 9, 8, 6],
      [28, 28, 3, 3],
      [4, 4, 6, 6],
    ] as const) {
      const c = 2;
      const data = values(h * w * c, h * 31 + w);
      const x = tf.tensor4d(data, [1, h, w, c]);
      const out = adaptiveAvgPool2d(x, [oh, ow]);
      const ref = new Float32Array(oh * ow * c);
      const rowBins = adaptivePoolBins(h, oh);
      const colBins = adaptivePoolBins(w, ow);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const [ys, ye] = rowBins[i]!;
          const [xs, xe] = colBins[j]!;
          for (let ch = 0; ch < c; ch++) {
            let s = 0;
            for (let y = ys; y < ye; y++) for (let xx = xs; xx < xe; xx++) s += data[(y * w + xx) * c + ch]!;
            ref[(i * ow + j) * c + ch] = s / ((ye - ys) * (xe - xs));
          }
        }
      expect(maxAbsDiff(out.dataSync(), ref)).toBeLessThan(1e-6);
      tf.dispose([x, out]);
    }
  });

  it('output 1 is the global mean; output = input size is the identity', () => {
    const x = tf.tensor4d(values(2 * 5 * 7 * 3, 3), [2, 5, 7, 3]);
    const g = adaptiveAvgPool2d(x, 1);
    const m = tf.mean(x, [1, 2], true);
    expect(maxAbsDiff(g.dataSync(), m.dataSync())).toBeLessThan(1e-6);
    const same = adaptiveAvgPool2d(x, [5, 7]);
    expect(maxAbsDiff(same.dataSync(), x.dataSync())).toBe(0);
    tf.dispose([x, g, m, same]);
  });

  it('leaves its input usable as a matMul right operand of another shape (tfjs-wasm caches packings by data id)', async () => {
    // GLMix pools its input to the slot centres, then multiplies the pixels by the softmaxed logits: with the
    // map as pooling's right operand, tfjs-backend-wasm reused the [H, W·C] packing for [H·W, C] and crashed
    const x = tf.tensor4d(values(24 * 32 * 32, 5), [1, 24, 32, 32]);
    const c = tf.reshape(adaptiveAvgPool2d(x, 8), [1, 64, 32]);
    const t = tf.reshape(x, [1, 768, 32]);
    const g = tf.matMul(tf.softmax(tf.matMul(c, t, false, true)), t);
    const got = await g.data();
    // against the same product on host values
    const [cv, tv] = [await c.data(), await t.data()];
    const logits = new Float64Array(64 * 768);
    for (let s = 0; s < 64; s++)
      for (let l = 0; l < 768; l++) {
        let a = 0;
        for (let k = 0; k < 32; k++) a += cv[s * 32 + k]! * tv[l * 32 + k]!;
        logits[s * 768 + l] = a;
      }
    let worst = 0;
    for (let s = 0; s < 64; s++) {
      const row = logits.subarray(s * 768, (s + 1) * 768);
      const m = Math.max(...row);
      const e = Array.from(row, (v) => Math.exp(v - m));
      const z = e.reduce((a, v) => a + v, 0);
      for (let k = 0; k < 32; k++) {
        let a = 0;
        for (let l = 0; l < 768; l++) a += (e[l]! / z) * tv[l * 32 + k]!;
        worst = Math.max(worst, Math.abs(a - got[s * 32 + k]!));
      }
    }
    expect(worst).toBeLessThan(1e-5);
    tf.dispose([x, c, t, g]);
  });

  it('rejects bad inputs with typed errors', () => {
    const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    const r3 = tf.zeros([4, 4, 2]) as unknown as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => adaptiveAvgPool2d(r3, 2)).toThrow(ShapeError);
    expect(() => adaptiveAvgPool2d(x, 0)).toThrow(InvalidArgumentError);
    expect(() => adaptiveAvgPool2d(x, [2, 1.5])).toThrow(InvalidArgumentError);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r3]);
  });
});
