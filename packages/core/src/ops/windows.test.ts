import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { TEST_BACKENDS, useBackend } from '../testing/backends.js';
import { regionPartition, regionReverse, windowPartition, windowReverse } from './windows.js';

/** [B, H, W, C] with value 1000·b + 100·y + 10·x + c: every element names its own position. */
function coded(b: number, h: number, w: number, c: number): tf.Tensor4D {
  const data = new Float32Array(b * h * w * c);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) data[((n * h + y) * w + x) * c + k] = 1000 * n + 100 * y + 10 * x + k;
  return tf.tensor4d(data, [b, h, w, c]);
}

describe.each(TEST_BACKENDS)('windows and regions on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('windowPartition 2x4x6x2, 2x3 windows: window (b·2 + row)·2 + col holds rows 2·row.., cols 3·col..', () => {
    const x = coded(2, 4, 6, 2);
    const before = tf.memory().numTensors;
    const w = windowPartition(x, [2, 3]);
    expect(w.shape).toEqual([8, 2, 3, 2]);
    const expected: number[] = [];
    for (let b = 0; b < 2; b++)
      for (let r = 0; r < 2; r++)
        for (let c = 0; c < 2; c++)
          for (let i = 0; i < 2; i++)
            for (let j = 0; j < 3; j++) for (let k = 0; k < 2; k++) expected.push(1000 * b + 100 * (2 * r + i) + 10 * (3 * c + j) + k);
    expect(Array.from(w.dataSync())).toEqual(expected);
    const back = windowReverse(w, [2, 3], 4, 6);
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([w, back]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('windowPartition with a square window size number (first window of 1x4x4x1, ws 2 = [[0,10],[100,110]])', () => {
    const x = coded(1, 4, 4, 1);
    const w = windowPartition(x, 2);
    expect(w.shape).toEqual([4, 2, 2, 1]);
    expect(Array.from(w.dataSync().subarray(0, 4))).toEqual([0, 10, 100, 110]);
    expect(Array.from(w.dataSync().subarray(12, 16))).toEqual([220, 230, 320, 330]);
    tf.dispose([x, w]);
  });

  it('regionPartition 1x4x6x1, nWin 2: region row·2 + col, tokens row-major (dbra.md §4)', () => {
    const x = coded(1, 4, 6, 1);
    const before = tf.memory().numTensors;
    const r = regionPartition(x, 2);
    expect(r.shape).toEqual([1, 4, 6, 1]);
    expect(Array.from(r.dataSync())).toEqual([
      [0, 10, 20, 100, 110, 120], // region 0: rows 0-1, cols 0-2
      [30, 40, 50, 130, 140, 150], // region 1: rows 0-1, cols 3-5
      [200, 210, 220, 300, 310, 320], // region 2: rows 2-3, cols 0-2
      [230, 240, 250, 330, 340, 350], // region 3
    ].flat());
    const back = regionReverse(r, 2, 4, 6);
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([r, back]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('rejects bad inputs with typed errors', () => {
    const x = coded(1, 5, 6, 1);
    const w = tf.zeros([3, 2, 2, 1]) as tf.Tensor4D;
    const r = tf.zeros([1, 4, 6, 1]) as tf.Tensor4D;
    const r3 = tf.zeros([5, 6, 1]) as unknown as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => windowPartition(x, 2)).toThrow(ShapeError); // H = 5 not divisible
    expect(() => windowPartition(x, 2)).toThrow(/divisible/);
    expect(() => windowPartition(r3, 2)).toThrow(ShapeError);
    expect(() => windowPartition(x, 0)).toThrow(InvalidArgumentError);
    expect(() => windowReverse(w, 2, 4, 4)).toThrow(ShapeError); // 3 windows, not a multiple of 4
    expect(() => windowReverse(w, 3, 6, 6)).toThrow(ShapeError); // windows are 2×2
    expect(() => regionPartition(x, 2)).toThrow(ShapeError);
    expect(() => regionReverse(r, 2, 4, 8)).toThrow(ShapeError); // token count 6 ≠ 2·4
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w, r, r3]);
  });
});
