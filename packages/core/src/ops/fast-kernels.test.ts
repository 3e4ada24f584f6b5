// `@tensorflow/tfjs-core`'s Node (CJS) bundle registers no gradient functions; importing the full
// `@tensorflow/tfjs` (a devDependency) registers them on the same global engine. Must come first.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, useBackend, values } from '../test-utils/backends.js';
import { SIMD_MAX_BYTES, simdBatchMatMul, simdModule, simdTransposedProduct } from './batch-matmul-simd.js';
import {
  collapsePermutation,
  registerFastKernels,
  SIMD_MAX_MACS,
  SPLIT_MIN_MACS,
  unregisterFastKernels,
} from './fast-kernels.js';
import { registerGradientKernels } from './gradient-kernels.js';
import { withChunkValues, withoutSimd } from './im2col.js';

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const dataIds = () => tf.engine().backend.numDataIds();

interface Case {
  name: string;
  a: number[];
  b: number[];
  transposeA?: boolean;
  transposeB?: boolean;
  /**
   * the wrapper's path: `simd` (a batch of products below SIMD_MAX_MACS each, or one small transposed
   * product: the SIMD module), `split` (a batch of larger products: one XNNPACK product each),
   * `transposed` (one large product with a transposed operand: transposed first), `original` (the
   * backend kernel, unchanged)
   */
  path: 'simd' | 'split' | 'transposed' | 'original';
}

