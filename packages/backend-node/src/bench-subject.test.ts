import * as tf from '@tensorflow/tfjs-core';
import { initializeWeights } from '@dynavit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { benchSubject } from './bench-subject.js';
import { createRegistry } from './registry.js';

/** a state-dict tensor's values as numbers */
const nums = (t: { data: unknown }) => Array.from(t.data as Float32Array);
/** root mean square of a float array */
const rms = (a: { data: unknown }) => {
  const v = nums(a);
  return Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
};

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
    for (const [key, t] of got) expect(nums(t), key).toEqual(nums(want.get(key)!));
    // dat_fmnist's first MLP: a 1×1 conv [64, 16, 1, 1], PyTorch's init U(±1/√16), rms 1/√(3·16) = 0.144, where the
    // built model has zeros
    const linear = [...got.keys()].find((k) => /mlps\.0\.linear1\.0\.weight$/.test(k))!;
    expect(got.get(linear)!.shape).toEqual([64, 16, 1, 1]);
    expect(rms(zeros.get(linear)!)).toBe(0);
    expect(rms(got.get(linear)!)).toBeCloseTo(1 / Math.sqrt(3 * 16), 1);
    subject.dispose();
    fresh.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('under a head too: the segmentor and the detector initialised, the detector then given its certain class 0', () => {
    const registry = createRegistry();
    const start = tf.memory().numTensors;
    for (const head of ['upernet_ade20k', 'maskrcnn_coco']) {
      const subject = benchSubject(registry, 'debi_tiny_seg', { head });
      const sd = subject.module.stateDict();
      const keys = [...sd.keys()];
      // the backbone's first convolution and the head's: no longer zero
      const conv = (inBackbone: boolean) =>
        keys.find((k) => k.startsWith('backbone.') === inBackbone && sd.get(k)!.shape.length === 4)!;
      for (const k of [conv(true), conv(false)]) expect(rms(sd.get(k)!), k).toBeGreaterThan(0);
      if (head === 'maskrcnn_coco') {
        // softmax over 80 classes and the background: class 0 at +12, the others at −12 (set after init)
        const bias = nums(sd.get(keys.find((k) => k.endsWith('.fc_cls.bias'))!)!);
        expect(bias.length).toBe(81);
        expect(bias[0]).toBe(12);
        expect(bias.slice(1).every((v) => v === -12)).toBe(true);
      }
      subject.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  });
});
