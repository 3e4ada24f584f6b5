// `@tensorflow/tfjs-core`'s Node (CJS) bundle registers no gradient functions; importing the full
// `@tensorflow/tfjs` (a devDependency) registers them on the same global engine. Must come first.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, useBackend, values } from '../test-utils/backends.js';
import { GRADIENT_KERNELS, registerGradientKernels } from './gradient-kernels.js';

type Spec = { shape: number[]; dtype?: 'float32' | 'int32'; data?: ArrayLike<number>; seed?: number };

/** Run one kernel on `backend` from host inputs; host values and shape of its output. */
async function runOn(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Record<string, Spec>,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; data: Float32Array | Int32Array }> {
  await useBackend(backend);
  const before = tf.memory().numTensors;
  const ts = Object.fromEntries(
    Object.entries(inputs).map(([k, s]) => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      return [k, tf.tensor(s.data ?? values(n, s.seed ?? 1), s.shape, s.dtype ?? 'float32')];
    }),
  );
  const out = tf.engine().runKernel(kernel, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const r = { shape: out.shape, data: out.dataSync() as Float32Array | Int32Array };
  tf.dispose([out, ...Object.values(ts)]);
  expect(tf.memory().numTensors).toBe(before);
  return r;
}

/** The kernel on wasm (ours) against the cpu backend's own implementation. */
async function vsCpu(kernel: string, inputs: Record<string, Spec>, attrs: Record<string, unknown>): Promise<number> {
  const want = await runOn('cpu', kernel, inputs, attrs);
  const got = await runOn('wasm', kernel, inputs, attrs);
  expect(got.shape).toEqual(want.shape);
  return maxAbsDiff(got.data, want.data);
}

