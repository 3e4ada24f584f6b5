import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend } from '../testing/backends.js';
import { need, readFixture } from './__fixtures__/read-fixture.js';
import { neighborhoodAggregate, neighborhoodAttention2d, neighborhoodAxisTables, neighborhoodLogits } from './neighborhood-attention.js';

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const golden = readFixture('natten_unit.io.safetensors');
/** dat.md §9.3: (B, M, H, W, D, k) per group; logits = q·k + rpb (q not pre-scaled), out = softmax·V. */
const GROUPS: Array<[string, number]> = [
  ['a', 7],
  ['b', 7],
  ['c', 3],
  ['d', 5],
];

describe('neighborhoodAxisTables (hand-computed NATTEN windows)', () => {
  it('L=9 k=7: windows shift inward at the borders, bias = true offset + k − 1', () => {
    const { key, bias } = neighborhoodAxisTables(9, 7);
    // start(i) = clamp(i − 3, 0, 2) = 0,0,0,0,1,2,2,2,2
    const starts = [0, 0, 0, 0, 1, 2, 2, 2, 2];
    for (let i = 0; i < 9; i++) {
      expect(Array.from(key.subarray(i * 7, i * 7 + 7))).toEqual([0, 1, 2, 3, 4, 5, 6].map((a) => starts[i]! + a));
    }
    expect(Array.from(bias.subarray(0, 7))).toEqual([6, 7, 8, 9, 10, 11, 12]); // query 0 sees keys 0..6: offsets 0..6
    expect(Array.from(bias.subarray(4 * 7, 5 * 7))).toEqual([3, 4, 5, 6, 7, 8, 9]); // centred: offsets −3..3
    expect(Array.from(bias.subarray(8 * 7, 9 * 7))).toEqual([0, 1, 2, 3, 4, 5, 6]); // query 8 sees 2..8: offsets −6..0
  });

  it('L=7 k=3 dilation 2: interleaved sub-sequences 0,2,4,6 and 1,3,5', () => {
    const { key, bias } = neighborhoodAxisTables(7, 3, 2);
    expect(Array.from(key.subarray(0, 3))).toEqual([0, 2, 4]); // i=0: t=0, start clamp(−1,0,1)=0
    expect(Array.from(bias.subarray(0, 3))).toEqual([2, 3, 4]);
    expect(Array.from(key.subarray(3 * 3, 4 * 3))).toEqual([1, 3, 5]); // i=3: t=1 of (1,3,5), start 0
    expect(Array.from(bias.subarray(3 * 3, 4 * 3))).toEqual([1, 2, 3]);
    expect(Array.from(key.subarray(5 * 3, 6 * 3))).toEqual([1, 3, 5]); // i=5: t=2, start clamp(1,0,0)=0
    expect(Array.from(bias.subarray(5 * 3, 6 * 3))).toEqual([0, 1, 2]);
    expect(Array.from(key.subarray(6 * 3, 7 * 3))).toEqual([2, 4, 6]); // i=6: t=3 of (0,2,4,6), start 1
    expect(Array.from(bias.subarray(6 * 3, 7 * 3))).toEqual([0, 1, 2]);
  });
});

