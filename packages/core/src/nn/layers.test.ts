import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import {
  BatchNorm2d,
  Conv2d,
  DropPath,
  dropPathRates,
  GELU,
  gelu,
  LayerNorm,
  layerNorm,
  Linear,
  Mlp,
  Sequential,
  seedDropPaths,
} from './layers.js';

/** Direct PyTorch-semantics conv (NCHW, OIHW), written as loops: the independent reference. */
function torchConv(
  x: Float32Array,
  [B, C, H, W]: number[],
  w: Float32Array,
  [O, Ig, K, K2]: number[],
  b: Float32Array | null,
  s: number,
  p: number,
  g: number,
) {
  const Ho = Math.floor((H! + 2 * p - K!) / s) + 1;
  const Wo = Math.floor((W! + 2 * p - K2!) / s) + 1;
  const out = new Float32Array(B! * O! * Ho * Wo);
  const og = O! / g;
  for (let n = 0; n < B!; n++)
    for (let o = 0; o < O!; o++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let acc = b ? b[o]! : 0;
          const grp = Math.floor(o / og);
          for (let c = 0; c < Ig!; c++)
            for (let ki = 0; ki < K!; ki++)
              for (let kj = 0; kj < K2!; kj++) {
                const y = i * s - p + ki;
                const xx = j * s - p + kj;
                if (y < 0 || y >= H! || xx < 0 || xx >= W!) continue;
                acc += x[((n * C! + grp * Ig! + c) * H! + y) * W! + xx]! * w[((o * Ig! + c) * K! + ki) * K2! + kj]!;
              }
          out[((n * O! + o) * Ho + i) * Wo + j] = acc;
        }
  return { out, shape: [B!, O!, Ho, Wo] };
}

const nchwToNhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