describe('gradient kernels missing from tfjs-backend-wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerGradientKernels();
  });

  it('are registered for wasm, once, and never replace a kernel the backend has', () => {
    const overWasm: string[] = [tf.Conv2DBackpropFilter, tf.DepthwiseConv2dNativeBackpropInput];
    for (const name of Object.keys(GRADIENT_KERNELS))
      if (!overWasm.includes(name)) expect(tf.getKernel(name, 'wasm')?.kernelFunc).toBe(GRADIENT_KERNELS[name]);
    // the filter gradient of conv2d (a matrix product) and the input gradient of a depthwise conv (a
    // depthwise forward) are registered over wasm's own kernels where they can (GRADIENT_KERNELS' entries,
    // the loops, are what they are tested against below)
    for (const name of overWasm) {
      expect(tf.getKernel(name, 'wasm')?.kernelFunc).toBeDefined();
      expect(tf.getKernel(name, 'wasm')?.kernelFunc).not.toBe(GRADIENT_KERNELS[name]);
    }
    expect(registerGradientKernels()).toEqual([]);
    // cpu has all four: nothing of ours goes there
    expect(registerGradientKernels('cpu')).toEqual([]);
    for (const name of Object.keys(GRADIENT_KERNELS))
      expect(tf.getKernel(name, 'cpu')?.kernelFunc).not.toBe(GRADIENT_KERNELS[name]);
  });

  // [x shape, filter shape, strides, pad]
  const convCases: Array<[number[], number[], [number, number], 'same' | 'valid' | number | number[][]]> = [
    [[2, 7, 6, 3], [3, 3, 3, 5], [1, 1], 'same'],
    [[1, 9, 8, 4], [3, 3, 4, 2], [2, 2], 'same'],
    [[1, 8, 8, 3], [2, 2, 3, 4], [2, 2], 'valid'],
    [[1, 7, 5, 2], [4, 2, 2, 3], [2, 1], 'valid'],
    [[1, 6, 6, 2], [3, 3, 2, 2], [1, 2], 1],
    [
      [1, 5, 6, 2],
      [3, 3, 2, 3],
      [1, 1],
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ],
  ];
  for (const [xs, fs, strides, pad] of convCases)
    it(`Conv2DBackpropFilter: x [${xs}], filter [${fs}], strides ${strides}, pad ${JSON.stringify(pad)} = cpu`, async () => {
      const out = tf.backend_util.computeConv2DInfo(
        xs as [number, number, number, number],
        fs as [number, number, number, number],
        strides,
        1,
        pad as 'same',
      );
      const attrs = { strides, pad, dataFormat: 'NHWC', dimRoundingMode: undefined, filterShape: fs };
      const err = await vsCpu(
        tf.Conv2DBackpropFilter,
        { x: { shape: xs, seed: 3 }, dy: { shape: out.outShape, seed: 4 } },
        attrs,
      );
      expect(err).toBeLessThan(1e-5);
    });

  it('Conv2DBackpropFilter as matrix products = its reference loop, on wasm (a training-sized case, no leaks)', async () => {
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    const x = tf.randomNormal([4, 17, 16, 8], 0, 1, 'float32', 3) as tf.Tensor4D;
    const dy = tf.randomNormal([4, 9, 8, 12], 0, 1, 'float32', 4) as tf.Tensor4D;
    const attrs = {
      strides: [2, 2],
      pad: 'same',
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
      filterShape: [3, 3, 8, 12],
    };
    const fast = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, attrs as never) as tf.Tensor;
    const backend = tf.backend();
    const info = GRADIENT_KERNELS[tf.Conv2DBackpropFilter]!({
      inputs: { x, dy },
      backend,
      attrs: attrs as never,
    }) as tf.TensorInfo;
    const ref = tf.engine().makeTensorFromTensorInfo(info);
    expect(fast.shape).toEqual([3, 3, 8, 12]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(fast, ref))).dataSync()[0]!);
    const scale = tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0]!);
    expect(diff).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
    tf.dispose([x, dy, fast, ref]);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(buffers); // the products' temporaries are freed in the backend too
  });

  it('Conv2DBackpropFilter with NCHW data = cpu', async () => {
    const xs = [1, 3, 7, 6];
    const fs = [3, 3, 3, 4];
    const attrs = { strides: [2, 1], pad: 'same', dataFormat: 'NCHW', dimRoundingMode: undefined, filterShape: fs };
    const err = await vsCpu(
      tf.Conv2DBackpropFilter,
      { x: { shape: xs, seed: 5 }, dy: { shape: [1, 4, 4, 6], seed: 6 } },
      attrs,
    );
    expect(err).toBeLessThan(1e-5);
  });

  // [x shape, filter shape [kh, kw, C, m], strides, pad]
  const dwCases: Array<[number[], number[], [number, number], 'same' | 'valid' | number]> = [
    [[2, 7, 6, 4], [3, 3, 4, 1], [1, 1], 'same'],
    [[1, 9, 8, 3], [5, 5, 3, 1], [2, 2], 'same'],
    [[1, 8, 7, 2], [3, 3, 2, 2], [2, 2], 'valid'],
    [[1, 6, 6, 3], [3, 3, 3, 2], [1, 1], 1],
    [[1, 10, 9, 2], [4, 4, 2, 1], [4, 4], 'valid'],
    // stride 1, multiplier 1: the input gradient runs as wasm's depthwise forward
    [[2, 6, 7, 5], [5, 5, 5, 1], [1, 1], 'same'],
    [[1, 7, 6, 3], [3, 3, 3, 1], [1, 1], 'valid'],
    [[1, 8, 8, 4], [4, 4, 4, 1], [1, 1], 'same'],
  ];
  for (const [xs, fs, strides, pad] of dwCases) {
    const info = () =>
      tf.backend_util.computeConv2DInfo(
        xs as [number, number, number, number],
        fs as [number, number, number, number],
        strides,
        1,
        pad,
        undefined,
        true,
      );
    it(`DepthwiseConv2dNativeBackpropFilter: x [${xs}], filter [${fs}], strides ${strides}, pad ${pad} = cpu`, async () => {
      const attrs = { strides, dilations: 1, pad, dimRoundingMode: undefined, filterShape: fs };
      const err = await vsCpu(
        tf.DepthwiseConv2dNativeBackpropFilter,
        { x: { shape: xs, seed: 7 }, dy: { shape: info().outShape, seed: 8 } },
        attrs,
      );
      expect(err).toBeLessThan(1e-5);
    });
    it(`DepthwiseConv2dNativeBackpropInput: x [${xs}], filter [${fs}], strides ${strides}, pad ${pad} = cpu`, async () => {
      const attrs = { strides, dilations: 1, pad, dimRoundingMode: undefined, inputShape: xs };
      const err = await vsCpu(
        tf.DepthwiseConv2dNativeBackpropInput,
        { dy: { shape: info().outShape, seed: 9 }, filter: { shape: fs, seed: 10 } },
        attrs,
      );
      expect(err).toBeLessThan(1e-5);
    });
  }

  it('DepthwiseConv2dNativeBackpropFilter in the SIMD module over more images than its working memory holds = cpu', async () => {
    // 10 images of 64×64×64 and their output gradients: 2 MiB an image, so 2 chunks of 16 MiB
    const [xs, fs] = [
      [10, 64, 64, 64],
      [3, 3, 64, 1],
    ];
    const attrs = { strides: [1, 1], dilations: 1, pad: 'same', dimRoundingMode: undefined, filterShape: fs };
    const inputs = { x: { shape: xs, seed: 21 }, dy: { shape: xs, seed: 22 } };
    const want = await runOn('cpu', tf.DepthwiseConv2dNativeBackpropFilter, inputs, attrs);
    const got = await runOn('wasm', tf.DepthwiseConv2dNativeBackpropFilter, inputs, attrs);
    expect(got.shape).toEqual(fs);
    // each value sums 10·64·64 products of values in [-1, 1) in float32 (the cpu kernel: float64)
    const scale = Math.max(...Array.from(want.data, Math.abs));
    expect(scale).toBeGreaterThan(10);
    expect(maxAbsDiff(got.data, want.data)).toBeLessThan(1e-5 * scale);
  });

  it('UnsortedSegmentSum (repeated, missing and out-of-range ids; float and int) = cpu', async () => {
    const ids = { shape: [7], dtype: 'int32' as const, data: [2, 0, 2, 5, 4, 0, 9] };
    expect(
      await vsCpu(tf.UnsortedSegmentSum, { x: { shape: [7, 3, 2], seed: 11 }, segmentIds: ids }, { numSegments: 6 }),
    ).toBe(0);
    expect(
      await vsCpu(tf.UnsortedSegmentSum, { x: { shape: [7], seed: 12 }, segmentIds: ids }, { numSegments: 3 }),
    ).toBeLessThan(1e-6);
    const xi = { shape: [7, 2], dtype: 'int32' as const, data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] };
    expect(await vsCpu(tf.UnsortedSegmentSum, { x: xi, segmentIds: ids }, { numSegments: 6 })).toBe(0);
  });

  it('make conv2d, depthwiseConv2d and gather differentiable on wasm, with the gradients cpu computes', async () => {
    const x = values(2 * 6 * 5 * 4, 21);
    const w = values(3 * 3 * 4 * 6, 22);
    const dw = values(3 * 3 * 6 * 2, 23);
    const loss = (xt: tf.Tensor, wt: tf.Tensor, dwt: tf.Tensor) => {
      const y = tf.conv2d(xt as tf.Tensor4D, wt as tf.Tensor4D, 2, 'same');
      const z = tf.depthwiseConv2d(tf.relu(y), dwt as tf.Tensor4D, 1, 'same');
      const g = tf.gather(tf.reshape(z, [-1, 12]), tf.tensor1d([0, 3, 3, 1, 5], 'int32'));
      return tf.sum(tf.mul(g, tf.sin(g)));
    };
    const run = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const ins = [tf.tensor4d(x, [2, 6, 5, 4]), tf.tensor4d(w, [3, 3, 4, 6]), tf.tensor4d(dw, [3, 3, 6, 2])];
      const grads = tf.grads((a, b, c) => loss(a!, b!, c!))(ins);
      const host = grads.map((g) => g.dataSync().slice());
      tf.dispose([...grads, ...ins]);
      expect(tf.memory().numTensors).toBe(before);
      return host;
    };
    const want = await run('cpu');
    const got = await run('wasm');
    for (const [i, g] of got.entries()) {
      const ref = want[i]!;
      const scale = Math.max(...Array.from(ref, Math.abs));
      expect(scale).toBeGreaterThan(0);
      expect(maxAbsDiff(g, ref)).toBeLessThan(1e-5 * Math.max(1, scale));
    }
  });
});
