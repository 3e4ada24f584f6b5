import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { settleTensors } from './profile.js';

describe('settleTensors', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('reads every tensor of a nested container with data(), then disposes them all', async () => {
    const start = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2]);
    const b = tf.tensor2d([[3]]);
    const c = tf.scalar(4);
    const reads = [a, b, c].map((t) => vi.spyOn(t, 'data'));
    await settleTensors([a, { b, nested: [c] }]);
    for (const r of reads) expect(r).toHaveBeenCalledTimes(1);
    expect([a, b, c].map((t) => t.isDisposed)).toEqual([true, true, true]);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('disposes them when a read fails, and passes the failure on', async () => {
    const start = tf.memory().numTensors;
    const a = tf.tensor1d([1, 2]);
    const b = tf.tensor1d([3]);
    vi.spyOn(b, 'data').mockRejectedValue(new Error('device lost'));
    await expect(settleTensors([a, b])).rejects.toThrow('device lost');
    expect([a.isDisposed, b.isDisposed]).toEqual([true, true]);
    expect(tf.memory().numTensors).toBe(start);
  });
});
