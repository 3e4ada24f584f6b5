import * as tf from '@tensorflow/tfjs-core';
import { initializeWeights } from '@dynavit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { benchSubject } from './bench-subject.js';
import { createRegistry } from './registry.js';

/** root mean square of a float array */
const rms = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0) / a.length);

describe('what dynavit bench times', () => {
  beforeAll(() => selectBackend({ prefer: 'cpu' }));

  it('training-initialised weights (seed 0), not the zeros a model is built with: the same as initializeWeights gives', () => {
    const registry = createRegistry();
    const start = tf.memory().numTensors;
    const subject = benchSubject(registry, 'dat_fmnist');
    const fresh = registry.createModel('dat_fmnist');
    const zeros = fresh.stateDict();
    initializeWeights(fresh, 0);
    const want = fresh.stateDict();
    const got = subject.module.stateDict();
    expect([...got.keys()]).toEqual([...want.keys()]);
    for (const [key, t] of got) expect(Array.from(t.data), key).toEqual(Array.from(want.get(key)!.data));
    // dat_fmnist's first MLP: a 1×1 conv [64, 16, 1, 1], PyTorch's init U(±1/√16), rms 1/√(3·16) = 0.144, where the
    // built model has zeros
    const linear = [...got.keys()].find((k) => /mlps\.0\.linear1\.0\.weight$/.test(k))!;
    expect(got.get(linear)!.shape).toEqual([64, 16, 1, 1]);
    expect(rms(zeros.get(linear)!.data)).toBe(0);
    expect(rms(got.get(linear)!.data)).toBeCloseTo(1 / Math.sqrt(3 * 16), 1);
    subject.dispose();
    fresh.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });
});
