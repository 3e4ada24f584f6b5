import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../test-utils/backends.js';
import { addMacs, countMacs, countMacsAsync } from './flops.js';
import { Linear } from './layers.js';

describe('countMacs / countMacsAsync', () => {
  beforeAll(() => useBackend('cpu'));

  it('counts what the modules report during one pass: a Linear 4→3 on 2 rows is 2·4·3', () => {
    const lin = new Linear(4, 3);
    const x = tf.ones([2, 4]);
    const { result, macs } = countMacs(() => lin.forward(x));
    expect(macs).toBe(24);
    tf.dispose([x, result]);
    lin.dispose();
  });

  it('keeps counting across awaits until the promise settles; a rejection hands the count back too', async () => {
    const lin = new Linear(4, 3);
    const x = tf.ones([2, 4]);
    const { result, macs } = await countMacsAsync(async () => {
      const a = lin.forward(x);
      await a.data(); // a read back mid-pass, as a detector's NMS does
      const b = lin.forward(x);
      addMacs(5);
      return [a, b];
    });
    expect(macs).toBe(2 * 24 + 5);
    tf.dispose(result);
    // a failed inner count hands the count back to the outer one, which sees none of the inner's
    const outer = await countMacsAsync(async () => {
      addMacs(1);
      await expect(
        countMacsAsync(async () => {
          addMacs(100);
          await Promise.resolve();
          throw new Error('pass failed');
        }),
      ).rejects.toThrow('pass failed');
      addMacs(2);
    });
    expect(outer.macs).toBe(3);
    x.dispose();
    lin.dispose();
  });
});
