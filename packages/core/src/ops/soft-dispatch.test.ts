// full @tensorflow/tfjs first: it registers the gradient functions the gradient case needs
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { SOFT_CLUSTER_KERNEL, softCluster, softDispatch } from './soft-dispatch.js';

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe.each(['cpu', 'wasm'])('softDispatch on %s', (backend) => {
  it('a hand-computed case: each pixel softmaxes its own column of logits over the slots', async () => {
    await tf.setBackend(backend);
    // 2 slots, 3 pixels: logits (0, ln 3) → weights (¼, ¾); (0, 0) → (½, ½); (ln 3, 0) → (¾, ¼)
    const l3 = Math.log(3);
    const logits = tf.tensor3d([0, 0, l3, l3, 0, 0], [1, 2, 3]);
    const slots = tf.tensor3d([4, 8, -4, 0], [1, 2, 2]); // slot 0 (4, 8), slot 1 (−4, 0)
    const want = [-2, 2, 0, 4, 2, 6];
    for (const path of ['fused', 'composite'] as const) {
      const out = softDispatch(logits, slots, { path });
      expect(out.shape).toEqual([1, 3, 2]);
      const got = out.dataSync();
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
      out.dispose();
    }
    tf.dispose([logits, slots]);
  });

  it("the fused kernel equals the composite (GLNet's 64 slots, odd sizes, large logits)", async () => {
    await tf.setBackend(backend);
    for (const [b, s, l, c] of [
      [1, 64, 196, 64],
      [2, 5, 7, 3],
      [1, 1, 4, 6],
    ] as const) {
      const before = tf.memory().numTensors;
      // logits up to ±40: a softmax that does not subtract its maximum overflows
      const logits = tf.randomUniform([b, s, l], -40, 40, 'float32', 1) as tf.Tensor3D;
      const slots = tf.randomNormal([b, s, c], 0, 1, 'float32', 2) as tf.Tensor3D;
      const fused = softDispatch(logits, slots, { path: 'fused' });
      const composite = softDispatch(logits, slots, { path: 'composite' });
      expect(maxAbs(fused, composite), `${b}x${s}x${l}x${c}`).toBeLessThan(1e-6);
      // inference: the fused kernel on cpu, the composite on wasm, bit for bit
      const auto = softDispatch(logits, slots);
      expect(auto.dataSync()).toEqual((backend === 'cpu' ? fused : composite).dataSync());
      tf.dispose([logits, slots, fused, composite, auto]);
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('under a gradient the composite runs: gradients equal those of the explicit composite', async () => {
    await tf.setBackend(backend);
    const logits = tf.randomNormal([2, 4, 6], 0, 2, 'float32', 3) as tf.Tensor3D;
    const slots = tf.randomNormal([2, 4, 5], 0, 1, 'float32', 4) as tf.Tensor3D;
    const w = tf.randomNormal([2, 6, 5], 0, 1, 'float32', 5);
    const loss = (path?: 'composite') => (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(softDispatch(a as tf.Tensor3D, b as tf.Tensor3D, path ? { path } : {}), w)) as tf.Scalar;
    const [ga, gb] = tf.grads(loss())([logits, slots]);
    const [ra, rb] = tf.grads(loss('composite'))([logits, slots]);
    expect(maxAbs(ga!, ra!)).toBe(0);
    expect(maxAbs(gb!, rb!)).toBe(0);
    expect(maxAbs(ga!, tf.zerosLike(ga!))).toBeGreaterThan(0);
    tf.dispose([logits, slots, w, ga!, gb!, ra!, rb!]);
  });

  it('bad input: mismatched slots, a wrong rank or dtype', async () => {
    await tf.setBackend(backend);
    tf.tidy(() => {
      const logits = tf.zeros([1, 4, 6]) as tf.Tensor3D;
      expect(() => softDispatch(logits, tf.zeros([1, 3, 2]) as tf.Tensor3D)).toThrow(ShapeError);
      expect(() =>
        softDispatch(tf.zeros([4, 6]) as unknown as tf.Tensor3D, tf.zeros([1, 4, 2]) as tf.Tensor3D),
      ).toThrow(ShapeError);
      expect(() => softDispatch(logits, tf.zeros([1, 4, 2], 'int32') as tf.Tensor3D)).toThrow(InvalidArgumentError);
    });
  });
});

describe.each(['cpu', 'wasm'])('softCluster on %s', (backend) => {
  it('a hand-computed case: each slot softmaxes its own row of logits over the pixels', async () => {
    await tf.setBackend(backend);
    // 2 slots, 3 pixels: slot 0 logits (0, 0, ln 2) → weights (¼, ¼, ½); slot 1 (ln 3, 0, −∞-ish) → (¾, ¼, 0)
    const l2 = Math.log(2);
    const l3 = Math.log(3);
    const logits = tf.tensor3d([0, 0, l2, l3, 0, -100], [1, 2, 3]);
    const tokens = tf.tensor3d([4, 0, 0, 8, -2, 2], [1, 3, 2]); // pixels (4, 0), (0, 8), (−2, 2)
    const want = [0, 3, 3, 2];
    for (const path of ['fused', 'composite'] as const) {
      const out = softCluster(logits, tokens, { path });
      expect(out.shape).toEqual([1, 2, 2]);
      const got = out.dataSync();
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5);
      out.dispose();
    }
    tf.dispose([logits, tokens]);
  });

  it('the fused kernel equals the composite (GLNet-4G stage 0: 64 slots over 3136 pixels; odd sizes; large logits)', async () => {
    await tf.setBackend(backend);
    for (const [b, s, l, c] of [
      [1, 64, 3136, 64],
      [2, 5, 7, 3],
      [1, 1, 4, 6],
    ] as const) {
      const before = tf.memory().numTensors;
      const logits = tf.randomUniform([b, s, l], -40, 40, 'float32', 7) as tf.Tensor3D;
      const tokens = tf.randomNormal([b, l, c], 0, 1, 'float32', 8) as tf.Tensor3D;
      const fused = softCluster(logits, tokens, { path: 'fused' });
      const composite = softCluster(logits, tokens, { path: 'composite' });
      expect(maxAbs(fused, composite), `${b}x${s}x${l}x${c}`).toBeLessThan(1e-5);
      // inference: the fused kernel on cpu, the composite on wasm, bit for bit
      const auto = softCluster(logits, tokens);
      expect(auto.dataSync()).toEqual((backend === 'cpu' ? fused : composite).dataSync());
      tf.dispose([logits, tokens, fused, composite, auto]);
      expect(tf.memory().numTensors).toBe(before);
    }
    const x = tf.zeros([1, 2, 3]) as tf.Tensor3D;
    const t = tf.zeros([1, 3, 2]) as tf.Tensor3D;
    const names = (await tf.profile(() => softCluster(x, t))).kernelNames;
    expect(names.includes(SOFT_CLUSTER_KERNEL)).toBe(backend === 'cpu');
    tf.dispose([x, t]);
  });

  it('under a gradient the composite runs: gradients equal those of the explicit composite', async () => {
    await tf.setBackend(backend);
    const logits = tf.randomNormal([2, 4, 6], 0, 2, 'float32', 13) as tf.Tensor3D;
    const tokens = tf.randomNormal([2, 6, 5], 0, 1, 'float32', 14) as tf.Tensor3D;
    const w = tf.randomNormal([2, 4, 5], 0, 1, 'float32', 15);
    const loss = (path?: 'composite') => (a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(softCluster(a as tf.Tensor3D, b as tf.Tensor3D, path ? { path } : {}), w)) as tf.Scalar;
    const [ga, gb] = tf.grads(loss())([logits, tokens]);
    const [ra, rb] = tf.grads(loss('composite'))([logits, tokens]);
    expect(maxAbs(ga!, ra!)).toBe(0);
    expect(maxAbs(gb!, rb!)).toBe(0);
    expect(maxAbs(ga!, tf.zerosLike(ga!))).toBeGreaterThan(0);
    tf.dispose([logits, tokens, w, ga!, gb!, ra!, rb!]);
  });

  it('bad input: mismatched tokens, a wrong rank, dtype or path', async () => {
    await tf.setBackend(backend);
    tf.tidy(() => {
      const logits = tf.zeros([1, 4, 6]) as tf.Tensor3D;
      expect(() => softCluster(logits, tf.zeros([1, 5, 2]) as tf.Tensor3D)).toThrow(ShapeError);
      expect(() => softCluster(logits, tf.zeros([2, 6, 2]) as tf.Tensor3D)).toThrow(ShapeError);
      expect(() => softCluster(tf.zeros([4, 6]) as unknown as tf.Tensor3D, tf.zeros([1, 6, 2]) as tf.Tensor3D)).toThrow(
        ShapeError,
      );
      expect(() => softCluster(logits, tf.zeros([1, 6, 2], 'int32') as tf.Tensor3D)).toThrow(InvalidArgumentError);
      expect(() =>
        softCluster(logits, tf.zeros([1, 6, 2]) as tf.Tensor3D, { path: 'gpu' } as unknown as { path: 'fused' }),
      ).toThrow(/path must be 'fused' or 'composite'/);
    });
  });
});
