// the full tfjs registers the gradient functions (tfjs-core's Node bundle has none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend } from '../test-utils/backends.js';
import { type FixtureTensor, need, readFixture } from './__fixtures__/read-fixture.js';
import { gridSample } from './grid-sample.js';

/**
 * Hand-computed torch grid_sample values for the 2×3 map [[1,2,3],[4,5,6]] (one channel).
 * alignCorners=true: ix = (gx+1)·(W−1)/2 = gx+1, iy = (gy+1)·(H−1)/2 = (gy+1)/2.
 * alignCorners=false: ix = ((gx+1)·W − 1)/2 = 1.5·(gx+1) − 0.5, iy = (gy+1) − 0.5.
 * Each row: [gx, gy, zeros, border].
 */
const MAP = [1, 2, 3, 4, 5, 6];
const CASES_ALIGNED: Array<[number, number, number, number]> = [
  [0, 0, 3.5, 3.5], // ix 1, iy .5: (2 + 5)/2
  [-1, -1, 1, 1], // corner pixel
  [1, 1, 6, 6], // ix 2, iy 1: +1 corners are outside but have weight 0
  [-0.5, 0.5, 3.75, 3.75], // ix .5, iy .75: .25·1.5 + .75·4.5
  [1.5, 0, 2.25, 4.5], // ix 2.5, iy .5: zeros keeps .5·(3+6)/2; border clamps ix to 2
  [-1.5, -2, 0.25, 1], // ix −.5, iy −.5: only corner (0,0) inside, weight .25; border → pixel (0,0)
];
const CASES_UNALIGNED: Array<[number, number, number, number]> = [
  [0, 0, 3.5, 3.5], // ix 1, iy .5
  [-1, -1, 0.25, 1], // ix −.5, iy −.5
  [1, 1, 1.5, 6], // ix 2.5, iy 1.5: only (1,2) inside, weight .25
  [-0.5, -0.25, 2, 2], // ix .25, iy .25: .75·1.25 + .25·4.25
  [0.5, -0.5, 2.75, 2.75], // ix 1.75, iy 0: .25·2 + .75·3
];

/**
 * Batch of 2, two channels: image 0 is MAP with channel 1 = 10·MAP; image 1 is −MAP (both channels)
 * and samples the points in reverse order, so batch and channel plumbing are checked too.
 */
function handCase(cases: Array<[number, number, number, number]>, mode: 'zeros' | 'border') {
  const n = cases.length;
  const input = new Float32Array(2 * 6 * 2);
  for (let p = 0; p < 6; p++) {
    input[p * 2] = MAP[p]!;
    input[p * 2 + 1] = 10 * MAP[p]!;
    input[12 + p * 2] = -MAP[p]!;
    input[12 + p * 2 + 1] = -MAP[p]!;
  }
  const grid = new Float32Array(2 * n * 2);
  const expected = new Float32Array(2 * n * 2);
  cases.forEach(([gx, gy, zeros, border], i) => {
    const v = mode === 'zeros' ? zeros : border;
    grid[i * 2] = gx;
    grid[i * 2 + 1] = gy;
    expected[i * 2] = v;
    expected[i * 2 + 1] = 10 * v;
    const j = n - 1 - i; // image 1, reversed order
    grid[(n + j) * 2] = gx;
    grid[(n + j) * 2 + 1] = gy;
    expected[(n + j) * 2] = -v;
    expected[(n + j) * 2 + 1] = -v;
  });
  return { input: tf.tensor4d(input, [2, 2, 3, 2]), grid: tf.tensor4d(grid, [2, 1, n, 2]), expected };
}

/** [B, C, H, W] (channel g·Cg + c) → [B·G, H, W, Cg], row b·G + g, as DAT's reshape(B·G, Cg, H, W). */
function groupsToNhwc(t: FixtureTensor, groups: number): tf.Tensor4D {
  const [b, c, h, w] = t.shape as [number, number, number, number];
  return tf.tidy(() => {
    const x = tf.reshape(tf.tensor(t.data, t.shape), [b * groups, c / groups, h, w]);
    return tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
  });
}

/** pos [B, G, Hk, Wk, 2] in (y, x) → grid [B·G, Hk, Wk, 2] in (x, y). */
function posToGrid(t: FixtureTensor): tf.Tensor4D {
  const [b, g, hk, wk] = t.shape as [number, number, number, number];
  return tf.tidy(() => tf.reverse(tf.reshape(tf.tensor(t.data, t.shape), [b * g, hk, wk, 2]), 3) as tf.Tensor4D);
}

const fixtures = readFixture('dat_gridsample.safetensors');

