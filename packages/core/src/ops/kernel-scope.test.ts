import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { computeFloat32, heapBackend } from './kernel-scope.js';

describe.each(TEST_BACKENDS)('computeFloat32 on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('hands compute the inputs’ values and an output it keeps: a + 2·b, as tf computes it', () => {
    const a = tf.tensor2d(values(12, 1), [3, 4]);
    const b = tf.tensor2d(values(12, 2), [3, 4]);
    const be = tf.backend();
    // on wasm the views are the heap's (no copies); on cpu the host arrays
    expect(heapBackend(be) !== null).toBe(backend === 'wasm');
    const info = computeFloat32(be, [a, b], [3, 4], (out, [av, bv]) => {
      for (let i = 0; i < out.length; i++) out[i] = av![i]! + 2 * bv![i]!;
    });
    const y = tf.engine().makeTensorFromTensorInfo(info);
    const want = tf.tidy(() => tf.add(a, tf.mul(b, 2)));
    expect(Array.from(y.dataSync())).toEqual(Array.from(want.dataSync()));
    tf.dispose([a, b, y, want]);
  });

  it('a compute that throws leaves no data behind', () => {
    const a = tf.ones([5]);
    const be = tf.backend();
    const before = be.numDataIds();
    expect(() =>
      computeFloat32(be, [a], [5], () => {
        throw new RangeError('bad');
      }),
    ).toThrow(RangeError);
    expect(be.numDataIds()).toBe(before);
    a.dispose();
  });
});