// shapes of the models' attention products, both sides of the thresholds, transposes, broadcast batches,
// sizes that leave 16-, 4- and 1-column tails, and batches larger than the SIMD module's memory budget
const CASES: Case[] = [
  {
    name: 'DAT-T++ stage 1 (2 heads, 3136 queries · 49 keys), q·kᵀ',
    a: [2, 3136, 32],
    b: [2, 49, 32],
    transposeB: true,
    path: 'simd',
  },
  { name: 'GLMix slots · tokens, 4-D batch', a: [1, 2, 64, 32], b: [1, 2, 32, 3136], path: 'simd' },
  { name: 'transposed a', a: [3, 48, 200], b: [3, 48, 96], transposeA: true, path: 'simd' },
  { name: 'both transposed', a: [2, 100, 120], b: [2, 90, 100], transposeA: true, transposeB: true, path: 'simd' },
  { name: 'a broadcast over the batch of b', a: [1, 200, 64], b: [5, 64, 50], path: 'simd' },
  { name: 'b broadcast over the batch of a (rank 2)', a: [4, 300, 40], b: [40, 60], path: 'simd' },
  { name: '7×7 windows (64 × 49·32·49)', a: [64, 49, 32], b: [64, 32, 49], path: 'simd' },
  { name: 'GLMix slot attention (384 × 64·16·64)', a: [384, 64, 16], b: [384, 16, 64], path: 'simd' },
  { name: 'N = 33: a 16-, a 16- and a 1-column pass', a: [3, 5, 7], b: [3, 7, 33], path: 'simd' },
  { name: 'N = 19 and N = 7: 16 + 3 and 4 + 3 columns', a: [2, 3, 9], b: [2, 9, 19], path: 'simd' },
  { name: 'N = 7, bᵀ', a: [2, 4, 6], b: [2, 7, 6], transposeB: true, path: 'simd' },
  { name: '1×1 · 1×1 matrices', a: [5, 1, 1], b: [5, 1, 1], path: 'simd' },
  { name: 'a batch over the module’s memory budget: 3 chunks', a: [700, 64, 64], b: [700, 64, 64], path: 'simd' },
  {
    name: 'a shared a over the memory budget, transposed b',
    a: [1, 128, 64],
    b: [900, 128, 64],
    transposeB: true,
    path: 'simd',
  },
  { name: 'large products (16.8 M MACs each): split', a: [2, 1024, 128], b: [2, 128, 128], path: 'split' },
  {
    name: 'large products, bᵀ: split',
    a: [2, 1024, 128],
    b: [2, 128, 128],
    transposeB: true,
    path: 'split',
  },
  { name: 'a single matrix: the backend kernel', a: [1, 400, 64], b: [1, 64, 400], path: 'original' },
  {
    name: 'one product with aᵀ (a linear layer’s weight gradient)',
    a: [1, 2048, 64],
    b: [1, 2048, 96],
    transposeA: true,
    path: 'transposed',
  },
  {
    name: 'one rank-2 product with bᵀ (a linear layer’s input gradient)',
    a: [300, 64],
    b: [80, 64],
    transposeB: true,
    path: 'transposed',
  },
  {
    name: 'one product, both transposed',
    a: [1, 50, 120],
    b: [1, 90, 50],
    transposeA: true,
    transposeB: true,
    path: 'transposed',
  },
  {
    name: 'one small product with aᵀ',
    a: [1, 20, 10],
    b: [1, 20, 30],
    transposeA: true,
    path: 'simd',
  },
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

/**
 * `run` once on wasm's own kernels (`want`) and once through the fast kernels (`got`, then `extra` when
 * given): the fast runs leave no tensor and no backend buffer behind. The fast kernels end unregistered.
 */
function againstOwnKernels<T>(run: () => T, extra?: () => T): { want: T; got: T; extra?: T } {
  unregisterFastKernels();
  const want = run();
  registerFastKernels();
  const before = tf.memory().numTensors;
  const ids = dataIds();
  const got = run();
  const more = extra?.();
  expect(tf.memory().numTensors).toBe(before);
  expect(dataIds(), 'backend buffers left behind').toBe(ids);
  unregisterFastKernels();
  return more === undefined ? { want, got } : { want, got, extra: more };
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
    const WRAPPED = [tf.BatchMatMul, tf.Conv2DBackpropInput, tf.SplitV, tf.Transpose, tf.Sum, tf.Tile];
    const original = tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc;
    expect(registerFastKernels('cpu')).toEqual([]);
    expect(registerFastKernels()).toEqual(WRAPPED);
    expect(registerFastKernels()).toEqual([]);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).not.toBe(original);
    expect(unregisterFastKernels()).toEqual(WRAPPED);
    expect(tf.getKernel(tf.BatchMatMul, 'wasm')!.kernelFunc).toBe(original);
    expect(unregisterFastKernels()).toEqual([]);
  });

  for (const [i, c] of CASES.entries())
    it(`BatchMatMul, ${c.name} (${c.path}): equals the backend kernel (float32 summation order only)`, () => {
      const [M, K] = c.transposeA ? [c.a.at(-1)!, c.a.at(-2)!] : [c.a.at(-2)!, c.a.at(-1)!];
      const N = c.transposeB ? c.b.at(-2)! : c.b.at(-1)!;
      const batch = Math.max(numel(c.a.slice(0, -2)), numel(c.b.slice(0, -2)));
      const macs = M * K * N;
      const transposed = c.transposeA || c.transposeB;
      const path =
        batch >= 2
          ? macs < SIMD_MAX_MACS
            ? 'simd'
            : 'split'
          : !transposed
            ? 'original'
            : macs < SPLIT_MIN_MACS
              ? 'simd'
              : 'transposed';
      expect(path, 'the case is where it claims to be').toBe(c.path);
      unregisterFastKernels();
      const want = product(c, 10 + i);
      registerFastKernels();
      const got = product(c, 10 + i);
      unregisterFastKernels();
      expect(got.shape).toEqual(want.shape);
      // each output sums K products of values in [-1, 1): float32 rounding of a different order only
      expect(maxAbsDiff(got.data, want.data)).toBeLessThanOrEqual(1e-5 * K);
      if (c.path === 'original') expect(Array.from(got.data)).toEqual(Array.from(want.data));
    });

  const GRAD_CASES: Array<[string, Case]> = [
    ['the SIMD products', CASES[0]!],
    ['the split products', { name: 'large', a: [2, 1024, 128], b: [2, 160, 128], transposeB: true, path: 'split' }],
    [
      'one product (its gradients take aᵀ and bᵀ: the transposed path)',
      { name: 'linear', a: [1, 2048, 64], b: [1, 96, 64], transposeB: true, path: 'transposed' },
    ],
  ];
  for (const [what, c] of GRAD_CASES)
    it(`BatchMatMul gradients through ${what} equal the backend kernel’s`, () => {
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
      const { want, got } = againstOwnKernels(grads);
      // dL/da sums over the keys (b's rows), dL/db over the queries (a's rows)
      expect(maxAbsDiff(got[0]!, want[0]!)).toBeLessThanOrEqual(1e-5 * c.b[1]!);
      expect(maxAbsDiff(got[1]!, want[1]!)).toBeLessThanOrEqual(1e-5 * c.a[1]!);
    });
  it('the SIMD module: present here, a hand-computed product, and null for a product over its budget', () => {
    expect(simdModule(), 'Node 20 has WebAssembly SIMD').not.toBeNull();
    // [[1,2],[3,4]]·[[5,6],[7,8]] and [[1,2],[3,4]]ᵀ·[[5,6],[7,8]] (b shared by the batch of 2)
    const a = Float32Array.from([1, 2, 3, 4, 1, 2, 3, 4]);
    const b = Float32Array.from([5, 6, 7, 8]);
    const shape = { nA: 2, nB: 1, batch: 2, M: 2, K: 2, N: 2, transposeA: false, transposeB: false };
    expect(Array.from(simdBatchMatMul(a, b, shape)!)).toEqual([19, 22, 43, 50, 19, 22, 43, 50]);
    expect(Array.from(simdBatchMatMul(a, b, { ...shape, nA: 1, batch: 1, transposeA: true })!)).toEqual([
      26, 30, 38, 44,
    ]);
    // one 2100×2100 result is 17.6 MB: over the 16 MiB budget, so the backend kernel takes it
    const side = Math.ceil(Math.sqrt(SIMD_MAX_BYTES / 4)) + 50;
    const long = new Float32Array(side);
    expect(simdBatchMatMul(long, long, { ...shape, nA: 1, nB: 1, batch: 1, M: side, K: 1, N: side })).toBeNull();
  });

  it.each([
    [1, 1, 1],
    [3, 5, 7],
    [9, 6, 19],
    [60_000, 48, 40], // 21 MB of rows: two chunks of the module's 16 MiB working memory
  ])('the SIMD module’s Aᵀ·B (a weight gradient) = a float64 loop: R %i, M %i, N %i', (R, M, N) => {
    const a = values(R * M, 31);
    const b = values(R * N, 32);
    const got = simdTransposedProduct(a, b, R, M, N)!;
    const want = new Float64Array(M * N);
    for (let r = 0; r < R; r++)
      for (let i = 0; i < M; i++) {
        const v = a[r * M + i]!;
        for (let j = 0; j < N; j++) want[i * N + j] = want[i * N + j]! + v * b[r * N + j]!;
      }
    expect(got.length).toBe(M * N);
    // float32 sums of R products of values in [-1, 1)
    expect(maxAbsDiff(got, Float32Array.from(want))).toBeLessThanOrEqual(2e-7 * R + 1e-7);
    if (R === 1) expect(Array.from(got)).toEqual([Math.fround(a[0]! * b[0]!)]);
  });

  // [x shape, filter shape, strides, pad]: the models' convs (stems, 1×1 MLP convs, patchify, transitions)
  const convCases: Array<[number[], number[], [number, number], 'same' | 'valid' | number]> = [
    [[2, 7, 6, 3], [3, 3, 3, 5], [1, 1], 'same'],
    [[2, 9, 8, 4], [3, 3, 4, 6], [2, 2], 'same'],
    [[1, 8, 8, 3], [4, 4, 3, 8], [4, 4], 'valid'],
    [[1, 7, 5, 2], [2, 2, 2, 3], [2, 2], 'valid'],
    [[2, 6, 6, 8], [1, 1, 8, 12], [1, 1], 'valid'],
    [[1, 9, 7, 4], [3, 3, 4, 4], [2, 2], 1],
  ];
  for (const [xs, fs, strides, pad] of convCases)
    it(`Conv2DBackpropInput (col2im): x [${xs}], filter [${fs}], strides ${strides}, pad ${pad} = wasm's own kernel`, () => {
      const ci = tf.backend_util.computeConv2DInfo(
        xs as [number, number, number, number],
        fs as [number, number, number, number],
        strides,
        1,
        pad,
      );
      const run = () => {
        const dy = tf.tensor(values(numel(ci.outShape), 7), ci.outShape);
        const w = tf.tensor(values(numel(fs), 8), fs);
        const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: xs };
        const out = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter: w }, attrs as never) as tf.Tensor;
        const r = { shape: out.shape, data: out.dataSync().slice() };
        tf.dispose([dy, w, out]);
        return r;
      };
      // the chunked path: column matrices of at most 50 values (a few output rows at a time)
      const { want, got, extra: chunked } = againstOwnKernels(run, () => withChunkValues(50, run));
      expect(got.shape).toEqual(xs);
      const k = fs[3]! * fs[0]! * fs[1]!; // each input value sums at most kh·kw·Co products
      expect(maxAbsDiff(got.data, want.data)).toBeLessThanOrEqual(1e-6 * k);
      expect(maxAbsDiff(chunked!.data, want.data)).toBeLessThanOrEqual(1e-6 * k);
    });

  it('conv2d gradients (input and filter) through the fast products equal the backend kernels’ (also chunked)', () => {
    registerGradientKernels(); // wasm has no Conv2DBackpropFilter of its own: core's im2col kernel
    const grads = () =>
      tf.tidy(() => {
        const x = tf.tensor(values(2 * 16 * 16 * 8, 11), [2, 16, 16, 8]) as tf.Tensor4D;
        const w = tf.tensor(values(3 * 3 * 8 * 16, 12), [3, 3, 8, 16]) as tf.Tensor4D;
        const r = tf.tensor(values(2 * 8 * 8 * 16, 13), [2, 8, 8, 16]);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'), r)),
        )([x, w]);
        return [gx!.dataSync().slice(), gw!.dataSync().slice()];
      });
    // the reference: wasm's own products (the filter gradient's Xcolᵀ·dY on BatchMatMul, not the SIMD module)
    unregisterFastKernels();
    const want = withoutSimd(grads);
    registerFastKernels();
    const got = grads(); // the filter gradient in the SIMD module
    const chunked = withChunkValues(1000, grads);
    const viaProducts = withoutSimd(grads); // the fast BatchMatMul (transposed product)
    unregisterFastKernels();
    for (const g of [got, chunked, viaProducts]) {
      expect(maxAbsDiff(g[0]!, want[0]!)).toBeLessThanOrEqual(1e-6 * 9 * 16);
      expect(maxAbsDiff(g[1]!, want[1]!)).toBeLessThanOrEqual(1e-6 * 2 * 8 * 8);
    }
  });
  // [shape, sizes or count, axis]
  const splitCases: Array<[number[], number[] | number, number]> = [
    [[6, 4, 5], [1, 2, 3], 0],
    [[3, 7, 4, 2], [2, -1, 1], 1],
    [[2, 3, 12], 4, -1],
    [[5, 9], [9], 1],
    [[4, 3], [0, 3], 1], // an empty piece
  ];
  for (const [shape, sizes, axis] of splitCases)
    it(`SplitV (one host pass): [${shape}] by ${JSON.stringify(sizes)} on axis ${axis} = wasm's own kernel, exactly`, () => {
      const run = () => {
        const x = tf.tensor(values(numel(shape), 21), shape);
        const parts = tf.split(x, sizes, axis);
        const r = parts.map((p) => ({ shape: p.shape, data: Array.from(p.dataSync()) }));
        tf.dispose([x, ...parts]);
        return r;
      };
      const { want, got } = againstOwnKernels(run);
      expect(got).toEqual(want);
    });

  it('the gradient of concat (a SplitV) through the host split equals the backend kernel’s', () => {
    const grads = () =>
      tf.tidy(() => {
        const xs = [
          [2, 3, 4],
          [2, 5, 4],
          [2, 1, 4],
        ].map((s, i) => tf.tensor(values(numel(s), 30 + i), s));
        const w = tf.tensor(values(2 * 9 * 4, 40), [2, 9, 4]);
        return tf
          .grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.concat([a, b, c], 1), w)))(xs)
          .map((g) => Array.from(g.dataSync()));
      });
    unregisterFastKernels();
    const want = grads();
    registerFastKernels();
    const got = grads();
    unregisterFastKernels();
    expect(got).toEqual(want);
  });
  // [shape, reps, dtype]: DeBiFormer's region masks (broadcastTo), every axis tiled, rank 1 and 5, int32
  const tileCases: Array<[number[], number[], 'float32' | 'int32']> = [
    [[49, 1, 49, 1], [1, 1, 1, 64], 'float32'],
    [[49, 1, 49, 1], [1, 4, 1, 4], 'float32'],
    [[2, 3, 4], [3, 2, 2], 'float32'],
    [[7], [5], 'float32'],
    [[2, 1, 3, 1, 2], [1, 3, 1, 20, 1], 'float32'],
    [[3, 2], [2, 3], 'int32'],
    [[3, 4], [1, 1], 'float32'],
  ];
  for (const [shape, reps, dtype] of tileCases)
    it(`Tile [${shape}] by [${reps}] (${dtype}; block copies) = wasm's own kernel, exactly`, () => {
      const run = () => {
        const x = tf.tidy(() => tf.cast(tf.mul(tf.tensor(values(numel(shape), 31), shape), 100), dtype));
        const y = tf.tile(x, reps);
        const b = tf.tidy(() => tf.broadcastTo(tf.reshape(x, [1, ...shape]), [2, ...shape]));
        const r = [y, b].map((t) => ({ shape: t.shape, dtype: t.dtype, data: Array.from(t.dataSync()) }));
        tf.dispose([x, y, b]);
        return r;
      };
      const { want, got } = againstOwnKernels(run);
      expect(got).toEqual(want);
    });

  it('collapsePermutation merges the axes a permutation keeps adjacent', () => {
    expect(collapsePermutation([2, 3, 4, 5], [0, 2, 3, 1])).toEqual({ shape: [2, 3, 20], perm: [0, 2, 1] });
    expect(collapsePermutation([64, 64, 3, 6, 16], [2, 0, 3, 1, 4])).toEqual({
      shape: [64, 64, 3, 6, 16],
      perm: [2, 0, 3, 1, 4],
    });
    expect(collapsePermutation([2, 3, 4], [0, 1, 2])).toEqual({ shape: [24], perm: [0] });
    expect(collapsePermutation([7, 7, 6, 5], [3, 2, 1, 0])).toEqual({ shape: [7, 7, 6, 5], perm: [3, 2, 1, 0] });
  });

  // [shape, perm, dtype]: the models' head splits (rank 5, 6) and their gradients, collapsible ones, int32
  const transposeCases: Array<[number[], number[], 'float32' | 'int32']> = [
    [[4, 5, 3, 6, 7], [2, 0, 3, 1, 4], 'float32'],
    [[3, 4, 6, 5, 7], [1, 3, 0, 2, 4], 'float32'],
    [[4, 3, 5, 3, 2, 6], [3, 0, 4, 1, 2, 5], 'float32'],
    [[2, 3, 4, 5], [0, 2, 3, 1], 'float32'],
    [[2, 3, 4, 5, 6], [0, 1, 2, 4, 3], 'float32'],
    [[3, 4, 2, 5, 2], [4, 3, 2, 1, 0], 'float32'],
    [[4, 5, 3, 6, 2], [2, 0, 3, 1, 4], 'int32'],
    [[5, 7], [1, 0], 'float32'],
  ];
  for (const [shape, perm, dtype] of transposeCases)
    it(`Transpose [${shape}] by [${perm}] (${dtype}) = wasm's own kernel, exactly`, () => {
      const run = () => {
        const x = tf.tensor(
          dtype === 'int32'
            ? Int32Array.from(values(numel(shape), 50), (v) => Math.round(v * 1000))
            : values(numel(shape), 50),
          shape,
          dtype,
        );
        const t = tf.transpose(x, perm);
        const r = { shape: t.shape, data: Array.from(t.dataSync()) };
        tf.dispose([x, t]);
        return r;
      };
      const { want, got } = againstOwnKernels(run);
      expect(got).toEqual(want);
    });

  // [shape, axes, keepDims]: leading, middle and innermost blocks (merged), split blocks (as they are)
  const sumCases: Array<[number[], number | number[], boolean]> = [
    [[6, 2, 4, 4, 5], 0, false],
    [[3, 4, 5, 6], [1, 2], false],
    [[3, 4, 5, 6], [0, 1], true],
    [[3, 4, 5], [2], false],
    [[3, 4, 5, 6], [0, 2], false],
    [[64, 7], -2, false],
  ];
  for (const [shape, axes, keepDims] of sumCases)
    it(`Sum [${shape}] over ${JSON.stringify(axes)}${keepDims ? ' (keepDims)' : ''} = wasm's own kernel`, () => {
      const run = () => {
        const x = tf.tensor(values(numel(shape), 60), shape);
        const t = tf.sum(x, axes, keepDims);
        const r = { shape: t.shape, data: t.dataSync().slice() };
        tf.dispose([x, t]);
        return r;
      };
      const { want, got } = againstOwnKernels(run);
      expect(got.shape).toEqual(want.shape);
      // the same kernel on merged axes: the summation order may differ
      expect(maxAbsDiff(got.data, want.data)).toBeLessThanOrEqual(1e-5);
    });
});