/** DAT D-block debug tensors: x_sampled = grid_sample(attn_in per group, pos, bilinear, align_corners=True, zeros). */
const GOLDEN_CASES: Array<{ file: string; prefix: string; groups: number }> = [
  { file: 'dat_pp_reduced.io', prefix: 'debug.stage0.block1', groups: 1 },
  { file: 'dat_pp_reduced.io', prefix: 'debug.stage2.block1', groups: 4 },
  { file: 'dat_pp_reduced_batch2.io', prefix: 'debug.stage1.block1', groups: 2 },
  { file: 'dat_pp_reduced_nonsquare.io', prefix: 'debug.stage0.block1', groups: 1 },
  { file: 'dat_pp_reduced_nonsquare.io', prefix: 'debug.stage1.block1', groups: 2 },
  { file: 'dat_pp_fulldepth_224.io', prefix: 'debug.stage3.block0', groups: 2 },
];

describe.each(TEST_BACKENDS)('gridSample on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  for (const [alignCorners, cases] of [
    [true, CASES_ALIGNED],
    [false, CASES_UNALIGNED],
  ] as const) {
    for (const mode of ['zeros', 'border'] as const) {
      it(`hand-computed input=2x2x3x2 grid=2x1x${cases.length}x2 alignCorners=${alignCorners} padding=${mode}`, () => {
        const { input, grid, expected } = handCase(cases, mode);
        const before = tf.memory().numTensors;
        const out = gridSample(input, grid, { alignCorners, paddingMode: mode });
        expect(out.shape).toEqual([2, 1, cases.length, 2]);
        expect(maxAbsDiff(out.dataSync(), expected)).toBeLessThan(1e-6);
        out.dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([input, grid]);
      });
    }
  }

  it('defaults to zeros padding', () => {
    const { input, grid, expected } = handCase(CASES_ALIGNED, 'zeros');
    const out = gridSample(input, grid, { alignCorners: true });
    expect(maxAbsDiff(out.dataSync(), expected)).toBeLessThan(1e-6);
    tf.dispose([input, grid, out]);
  });

  for (const { file, prefix, groups } of GOLDEN_CASES) {
    it(`matches DAT golden x_sampled: ${file} ${prefix} (G=${groups})`, () => {
      const attnIn = need(fixtures, `${file}/${prefix}.attn_in`);
      const pos = need(fixtures, `${file}/${prefix}.pos`);
      const ref = need(fixtures, `${file}/${prefix}.x_sampled`); // [B·G, Cg, Hk, Wk]
      const input = groupsToNhwc(attnIn, groups);
      const grid = posToGrid(pos);
      const expected = tf.transpose(tf.tensor(ref.data, ref.shape), [0, 2, 3, 1]); // → [B·G, Hk, Wk, Cg]
      const before = tf.memory().numTensors;
      const out = gridSample(input, grid, { alignCorners: true, paddingMode: 'zeros' });
      expect(out.shape).toEqual(expected.shape);
      const err = maxAbsDiff(out.dataSync(), expected.dataSync());
      console.log(`[gridSample ${backend}] ${file} ${prefix} x_sampled max|diff| = ${err.toExponential(2)}`);
      expect(err).toBeLessThan(1e-5);
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([input, grid, expected]);
    });
  }

  it('matches DAT golden rpe_bias (table sampled off-grid): dat_pp_reduced_nonsquare stage0', () => {
    const file = 'dat_pp_reduced_nonsquare.io';
    const prefix = 'debug.stage0.block1';
    const [, , h, w] = need(fixtures, `${file}/${prefix}.attn_in`).shape as [number, number, number, number];
    const pos = need(fixtures, `${file}/${prefix}.pos`); // [1, 1, Hk, Wk, 2] (y, x), G = 1
    const ref = need(fixtures, `${file}/${prefix}.rpe_bias`); // [B·G, Mg, H·W, Ns]
    const table = need(fixtures, 'dat_pp_reduced_nonsquare.weights/stages.0.attns.1.rpe_table'); // [M, Th, Tw]
    const ns = pos.data.length / 2;
    // dat.md §4.6: query grid qy = (i/(H−1))·2 − 1 (float32 ops in torch's order), disp = (q − pos)·0.5,
    // grid_sample(table, disp[..., (x, y)], align_corners=True).
    const f = Math.fround;
    const grid = new Float32Array(h * w * ns * 2);
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++)
        for (let s = 0; s < ns; s++) {
          const qy = f(f(f(i / (h - 1)) * 2) - 1);
          const qx = f(f(f(j / (w - 1)) * 2) - 1);
          const o = ((i * w + j) * ns + s) * 2;
          grid[o] = f(f(qx - pos.data[s * 2 + 1]!) * 0.5);
          grid[o + 1] = f(f(qy - pos.data[s * 2]!) * 0.5);
        }
    const [m, th, tw] = table.shape as [number, number, number];
    const input = tf.tidy(
      () => tf.reshape(tf.transpose(tf.tensor3d(table.data, [m, th, tw]), [1, 2, 0]), [1, th, tw, m]) as tf.Tensor4D,
    );
    const g = tf.tensor4d(grid, [1, h * w, ns, 2]);
    const expected = tf.transpose(tf.tensor(ref.data, ref.shape), [0, 2, 3, 1]); // → [1, H·W, Ns, M]
    const out = gridSample(input, g, { alignCorners: true });
    const err = maxAbsDiff(out.dataSync(), expected.dataSync());
    console.log(
      `[gridSample ${backend}] ${file} ${prefix} rpe_bias (${h * w}×${ns}×${m}) max|diff| = ${err.toExponential(2)}`,
    );
    expect(err).toBeLessThan(1e-5);
    tf.dispose([input, g, expected, out]);
  });

  it('the fused kernel (inference default) equals the composite ops: random maps and grids, in and out of range', () => {
    let worst = 0;
    // [N, H, W, C, Ho, Wo]: DAT's keys (groups in the batch), a 1-pixel-wide map, one channel
    for (const [i, [n, h, w, c, ho, wo]] of [
      [2, 7, 9, 16, 3, 4],
      [1, 5, 1, 3, 6, 2],
      [3, 4, 4, 1, 5, 5],
    ].entries())
      for (const alignCorners of [true, false])
        for (const paddingMode of ['zeros', 'border'] as const) {
          const input = tf.randomUniform([n!, h!, w!, c!], -2, 2, 'float32', 10 + i) as tf.Tensor4D;
          // coordinates up to 1.3 beyond the map's edges, and exact pixel centres
          const grid = tf.tidy(() =>
            tf.concat(
              [
                tf.randomUniform([n!, ho!, wo! - 1, 2], -1.3, 1.3, 'float32', 20 + i),
                tf.fill([n!, ho!, 1, 2], alignCorners ? 1 : -1),
              ],
              2,
            ),
          ) as tf.Tensor4D;
          const before = tf.memory().numTensors;
          const fused = gridSample(input, grid, { alignCorners, paddingMode, path: 'fused' });
          const composite = gridSample(input, grid, { alignCorners, paddingMode, path: 'composite' });
          const byDefault = gridSample(input, grid, { alignCorners, paddingMode });
          expect(fused.shape).toEqual([n, ho, wo, c]);
          worst = Math.max(worst, maxAbsDiff(fused.dataSync(), composite.dataSync()));
          expect(maxAbsDiff(byDefault.dataSync(), fused.dataSync())).toBe(0);
          tf.dispose([fused, composite, byDefault]);
          expect(tf.memory().numTensors).toBe(before);
          tf.dispose([input, grid]);
        }
    console.log(`[gridSample ${backend}] fused vs composite: max|diff| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-6);
  });

  it('takes the composite path under a gradient (the fused kernel has none)', async () => {
    const input = tf.randomUniform([1, 4, 5, 2], -1, 1, 'float32', 3) as tf.Tensor4D;
    const grid = tf.randomUniform([1, 2, 3, 2], -0.9, 0.9, 'float32', 4) as tf.Tensor4D;
    const f = (gr: tf.Tensor) => tf.sum(gridSample(input, gr as tf.Tensor4D, { alignCorners: false }));
    let g: tf.Tensor | undefined;
    const info = await tf.profile(() => {
      g = tf.grad(f)(grid);
      return g;
    });
    expect(info.kernelNames).not.toContain('DynavitGridSample');
    expect(info.kernelNames).toContain('GatherV2');
    // d/dgx of one sample by central differences, against the recorded gradient
    const eps = 1e-2;
    const bump = (d: number) =>
      tf.tidy(() => f(tf.add(grid, tf.tensor4d([d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 2, 3, 2]))));
    const [up, down] = [bump(eps), bump(-eps)];
    const numeric = (up.dataSync()[0]! - down.dataSync()[0]!) / (2 * eps);
    expect(g!.dataSync()[0]).toBeCloseTo(numeric, 3);
    tf.dispose([input, grid, g!, up, down]);
  });

  it('rejects bad inputs with typed errors', () => {
    const x = tf.zeros([2, 4, 5, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const badRank = tf.zeros([2, 4, 2]) as unknown as tf.Tensor4D;
    const ok = tf.zeros([2, 1, 1, 2]) as tf.Tensor4D;
    expect(() => gridSample(badRank, ok, { alignCorners: true })).toThrow(ShapeError);
    const last3 = tf.zeros([2, 1, 1, 3]) as tf.Tensor4D;
    expect(() => gridSample(x, last3, { alignCorners: true })).toThrow(ShapeError);
    const batch1 = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
    expect(() => gridSample(x, batch1, { alignCorners: true })).toThrow(/batch 2/);
    expect(() => gridSample(x, ok, { alignCorners: true, paddingMode: 'reflection' as 'zeros' })).toThrow(
      InvalidArgumentError,
    );
    const intGrid = tf.zeros([2, 1, 1, 2], 'int32') as tf.Tensor4D;
    expect(() => gridSample(x, intGrid, { alignCorners: true })).toThrow(InvalidArgumentError);
    // an unknown path is a typed error, not the automatic choice
    expect(() => gridSample(x, ok, { alignCorners: true, path: 'fast' as 'fused' })).toThrow(
      /gridSample: path must be 'fused' or 'composite', got "fast"/,
    );
    tf.dispose([badRank, last3, batch1, ok, intGrid]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
