// `@tensorflow/tfjs-core`'s Node (CJS) bundle registers no gradient functions; importing the full
// `@tensorflow/tfjs` (a devDependency) registers them on the same global engine. Must come first.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchNorm2d } from '../nn/layers.js';
import { maxAbsDiff, useBackend, values } from '../test-utils/backends.js';
import { gatherBatched, gatherRows } from './gather.js';
import { gridSample } from './grid-sample.js';
import { neighborhoodAttention2d } from './neighborhood-attention.js';
import { adaptiveAvgPool2d, adaptivePoolBins } from './pooling.js';
import { resizeBilinear } from './resize.js';
import { stopGradient } from './stop-gradient.js';
import { regionPartition } from './windows.js';

/** Central finite differences of a scalar function of one tensor, at the listed flat positions. */
function finiteDiff(
  f: (x: tf.Tensor) => tf.Scalar,
  x: Float32Array,
  shape: number[],
  eps: number,
  at?: number[],
): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of at ?? Array.from(x, (_, k) => k)) {
    const eval1 = (d: number) =>
      tf.tidy(() => {
        const y = Float32Array.from(x);
        y[i] = y[i]! + d;
        return f(tf.tensor(y, shape)).dataSync()[0]!;
      });
    out.set(i, (eval1(eps) - eval1(-eps)) / (2 * eps));
  }
  return out;
}

function compare(analytic: ArrayLike<number>, fd: Map<number, number>): number {
  let m = 0;
  for (const [i, v] of fd) m = Math.max(m, Math.abs(analytic[i]! - v));
  return m;
}

function finiteNonZero(g: ArrayLike<number>): void {
  expect(Array.from(g).every(Number.isFinite)).toBe(true);
  expect(Array.from(g).some((v) => v !== 0)).toBe(true);
}