describe.each(TEST_BACKENDS)('neighborhood attention on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  for (const [g, k] of GROUPS) {
    it(`matches natten_unit group ${g} (k=${k}): logits and out`, () => {
      const t = (name: string) => {
        const f = need(golden, `${g}.${name}`);
        return tf.tensor(f.data, f.shape);
      };
      const q = t('query') as tf.Tensor5D;
      const key = t('key') as tf.Tensor5D;
      const v = t('value') as tf.Tensor5D;
      const rpb = t('rpb') as tf.Tensor3D;
      const refLogits = t('logits');
      const refOut = t('out');
      const before = tf.memory().numTensors;
      const res = neighborhoodAttention2d(q, key, v, rpb, k, { returnLogits: true });
      expect(res.out.shape).toEqual(q.shape);
      expect(res.logits?.shape).toEqual(refLogits.shape);
      const eLogits = maxAbsDiff(res.logits!.dataSync(), refLogits.dataSync());
      const eOut = maxAbsDiff(res.out.dataSync(), refOut.dataSync());
      console.log(`[NA ${backend}] group ${g} [${q.shape}] k=${k}: logits ${eLogits.toExponential(2)}, out ${eOut.toExponential(2)}`);
      expect(eLogits).toBeLessThan(1e-5);
      expect(eOut).toBeLessThan(1e-5);
      tf.dispose([res.out, res.logits!]);
      expect(tf.memory().numTensors).toBe(before);

      // The two halves separately: QK+RPB, and AV applied to softmax(golden logits).
      const logits = neighborhoodLogits(q, key, rpb, k);
      expect(maxAbsDiff(logits.dataSync(), refLogits.dataSync())).toBeLessThan(1e-5);
      const p = tf.softmax(refLogits) as tf.Tensor5D;
      const out = neighborhoodAggregate(p, v, k);
      expect(maxAbsDiff(out.dataSync(), refOut.dataSync())).toBeLessThan(1e-5);
      tf.dispose([logits, p, out, q, key, v, rpb, refLogits, refOut]);
    });
  }

  it('without rpb, logits are the plain window dot products (group b)', () => {
    const f = (name: string) => need(golden, `b.${name}`);
    const t = (name: string): tf.Tensor => tf.tensor(f(name).data, f(name).shape);
    const q = t('query') as tf.Tensor5D;
    const key = t('key') as tf.Tensor5D;
    const rpb = t('rpb') as tf.Tensor3D;
    const withBias = neighborhoodLogits(q, key, rpb, 7);
    const noBias = neighborhoodLogits(q, key, null, 7);
    // For a 7×7 map and k = 7 every query's window is the whole map, slot = key position, and the
    // bias index is (key − query) + 6: check logits − bias against that directly.
    const [B, M, H, W] = [2, 3, 7, 7];
    const nb = noBias.dataSync();
    const wb = withBias.dataSync();
    const r = f('rpb').data;
    let err = 0;
    for (let b = 0; b < B; b++)
      for (let m = 0; m < M; m++)
        for (let i = 0; i < H; i++)
          for (let j = 0; j < W; j++)
            for (let a = 0; a < 7; a++)
              for (let c = 0; c < 7; c++) {
                const o = ((((b * M + m) * H + i) * W + j) * 7 + a) * 7 + c;
                const bias = r[(m * 13 + (a - i + 6)) * 13 + (c - j + 6)]!;
                err = Math.max(err, Math.abs(wb[o]! - nb[o]! - bias));
              }
    expect(err).toBeLessThan(1e-5);
    tf.dispose([q, key, rpb, withBias, noBias]);
  });

  it('dilation 2 equals dilation 1 on each interleaved sub-grid (11×9 map, k=3)', () => {
    const [B, M, H, W, D, k, d] = [1, 2, 11, 9, 4, 3, 2];
    const mk = (seed: number) => tf.tensor5d(values(B * M * H * W * D, seed), [B, M, H, W, D]);
    const q = mk(1);
    const key = mk(2);
    const v = mk(3);
    const rpb = tf.tensor3d(values(M * (2 * k - 1) ** 2, 4), [M, 2 * k - 1, 2 * k - 1]);
    const before = tf.memory().numTensors;
    const dil = neighborhoodAttention2d(q, key, v, rpb, k, { dilation: d, returnLogits: true });
    let err = 0;
    for (let gh = 0; gh < d; gh++)
      for (let gw = 0; gw < d; gw++) {
        tf.tidy(() => {
          const rows = tf.range(gh, H, d, 'int32');
          const cols = tf.range(gw, W, d, 'int32');
          const sub = (x: tf.Tensor) => tf.gather(tf.gather(x, rows, 2), cols, 3) as tf.Tensor5D;
          const ref = neighborhoodAttention2d(sub(q), sub(key), sub(v), rpb, k, { returnLogits: true });
          err = Math.max(err, maxAbsDiff(sub(dil.out).dataSync(), ref.out.dataSync()));
          err = Math.max(err, maxAbsDiff(sub(dil.logits!).dataSync(), ref.logits!.dataSync()));
        });
      }
    expect(err).toBeLessThan(1e-6);
    tf.dispose([dil.out, dil.logits!]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, key, v, rpb]);
  });

  it('rejects bad inputs with typed errors', () => {
    const x = tf.zeros([1, 2, 6, 8, 4]) as tf.Tensor5D;
    const big = tf.zeros([1, 2, 9, 9, 4]) as tf.Tensor5D;
    const rpb7 = tf.zeros([2, 13, 13]) as tf.Tensor3D;
    const rpbBad = tf.zeros([2, 11, 13]) as tf.Tensor3D;
    const rank4 = tf.zeros([2, 9, 9, 4]) as unknown as tf.Tensor5D;
    const before = tf.memory().numTensors;
    // H = 6 < k = 7: NATTEN would need padding; the error says so.
    expect(() => neighborhoodAttention2d(x, x, x, rpb7, 7)).toThrow(InvalidArgumentError);
    expect(() => neighborhoodAttention2d(x, x, x, rpb7, 7)).toThrow(/pad/i);
    expect(() => neighborhoodAttention2d(big, big, big, rpb7, 7, { dilation: 2 })).toThrow(InvalidArgumentError); // 9 < 14
    expect(() => neighborhoodAttention2d(big, big, big, rpbBad, 7)).toThrow(ShapeError);
    expect(() => neighborhoodAttention2d(big, big, big, null, 6)).toThrow(InvalidArgumentError); // even k
    expect(() => neighborhoodAttention2d(big, x, big, null, 3)).toThrow(ShapeError); // k shape ≠ q shape
    expect(() => neighborhoodLogits(rank4, rank4, null, 3)).toThrow(ShapeError);
    expect(() => neighborhoodAggregate(tf.zeros([1, 2, 9, 9, 8]) as tf.Tensor5D, big, 3)).toThrow(ShapeError); // k² = 9 ≠ 8
    expect(tf.memory().numTensors).toBe(before + 1); // the inline attn argument above
    tf.dispose([x, big, rpb7, rpbBad, rank4]);
  });
});