describe.each(TEST_BACKENDS)('layers on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  const convCases = [
    { name: 'k3 s2 p1 on even input (torch pads both sides)', C: 3, O: 4, H: 6, W: 8, k: 3, s: 2, p: 1, g: 1 },
    { name: 'k3 s1 p1 depthwise', C: 4, O: 4, H: 5, W: 5, k: 3, s: 1, p: 1, g: 4 },
    { name: 'k9 s8 p4 depthwise (DAT offset net)', C: 2, O: 2, H: 16, W: 12, k: 9, s: 8, p: 4, g: 2 },
    { name: 'k3 s1 p1 groups 2', C: 4, O: 6, H: 5, W: 4, k: 3, s: 1, p: 1, g: 2 },
    { name: 'k4 s4 p0 patchify', C: 3, O: 5, H: 8, W: 12, k: 4, s: 4, p: 0, g: 1 },
    { name: 'k1 s1 p0 pointwise', C: 5, O: 3, H: 3, W: 2, k: 1, s: 1, p: 0, g: 1 },
  ];
  for (const c of convCases) {
    it(`Conv2d matches torch semantics: ${c.name}`, () => {
      const x = values(2 * c.C * c.H * c.W, 1);
      const wShape = [c.O, c.C / c.g, c.k, c.k];
      const w = values(
        wShape.reduce((a, b) => a * b),
        2,
      );
      const b = values(c.O, 3);
      const conv = new Conv2d(c.C, c.O, c.k, { stride: c.s, padding: c.p, groups: c.g });
      conv.loadStateDict({
        weight: { dtype: 'F32', shape: wShape, data: w },
        bias: { dtype: 'F32', shape: [c.O], data: b },
      });
      const ref = torchConv(x, [2, c.C, c.H, c.W], w, wShape, b, c.s, c.p, c.g);
      const before = tf.memory().numTensors;
      const xt = tf.tidy(() => nchwToNhwc(tf.tensor4d(x, [2, c.C, c.H, c.W])));
      const y = conv.forward(xt);
      const yNchw = tf.transpose(y, [0, 3, 1, 2]);
      expect(yNchw.shape).toEqual(ref.shape);
      expect(maxAbsDiff(yNchw.dataSync(), ref.out)).toBeLessThan(1e-5);
      tf.dispose([xt, y, yNchw]);
      expect(tf.memory().numTensors).toBe(before);
      conv.dispose();
    });
  }

  it('Conv2d rejects a wrong channel count and rank with ShapeError', () => {
    const conv = new Conv2d(3, 4, 3, { padding: 1 });
    const x = tf.zeros([1, 5, 5, 2]);
    expect(() => conv.forward(x)).toThrow(ShapeError);
    expect(() => conv.forward(x)).toThrow(/3 channels on axis 3/);
    expect(() => conv.forward(tf.zeros([5, 5, 3]))).toThrow(/rank 4/);
    const tiny = tf.zeros([1, 1, 1, 3]);
    expect(() => new Conv2d(3, 4, 5).forward(tiny)).toThrow(/padded size of at least 5×5/);
    tf.dispose([x, tiny]);
    conv.dispose();
  });

  it('Linear uses the [out, in] weight as torch does', () => {
    const lin = new Linear(3, 2);
    lin.loadStateDict({
      weight: { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, 2, 3, -1, 0, 1) },
      bias: { dtype: 'F32', shape: [2], data: Float32Array.of(0.5, -0.5) },
    });
    const y = lin.forward(tf.tensor3d([[[1, 1, 1]], [[2, 0, -1]]]));
    // [1,1,1]: 6.5, -0.5 ; [2,0,-1]: 2-3+0.5 = -0.5, -2-1-0.5 = -3.5
    expect(Array.from(y.dataSync())).toEqual([6.5, -0.5, -0.5, -3.5]);
    expect(y.shape).toEqual([2, 1, 2]);
    y.dispose();
    lin.dispose();
  });

  it('LayerNorm normalises channels with biased variance and eps', () => {
    const ln = new LayerNorm(4, 1e-5);
    ln.loadStateDict({
      weight: { dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 1, 1) },
      bias: { dtype: 'F32', shape: [4], data: Float32Array.of(0, 0, 1, 0) },
    });
    const y = ln.forward(tf.tensor2d([[1, 2, 3, 4]]));
    // mean 2.5, biased var 1.25
    const inv = 1 / Math.sqrt(1.25 + 1e-5);
    const want = [-1.5 * inv, -0.5 * inv * 2, 0.5 * inv + 1, 1.5 * inv];
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-6);
    // channels-first form over axis 1 of an NCHW tensor equals channels-last on the NHWC one
    const x = tf.tensor4d(values(2 * 4 * 3 * 3, 9), [2, 4, 3, 3]);
    const a = layerNorm(x, null, null, 1e-6, 1);
    const b = tf.transpose(layerNorm(tf.transpose(x, [0, 2, 3, 1]), null, null, 1e-6), [0, 3, 1, 2]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThan(1e-6);
    tf.dispose([y, x, a, b]);
    ln.dispose();
  });

  it('BatchNorm2d in eval mode uses running stats', () => {
    const bn = new BatchNorm2d(2);
    bn.loadStateDict({
      weight: { dtype: 'F32', shape: [2], data: Float32Array.of(2, 1) },
      bias: { dtype: 'F32', shape: [2], data: Float32Array.of(0, 1) },
      running_mean: { dtype: 'F32', shape: [2], data: Float32Array.of(1, -1) },
      running_var: { dtype: 'F32', shape: [2], data: Float32Array.of(4, 0.25) },
      num_batches_tracked: { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) },
    });
    const y = bn.forward(tf.tensor4d([3, 0], [1, 1, 1, 2]));
    const want = [((3 - 1) / Math.sqrt(4 + 1e-5)) * 2, (1 / Math.sqrt(0.25 + 1e-5)) * 1 + 1];
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-5);
    expect(bn.stateDict().get('num_batches_tracked')?.data).toEqual(BigInt64Array.of(7n));
    y.dispose();
    bn.dispose();
  });

  it('BatchNorm2d in training mode normalises with the batch and updates the running stats as torch', () => {
    const bn = new BatchNorm2d(2);
    bn.loadStateDict({
      weight: { dtype: 'F32', shape: [2], data: Float32Array.of(2, 1) },
      bias: { dtype: 'F32', shape: [2], data: Float32Array.of(0, 1) },
      running_mean: { dtype: 'F32', shape: [2], data: Float32Array.of(1, -1) },
      running_var: { dtype: 'F32', shape: [2], data: Float32Array.of(4, 0.25) },
      num_batches_tracked: { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) },
    });
    bn.train();
    const start = tf.memory().numTensors;
    // [B=2, H=1, W=2, C=2]: channel 0 holds 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3);
    // channel 1 holds 0, 0, 0, 4 (mean 1, biased var 3, unbiased 4)
    const x = tf.tensor4d([1, 0, 3, 0, 5, 0, 7, 4], [2, 1, 2, 2]);
    const y = bn.forward(x);
    const s0 = Math.sqrt(5 + 1e-5);
    const s1 = Math.sqrt(3 + 1e-5);
    const want = [-3 / s0, -1 / s1 + 1, -1 / s0, -1 / s1 + 1, 1 / s0, -1 / s1 + 1, 3 / s0, 3 / s1 + 1].map((v, i) =>
      i % 2 ? v : 2 * v,
    );
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-5);
    const sd = bn.stateDict();
    expect(
      maxAbsDiff(sd.get('running_mean')!.data as Float32Array, [0.9 * 1 + 0.1 * 4, 0.9 * -1 + 0.1 * 1]),
    ).toBeLessThan(1e-6);
    expect(
      maxAbsDiff(sd.get('running_var')!.data as Float32Array, [0.9 * 4 + (0.1 * 20) / 3, 0.9 * 0.25 + 0.1 * 4]),
    ).toBeLessThan(1e-6);
    expect(sd.get('num_batches_tracked')?.data).toEqual(BigInt64Array.of(8n));
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(start);
    // eval mode reads the updated running statistics again
    bn.eval();
    const z = bn.forward(tf.tensor4d([1.3, -0.8], [1, 1, 1, 2]));
    expect(maxAbsDiff(z.dataSync(), [0, 1])).toBeLessThan(1e-6);
    z.dispose();
    // one value per channel cannot give a batch variance
    bn.train();
    const one = tf.zeros([1, 1, 1, 2]);
    expect(() => bn.forward(one)).toThrow(ShapeError);
    tf.dispose(one);
    bn.dispose();
  });

  it('GELU is the exact erf form', () => {
    const x = tf.tensor1d([-3, -1, -0.5, 0, 0.5, 1, 3]);
    const y = gelu(x);
    // 0.5·x·(1 + erf(x/√2)), erf values from tables
    const want = [-0.00404969, -0.15865525, -0.15426877, 0, 0.34573123, 0.84134475, 2.99595031];
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(2e-6);
    tf.dispose([x, y]);
  });

  it('Sequential and Mlp compose with torch key names', () => {
    const seq = new Sequential([new Linear(2, 3), new GELU(), new Linear(3, 2, { bias: false })]);
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '2.weight']);
    const mlp = new Mlp(4, 8);
    expect(mlp.stateDictShapes()).toEqual([
      ['fc1.weight', [8, 4]],
      ['fc1.bias', [8]],
      ['fc2.weight', [4, 8]],
      ['fc2.bias', [4]],
    ]);
    expect(mlp.parameterCount()).toBe(8 * 4 + 8 + 4 * 8 + 4);
    seq.dispose();
    mlp.dispose();
  });

  it('DropPath is the identity in eval mode and drops whole samples in training', () => {
    const dp = new DropPath(0.5);
    const x = tf.ones([64, 2, 2, 3]);
    expect(dp.forward(x)).toBe(x);
    dp.train();
    dp.seed = 42;
    const y = dp.forward(x);
    expect(dp.seed).toBe(43);
    const per = tf.tidy(() => Array.from(tf.mean(y, [1, 2, 3]).dataSync()));
    for (const v of per) expect([0, 2]).toContain(v);
    expect(per.some((v) => v === 0) && per.some((v) => v === 2)).toBe(true);
    // the same seed gives the same mask; the next call (seed 43) another one
    dp.seed = 42;
    const again = dp.forward(x);
    const next = dp.forward(x);
    expect(Array.from(again.dataSync())).toEqual(Array.from(y.dataSync()));
    expect(Array.from(next.dataSync())).not.toEqual(Array.from(y.dataSync()));
    tf.dispose([x, y, again, next]);
    expect(() => new DropPath(1)).toThrow(InvalidArgumentError);
  });

  it('dropPathRates is linspace(0, rate, Σ depths) cut per stage; seedDropPaths seeds every DropPath', () => {
    expect(dropPathRates(0.3, [1, 2, 1]).map((r) => r.map((v) => +v.toFixed(12)))).toEqual([[0], [0.1, 0.2], [0.3]]);
    expect(dropPathRates(0, [2])).toEqual([[0, 0]]);
    expect(dropPathRates(0.5, [1])).toEqual([[0]]); // torch.linspace(0, r, 1) is [0]
    expect(() => dropPathRates(1, [2])).toThrow(InvalidArgumentError);
    const seq = new Sequential([new DropPath(0.1), new Linear(2, 2), new Sequential([new DropPath(0.2)])]);
    expect(seedDropPaths(seq, 7)).toBe(2);
    const [a, , inner] = seq.items as [DropPath, Linear, Sequential];
    const b = inner.items[0] as DropPath;
    expect(a.seed).toBeTypeOf('number');
    expect(b.seed).toBeTypeOf('number');
    expect(a.seed).not.toBe(b.seed);
    const first = a.seed;
    seedDropPaths(seq, 7);
    expect(a.seed).toBe(first);
    seedDropPaths(seq, 8);
    expect(a.seed).not.toBe(first);
    seq.dispose();
  });
});