// Finite differences on cpu (float64-like accuracy for the checks). On wasm the gather gradient needs
// UnsortedSegmentSum, which tfjs-backend-wasm 4.22 lacks; core's registerGradientKernels adds it, tested
// against the cpu kernel in gradient-kernels.test.ts.
describe('gradients (cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  // Sample points chosen inside grid cells (fractional pixel parts in [0.2, 0.8]) so the ±eps
  // perturbation never crosses a cell edge; one point lies partly outside, one fully outside.
  const [N, H, W, C] = [1, 3, 4, 2];
  const PIX: Array<[number, number]> = [
    [0.3, 0.4], // (ix, iy) in pixels
    [1.7, 1.25],
    [2.5, 0.6],
    [-0.7, 1.5], // partly outside (x0 = −1)
    [3.4, 1.8], // partly outside (x1 = 4)
    [5.5, -2.5], // fully outside
  ];
  for (const alignCorners of [true, false]) {
    for (const paddingMode of ['zeros', 'border'] as const) {
      it(`gridSample: d/d input and d/d grid match finite differences (alignCorners=${alignCorners}, ${paddingMode})`, () => {
        const toNorm = (p: number, size: number) => (alignCorners ? (2 * p) / (size - 1) - 1 : (2 * p + 1) / size - 1);
        const grid = Float32Array.from(PIX.flatMap(([px, py]) => [toNorm(px, W), toNorm(py, H)]));
        const gShape = [N, 2, 3, 2];
        const input = values(N * H * W * C, 5);
        const iShape = [N, H, W, C];
        const r = tf.tensor4d(values(N * 2 * 3 * C, 6), [N, 2, 3, C]);
        const loss = (x: tf.Tensor, g: tf.Tensor) =>
          tf.sum(tf.mul(gridSample(x as tf.Tensor4D, g as tf.Tensor4D, { alignCorners, paddingMode }), r)) as tf.Scalar;

        const xT = tf.tensor(input, iShape);
        const gT = tf.tensor(grid, gShape);
        const before = tf.memory().numTensors;
        const [dx, dg] = tf.grads(loss)([xT, gT]);
        const dxv = dx!.dataSync();
        const dgv = dg!.dataSync();
        tf.dispose([dx!, dg!]);
        expect(tf.memory().numTensors).toBe(before);
        finiteNonZero(dxv);
        finiteNonZero(dgv);

        const fdX = finiteDiff((x) => loss(x, gT), input, iShape, 1e-2);
        const fdG = finiteDiff((g) => loss(xT, g), grid, gShape, 1e-3);
        const eX = compare(dxv, fdX);
        const eG = compare(dgv, fdG);
        console.log(
          `[grad cpu] gridSample ac=${alignCorners} ${paddingMode}: |d/dinput − FD| ${eX.toExponential(2)}, |d/dgrid − FD| ${eG.toExponential(2)}`,
        );
        expect(eX).toBeLessThan(2e-3);
        expect(eG).toBeLessThan(2e-3);
        // border mode: the fully-outside point is clamped in both coordinates, so its grid gradient is 0.
        if (paddingMode === 'border') expect([dgv[10], dgv[11]]).toEqual([0, 0]);
        tf.dispose([xT, gT, r]);
      });
    }
  }

  it('gatherRows / gatherBatched: d/dx scatters (and accumulates) the output gradient', () => {
    const x = tf.tensor3d(values(2 * 4 * 3, 7), [2, 4, 3]);
    const idxRows = [
      [3, 0, 0],
      [1, 1, 2],
    ];
    const idx = tf.tensor2d(idxRows, [2, 3], 'int32');
    const r = values(2 * 3 * 3, 8);
    const rT = tf.tensor3d(r, [2, 3, 3]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherRows(t, idx), rT)))(x);
    // dx[b, n, c] = Σ_j [idx[b, j] = n] · r[b, j, c]
    const expected = new Float32Array(2 * 4 * 3);
    for (let b = 0; b < 2; b++)
      for (let j = 0; j < 3; j++)
        for (let c = 0; c < 3; c++) {
          const o = (b * 4 + idxRows[b]![j]!) * 3 + c;
          expected[o] = expected[o]! + r[(b * 3 + j) * 3 + c]!;
        }
    expect(maxAbsDiff(g.dataSync(), expected)).toBeLessThan(1e-6);

    const routing = [
      [
        [3, 0],
        [0, 0],
      ],
      [
        [1, 2],
        [2, 2],
      ],
    ];
    const idx3 = tf.tensor3d(routing, [2, 2, 2], 'int32');
    const g3 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(gatherBatched(t, idx3), tf.range(1, 25).reshape([2, 2, 2, 3]))))(
      x,
    );
    // weights 1..24 laid out [b, s, j, c]; accumulate per gathered row
    const exp3 = new Float32Array(2 * 4 * 3);
    for (let b = 0; b < 2; b++)
      for (let s = 0; s < 2; s++)
        for (let j = 0; j < 2; j++)
          for (let c = 0; c < 3; c++) {
            const o = (b * 4 + routing[b]![s]![j]!) * 3 + c;
            exp3[o] = exp3[o]! + 1 + ((b * 2 + s) * 2 + j) * 3 + c;
          }
    expect(maxAbsDiff(g3.dataSync(), exp3)).toBe(0);
    tf.dispose([x, idx, rT, g, idx3, g3]);
  });

  it('adaptiveAvgPool2d: d sum / dx = Σ over the bins containing the pixel of 1/|bin| (6x5 → 4x3)', () => {
    const [h, w, oh, ow] = [6, 5, 4, 3];
    const x = tf.tensor4d(values(h * w, 9), [1, h, w, 1]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(adaptiveAvgPool2d(t as tf.Tensor4D, [oh, ow])))(x);
    const share = (n: number, p: number) => {
      const s = new Float64Array(n);
      for (const [a, e] of adaptivePoolBins(n, p)) for (let i = a; i < e; i++) s[i]! += 1 / (e - a);
      return s;
    };
    const sy = share(h, oh);
    const sx = share(w, ow);
    const expected = Float32Array.from({ length: h * w }, (_, p) => sy[Math.floor(p / w)]! * sx[p % w]!);
    expect(maxAbsDiff(g.dataSync(), expected)).toBeLessThan(1e-6);
    tf.dispose([x, g]);
  });

  it('resizeBilinear: d/dx matches finite differences (3x4 → 5x7, both alignCorners)', () => {
    for (const alignCorners of [false, true]) {
      const input = values(3 * 4 * 2, 10);
      const r = tf.tensor4d(values(5 * 7 * 2, 11), [1, 5, 7, 2]);
      const f = (t: tf.Tensor) =>
        tf.sum(tf.mul(resizeBilinear(t as tf.Tensor4D, [5, 7], { alignCorners }), r)) as tf.Scalar;
      const g = tf.grad(f)(tf.tensor4d(input, [1, 3, 4, 2]));
      const gv = g.dataSync();
      finiteNonZero(gv);
      expect(compare(gv, finiteDiff(f, input, [1, 3, 4, 2], 1e-2))).toBeLessThan(2e-3);
      tf.dispose([r, g]);
    }
  });

  it('neighborhoodAttention2d: gradients w.r.t. q, k, v and rpb are finite, non-zero and match finite differences', () => {
    const [B, M, H2, W2, D, k] = [1, 2, 5, 6, 3, 3];
    const shape: [number, number, number, number, number] = [B, M, H2, W2, D];
    const qv = values(B * M * H2 * W2 * D, 12);
    const kv = values(qv.length, 13);
    const vv = values(qv.length, 14);
    const rv = values(M * 25, 15);
    const rT = tf.tensor(values(qv.length, 16), shape);
    const t5 = (d: Float32Array) => tf.tensor5d(d, shape);
    const loss = (q: tf.Tensor, kk: tf.Tensor, v: tf.Tensor, rpb: tf.Tensor) =>
      tf.sum(
        tf.mul(
          neighborhoodAttention2d(q as tf.Tensor5D, kk as tf.Tensor5D, v as tf.Tensor5D, rpb as tf.Tensor3D, k).out,
          rT,
        ),
      ) as tf.Scalar;
    const ins = [t5(qv), t5(kv), t5(vv), tf.tensor3d(rv, [M, 5, 5])];
    const grads = tf.grads(loss)(ins);
    const probe = [0, 7, 31, 59, 88, 100, 179];
    const fdQ = finiteDiff((q) => loss(q, ins[1]!, ins[2]!, ins[3]!), qv, shape, 1e-2, probe);
    const fdK = finiteDiff((kk) => loss(ins[0]!, kk, ins[2]!, ins[3]!), kv, shape, 1e-2, probe);
    const fdV = finiteDiff((v) => loss(ins[0]!, ins[1]!, v, ins[3]!), vv, shape, 1e-2, probe);
    const fdR = finiteDiff((rpb) => loss(ins[0]!, ins[1]!, ins[2]!, rpb), rv, [M, 5, 5], 1e-2, [0, 6, 12, 24, 30, 49]);
    [fdQ, fdK, fdV, fdR].forEach((fd, i) => {
      const gv = grads[i]!.dataSync();
      finiteNonZero(gv);
      const e = compare(gv, fd);
      console.log(`[grad cpu] NA d/d${['q', 'k', 'v', 'rpb'][i]} vs FD ${e.toExponential(2)}`);
      expect(e).toBeLessThan(2e-3);
    });
    tf.dispose([...grads, ...ins, rT]);
  });

  it('regionPartition carries gradients; stopGradient blocks them', () => {
    const x = tf.tensor4d(values(16, 17), [1, 4, 4, 1]);
    const g = tf.grad((t: tf.Tensor) =>
      tf.sum(tf.mul(regionPartition(t as tf.Tensor4D, 2), tf.range(0, 16).reshape([1, 4, 4, 1]))),
    )(x);
    // region p = row·2 + col, token t: weight 4p + t lands on pixel (2·row + t/2, 2·col + t%2)
    const expected = new Float32Array(16);
    for (let p = 0; p < 4; p++)
      for (let t = 0; t < 4; t++)
        expected[(2 * Math.floor(p / 2) + Math.floor(t / 2)) * 4 + 2 * (p % 2) + (t % 2)] = 4 * p + t;
    expect(Array.from(g.dataSync())).toEqual(Array.from(expected));
    // d/dx Σ stop(x)·x = stop(x) = x (only the second factor is differentiated)
    const gs = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(stopGradient(t), t)))(x);
    expect(Array.from(gs.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, g, gs]);
  });
  it('BatchNorm2d in training mode: d/dx, d/dweight, d/dbias are the closed forms through the batch statistics', () => {
    const [B, H, W, C] = [2, 3, 2, 3];
    const n = B * H * W;
    const xv = values(n * C, 21);
    const rv = values(n * C, 22);
    const wv = Float32Array.of(1.5, -0.7, 0.4);
    const bn = new BatchNorm2d(C);
    bn.loadStateDict({
      weight: { dtype: 'F32', shape: [C], data: wv },
      bias: { dtype: 'F32', shape: [C], data: Float32Array.of(0.1, 0.2, 0.3) },
      running_mean: { dtype: 'F32', shape: [C], data: new Float32Array(C) },
      running_var: { dtype: 'F32', shape: [C], data: Float32Array.of(1, 1, 1) },
      num_batches_tracked: { dtype: 'I64', shape: [], data: BigInt64Array.of(0n) },
    });
    bn.train();
    const x = tf.tensor4d(xv, [B, H, W, C]);
    const r = tf.tensor4d(rv, [B, H, W, C]);
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(bn.forward(x), r)) as tf.Scalar,
      [bn.weight.variable, bn.bias.variable],
    );
    const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(bn.forward(t), r)))(x);
    // per channel c, over its n values: x̂ = (x − μ)/σ (biased variance), g = r;
    // dβ = Σg, dγ = Σ g·x̂, dx = (γ/σ)·(g − mean g − x̂·mean(g·x̂))
    const wantDx = new Float32Array(n * C);
    const wantDw = new Float32Array(C);
    const wantDb = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const xs = Array.from({ length: n }, (_, i) => xv[i * C + c]!);
      const gs = Array.from({ length: n }, (_, i) => rv[i * C + c]!);
      const mu = xs.reduce((a, v) => a + v, 0) / n;
      const sigma = Math.sqrt(xs.reduce((a, v) => a + (v - mu) ** 2, 0) / n + 1e-5);
      const xh = xs.map((v) => (v - mu) / sigma);
      const mg = gs.reduce((a, v) => a + v, 0) / n;
      const mgx = gs.reduce((a, v, i) => a + v * xh[i]!, 0) / n;
      wantDb[c] = mg * n;
      wantDw[c] = mgx * n;
      for (let i = 0; i < n; i++) wantDx[i * C + c] = (wv[c]! / sigma) * (gs[i]! - mg - xh[i]! * mgx);
    }
    const eX = maxAbsDiff(dx.dataSync(), wantDx);
    const eW = maxAbsDiff(grads[bn.weight.variable.name]!.dataSync(), wantDw);
    const eB = maxAbsDiff(grads[bn.bias.variable.name]!.dataSync(), wantDb);
    console.log(
      `[grad cpu] BatchNorm2d train: dx ${eX.toExponential(2)}, dγ ${eW.toExponential(2)}, dβ ${eB.toExponential(2)}`,
    );
    expect(eX).toBeLessThan(1e-5);
    expect(eW).toBeLessThan(1e-5);
    expect(eB).toBeLessThan(1e-5);
    tf.dispose([value, dx, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r]);
    bn.dispose();
  });
});
