import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputSizeError, InvalidArgumentError, ShapeError } from '../errors.js';
import { useBackend } from '../test-utils/backends.js';
import { Toy } from '../test-utils/toy.js';
import { stageSizes } from './staged-model.js';

describe('stageSizes', () => {
  it('overlapping: ⌈·/2⌉ per stride-2 conv (two in the stem); patchify: floors', () => {
    expect(stageSizes(224, true)).toEqual([56, 28, 14, 7]);
    expect(stageSizes(225, true)).toEqual([57, 29, 15, 8]);
    expect(stageSizes(225, false)).toEqual([56, 28, 14, 7]);
    expect(stageSizes(31, false)).toEqual([7, 3, 1, 0]);
    expect(stageSizes(10, true, 2)).toEqual([3, 2]);
  });
});

describe('StagedModel', () => {
  beforeAll(() => useBackend('cpu'));

  it('forward = forwardHead(forwardFeatures); a backbone applies its output norms; nothing leaks', () => {
    const cls = new Toy(4, 3);
    const dense = new Toy(4, 0, true);
    dense.loadStateDict(new Map(cls.stateDict()), { strict: false });
    const x = tf.randomNormal([2, 17, 9, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const feats = cls.forwardFeatures(x);
    expect(feats.map((f) => f.shape)).toEqual([
      [2, 5, 3, 4],
      [2, 3, 2, 4],
    ]);
    expect(cls.featureSizes(17)).toEqual([5, 3]);
    const viaHead = cls.forwardHead(feats);
    const logits = cls.forward(x);
    expect(Array.from(logits.dataSync())).toEqual(Array.from(viaHead.dataSync()));
    const dfeats = dense.forwardFeatures(x);
    // channel LayerNorm at init (weight 1, bias 0): every pixel's channels have mean ≈ 0
    expect(tf.tidy(() => tf.max(tf.abs(tf.mean(dfeats[1]!, 3))).dataSync()[0]!)).toBeLessThan(1e-5);
    tf.dispose([...feats, viaHead, logits, ...dfeats]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    cls.dispose();
    dense.dispose();
  });

  it('typed errors: wrong rank or channels, too small an input, a head on a backbone', () => {
    const cls = new Toy(4, 3);
    const dense = new Toy(4, 0, true);
    expect(cls.minInputSize).toBe(1);
    expect(() => cls.forward(tf.zeros([1, 8, 8]) as unknown as tf.Tensor4D)).toThrow(ShapeError);
    expect(() => cls.forward(tf.zeros([1, 8, 8, 4]) as tf.Tensor4D)).toThrow(/3 channels \(RGB\)/);
    expect(() => cls.forward(tf.zeros([1, 0, 8, 3]) as tf.Tensor4D)).toThrow(InputSizeError);
    expect(() => dense.forward(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).toThrow(InvalidArgumentError);
    expect(() => dense.forwardHead([])).toThrow(/dense backbone/);
    cls.dispose();
    dense.dispose();
  });
});
