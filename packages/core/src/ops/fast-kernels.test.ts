// `@tensorflow/tfjs-core`'s Node (CJS) bundle registers no gradient functions; importing the full
// `@tensorflow/tfjs` (a devDependency) registers them on the same global engine. Must come first.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, useBackend } from '../test-utils/backends.js';
import { registerFastKernels, SPLIT_MIN_MACS, unregisterFastKernels } from './fast-kernels.js';

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const dataIds = () => tf.engine().backend.numDataIds();

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA?: boolean;
  transposeB?: boolean;
  /** whether the product is large enough to be split (the wrapper's domain) */
  split: boolean;
}

// shapes of the models' attention products, both sides of the threshold, transposes, broadcast batches
const CASES: Case[] = [
  {
    name: 'DAT-T++ stage 1 (2 heads, 3136 queries · 49 keys), q·kᵀ',
    a: [2, 3136, 32],
    b: [2, 49, 32],
    transposeB: true,
    split: true,
  },
  { name: 'GLMix slots · tokens, 4-D batch', a: [1, 2, 64, 32], b: [1, 2, 32, 3136], split: true },
  { name: 'transposed a', a: [3, 48, 200], b: [3, 48, 96], transposeA: true, split: true },
  { name: 'both transposed', a: [2, 100, 120], b: [2, 90, 100], transposeA: true, transposeB: true, split: true },
  { name: 'a broadcast over the batch of b', a: [1, 200, 64], b: [5, 64, 50], split: true },
  { name: 'b broadcast over the batch of a (rank 2)', a: [4, 300, 40], b: [40, 60], split: true },
  { name: '7×7 windows (64 × 49·32·49): stays batched', a: [64, 49, 32], b: [64, 32, 49], split: false },
  { name: 'a single matrix: the backend kernel', a: [1, 400, 64], b: [1, 64, 400], split: false },
];

function product(c: Case, seed: number): { shape: number[]; data: Float32Array } {
  const before = tf.memory().numTensors;
  const ids = dataIds();
  const a = tf.tensor(values(numel(c.a), seed), c.a);
  const b = tf.tensor(values(numel(c.b), seed + 1), c.b);
  const out = tf.matMul(a, b, c.transposeA, c.transposeB);
  const r = { shape: out.shape, data: out.dataSync() as Float32Array };
  tf.dispose([a, b, out]);
  expect(tf.memory().numTensors).toBe(before);
  expect(dataIds(), 'backend buffers left behind').toBe(ids);
  return r;
}

describe('fast kernels on wasm, each against the backend kernel it wraps', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    unregisterFastKernels();
  });
  afterAll(() => {
    unregisterFastKernels();
  });

  it('wraps BatchMatMul once, on wasm only, and puts the original back', () => {
    const original = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc;
    expect(registerFastKernels('cpu')).toEqual([]);
    expect(registerFastKernels()).toEqual([tf.BatchMatMul]);
    expect(registerFastKernels()).toEqual([]);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).not.toBe(original);
    expect(unregisterFastKernels()).toEqual([tf.BatchMatMul]);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).toBe(original);
    expect(unregisterFastKernels()).toEqual([]);
  });

  for (const [i, c] of CASES.entries())
    it(`BatchMatMul, ${c.name}: the split products equal the batched kernel (float32 summation order only)`, () => {
      const [M, K] = c.transposeA ? [c.a.at(-1)!, c.a.at(-2)!] : [c.a.at(-2)!, c.a.at(-1)!];
      const N = c.transposeB ? c.b.at(-2)! : c.b.at(-1)!;
      const batch = Math.max(numel(c.a.slice(0, -2)), numel(c.b.slice(0, -2)));
      expect(batch >= 2 && M * K * N >= SPLIT_MIN_MACS, 'the case is where it claims to be').toBe(c.split);
      unregisterFastKernels();
      const want = product(c, 10 + i);
      registerFastKernels();
      const got = product(c, 10 + i);
      unregisterFastKernels();
      expect(got.shape).toEqual(want.shape);
      // each output sums K products of values in [-1, 1): float32 rounding of a different order only
      expect(maxAbsDiff(got.data, want.data)).toBeLessThanOrEqual(1e-5 * K);
      if (!c.split) expect(Array.from(got.data)).toEqual(Array.from(want.data));
    });

  it('BatchMatMul gradients through the split products equal the batched kernel’s', () => {
    const c = CASES[0]!;
    const grads = () => {
      const a = tf.tensor(values(numel(c.a), 3), c.a);
      const b = tf.tensor(values(numel(c.b), 4), c.b);
      const w = tf.tensor(values(c.a[0]! * c.a[1]! * c.b[1]!, 5), [c.a[0]!, c.a[1]!, c.b[1]!]);
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, false, true), w)))([
        a,
        b,
      ]);
      const r = [ga!.dataSync().slice(), gb!.dataSync().slice()];
      tf.dispose([a, b, w, ga!, gb!]);
      return r;
    };
    unregisterFastKernels();
    const want = grads();
    registerFastKernels();
    const before = tf.memory().numTensors;
    const got = grads();
    expect(tf.memory().numTensors).toBe(before);
    unregisterFastKernels();
    // dL/da sums over the 49 keys, dL/db over the 3136 queries
    expect(maxAbsDiff(got[0]!, want[0]!)).toBeLessThanOrEqual(1e-5 * 49);
    expect(maxAbsDiff(got[1]!, want[1]!)).toBeLessThanOrEqual(1e-5 * 3136);
  });
});
