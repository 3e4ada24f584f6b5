import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { TEST_BACKENDS, useBackend } from '../test-utils/backends.js';
import { regionPartition, regionReverse } from './windows.js';

/** [B, H, W, C] with value 1000·b + 100·y + 10·x + c: every element names its own position. */
function coded(b: number, h: number, w: number, c: number): tf.Tensor4D {
  const data = new Float32Array(b * h * w * c);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) data[((n * h + y) * w + x) * c + k] = 1000 * n + 100 * y + 10 * x + k;
  return tf.tensor4d(data, [b, h, w, c]);
}

describe.each(TEST_BACKENDS)('regions on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('regionPartition 1x4x6x1, nWin 2: region row·2 + col, tokens row-major (dbra.md §4)', () => {
    const x = coded(1, 4, 6, 1);
    const before = tf.memory().numTensors;
    const r = regionPartition(x, 2);
    expect(r.shape).toEqual([1, 4, 6, 1]);
    expect(Array.from(r.dataSync())).toEqual(
      [
        [0, 10, 20, 100, 110, 120], // region 0: rows 0-1, cols 0-2
        [30, 40, 50, 130, 140, 150], // region 1: rows 0-1, cols 3-5
        [200, 210, 220, 300, 310, 320], // region 2: rows 2-3, cols 0-2
        [230, 240, 250, 330, 340, 350], // region 3
      ].flat(),
    );
    const back = regionReverse(r, 2, 4, 6);
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([r, back]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('rejects bad inputs with typed errors', () => {
    const x = coded(1, 5, 6, 1);
    const r = tf.zeros([1, 4, 6, 1]) as tf.Tensor4D;
    const r3 = tf.zeros([5, 6, 1]) as unknown as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => regionPartition(x, 2)).toThrow(ShapeError); // H = 5 not divisible
    expect(() => regionPartition(x, 2)).toThrow(/divisible/);
    expect(() => regionPartition(r3, 2)).toThrow(ShapeError);
    expect(() => regionPartition(r, 0)).toThrow(InvalidArgumentError);
    expect(() => regionReverse(r, 2, 4, 8)).toThrow(ShapeError); // token count 6 ≠ 2·4
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r, r3]);
  });
});
