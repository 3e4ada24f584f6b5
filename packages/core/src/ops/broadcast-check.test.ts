import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { highRankBroadcasts } from './broadcast-check.js';

describe('highRankBroadcasts', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('names rank-5 implicit broadcasts and tiles, and passes rank-4 ones and same-shape ops', async () => {
    const a = tf.ones([2, 3, 1, 4, 5]);
    const b = tf.ones([2, 3, 6, 4, 5]);
    const c = tf.ones([3, 1, 4, 5]);
    const before = tf.memory().numTensors;
    expect(await highRankBroadcasts(() => tf.mul(a, b))).toEqual(['Multiply of [2,3,1,4,5] [2,3,6,4,5]']);
    expect(await highRankBroadcasts(() => tf.tile(a, [1, 1, 2, 1, 1]))).toEqual(['Tile of [2,3,1,4,5]']);
    expect(await highRankBroadcasts(() => tf.add(b, b))).toEqual([]);
    expect(await highRankBroadcasts(() => tf.add(c, tf.ones([3, 6, 4, 5])))).toEqual([]);
    // the same rank-4 broadcast is reported when asked for rank ≥ 4
    expect(await highRankBroadcasts(() => tf.add(c, tf.ones([3, 6, 4, 5])), 4)).toEqual(['Add of [3,1,4,5] [3,6,4,5]']);
    expect(tf.memory().numTensors).toBe(before); // fn's results are disposed
    tf.dispose([a, b, c]);
  });
});
