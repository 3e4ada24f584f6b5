// full @tensorflow/tfjs first: it registers the gradient functions the gradient case needs
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { gridSample } from './grid-sample.js';
import { separableGridSample } from './separable-grid-sample.js';

/** The reference: the full grid built from the two separable ones, sampled with gridSample. */
function reference(input: tf.Tensor4D, gy: tf.Tensor3D, gx: tf.Tensor3D, alignCorners: boolean): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, hq, p] = gy.shape;
    const wq = gx.shape[1];
    // broadcast by adding zeros (differentiable; tfjs has no rank-5 tile gradient)
    const y = tf.add(tf.reshape(gy, [n, hq, 1, p]), tf.zeros([1, 1, wq, 1]));
    const x = tf.add(tf.reshape(gx, [n, 1, wq, p]), tf.zeros([1, hq, 1, 1]));
    const grid = tf.reshape(tf.stack([x, y], 4), [n, hq * wq, p, 2]) as tf.Tensor4D;
    const tables = tf.tile(input, [n / input.shape[0], 1, 1, 1]) as tf.Tensor4D;
    return tf.transpose(gridSample(tables, grid, { alignCorners, paddingMode: 'zeros' }), [0, 3, 1, 2]) as tf.Tensor4D;
  });
}

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);

describe.each(['cpu', 'wasm'])('separableGridSample on %s', (backend) => {
  it.each([
    true,
    false,
  ])('equals gridSample on the full grid (alignCorners %s), points outside the table included', async (alignCorners) => {
    await tf.setBackend(backend);
    const [nt, n, th, tw, c, hq, wq, p] = [2, 6, 9, 7, 3, 5, 4, 6];
    const input = tf.randomNormal([nt, th, tw, c], 0, 1, 'float32', 1) as tf.Tensor4D;
    // ±1.3: some samples fall (partly or wholly) outside the table and must get zero weights there
    const gy = tf.randomUniform([n, hq, p], -1.3, 1.3, 'float32', 2) as tf.Tensor3D;
    const gx = tf.randomUniform([n, wq, p], -1.3, 1.3, 'float32', 3) as tf.Tensor3D;
    const ref = reference(input, gy, gx, alignCorners);
    for (const path of ['fused', 'composite'] as const) {
      const before = tf.memory().numTensors;
      const out = separableGridSample(input, gy, gx, { alignCorners, path });
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(out.shape).toEqual([n, c, hq * wq, p]);
      expect(maxAbs(out, ref), path).toBeLessThan(2e-6);
      out.dispose();
    }
    // not a vacuous match: some samples are inside and non-zero, some wholly outside and zero
    const r = ref.dataSync();
    expect(r.some((v) => Math.abs(v) > 0.1)).toBe(true);
    expect(r.some((v) => v === 0)).toBe(true);
    tf.dispose([input, gy, gx, ref]);
  });

  it('runs the fused kernel by default, also under a gradient, and its gradients equal the composite’s', async () => {
    await tf.setBackend(backend);
    const [nt, n, th, tw, c, hq, wq, p] = [2, 4, 11, 9, 3, 5, 6, 7];
    const input = tf.randomNormal([nt, th, tw, c], 0, 1, 'float32', 11) as tf.Tensor4D;
    const gy = tf.randomUniform([n, hq, p], -1.2, 1.2, 'float32', 12) as tf.Tensor3D;
    const gx = tf.randomUniform([n, wq, p], -1.2, 1.2, 'float32', 13) as tf.Tensor3D;
    const w = tf.randomNormal([n, c, hq * wq, p], 0, 1, 'float32', 14);
    for (const alignCorners of [true, false]) {
      const loss = (path?: 'composite') => (t: tf.Tensor, y: tf.Tensor, x: tf.Tensor) =>
        tf.sum(
          tf.mul(
            separableGridSample(t as tf.Tensor4D, y as tf.Tensor3D, x as tf.Tensor3D, {
              alignCorners,
              ...(path ? { path } : {}),
            }),
            w,
          ),
        ) as tf.Scalar;
      const before = tf.memory().numTensors;
      const profile = await tf.profile(() => tf.dispose(tf.grads(loss())([input, gy, gx])));
      const names = profile.kernels.map((k) => k.name);
      expect(names).toContain('DynavitSeparableGridSample');
      expect(names).toContain('DynavitSeparableGridSampleGrad');
      expect(names).not.toContain('BatchMatMul');
      const fast = tf.grads(loss())([input, gy, gx]);
      const ref = tf.grads(loss('composite'))([input, gy, gx]);
      for (let k = 0; k < 3; k++) {
        const scale = tf.tidy(() => tf.max(tf.abs(ref[k]!)).dataSync()[0]!);
        expect(scale, `grad ${k} is not vacuous`).toBeGreaterThan(0.1);
        expect(maxAbs(fast[k]!, ref[k]!), `grad ${k}, alignCorners ${alignCorners}`).toBeLessThan(1e-4 * scale);
      }
      tf.dispose([...fast, ...ref]);
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([input, gy, gx, w]);
  });

  it('fused: the grid gradient at an exact tap is the slope towards the next row or column (torch’s floor)', async () => {
    await tf.setBackend(backend);
    // one 3×3 table, one channel: t[y][x] = 10·y + x², sampled at (y, x) = (1, 1) exactly and at (1.5, 0.25)
    const table = tf.tensor4d([0, 1, 4, 10, 11, 14, 20, 21, 24], [1, 3, 3, 1]);
    // alignCorners: u = (g + 1)·(3 − 1)/2 = g + 1, so dU/dg = 1
    const gy = tf.tensor3d([0, 0.5], [1, 1, 2]); // u_y = 1 (an exact tap), 1.5
    const gx = tf.tensor3d([0, -0.75], [1, 1, 2]); // u_x = 1 (an exact tap), 0.25
    const [dT, dGy, dGx] = tf.grads((t: tf.Tensor, y: tf.Tensor, x: tf.Tensor) =>
      tf.sum(
        separableGridSample(t as tf.Tensor4D, y as tf.Tensor3D, x as tf.Tensor3D, {
          alignCorners: true,
          path: 'fused',
        }),
      ),
    )([table, gy, gx]);
    // point 0 at (1, 1): value t[1][1]; d/dy = t[2][1] − t[1][1] = 10; d/dx = t[1][2] − t[1][1] = 3
    // point 1 at (1.5, 0.25): rows 1, 2 (½ each), columns 0, 1 (¾, ¼);
    //   d/dy = ¾·(t[2][0] − t[1][0]) + ¼·(t[2][1] − t[1][1]) = 10; d/dx = ½·(t[1][1] − t[1][0]) + ½·(t[2][1] − t[2][0]) = 1
    expect(Array.from(dGy!.dataSync())).toEqual([10, 10]);
    expect(Array.from(dGx!.dataSync())).toEqual([3, 1]);
    // the table's gradient: 1 at (1, 1) from point 0, the 4 taps' weights from point 1
    expect(Array.from(dT!.dataSync())).toEqual([0, 0, 0, 3 / 8, 1 + 1 / 8, 0, 3 / 8, 1 / 8, 0]);
    tf.dispose([table, gy, gx, dT!, dGy!, dGx!]);
  });

  it('names a bad shape', async () => {
    await tf.setBackend(backend);
    const t = tf.zeros([2, 5, 5, 1]) as tf.Tensor4D;
    expect(() =>
      separableGridSample(t, tf.zeros([3, 2, 4]) as tf.Tensor3D, tf.zeros([3, 2, 4]) as tf.Tensor3D, {
        alignCorners: true,
      }),
    ).toThrow(/multiple of the number of tables 2/);
    expect(() =>
      separableGridSample(t, tf.zeros([2, 2, 4]) as tf.Tensor3D, tf.zeros([2, 2, 3]) as tf.Tensor3D, {
        alignCorners: true,
      }),
    ).toThrow(/gridX/);
    // an unknown path is a typed error, not the automatic choice
    const g = tf.zeros([2, 2, 4]) as tf.Tensor3D;
    expect(() => separableGridSample(t, g, g, { alignCorners: true, path: 'fast' as 'fused' })).toThrow(
      /separableGridSample: path must be 'fused' or 'composite', got "fast"/,
    );
    tf.dispose([t, g]);
  });
});

describe('separableGridSample gradients (cpu)', () => {
  it('match gridSample’s w.r.t. the table and both grids', async () => {
    await tf.setBackend('cpu');
    const input = tf.randomNormal([1, 7, 7, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const gy = tf.randomUniform([2, 3, 4], -0.9, 0.9, 'float32', 5) as tf.Tensor3D;
    const gx = tf.randomUniform([2, 4, 4], -0.9, 0.9, 'float32', 6) as tf.Tensor3D;
    const w = tf.randomNormal([2, 2, 12, 4], 0, 1, 'float32', 7);
    const loss = (f: typeof separableGridSample) => (t: tf.Tensor, y: tf.Tensor, x: tf.Tensor) =>
      tf.sum(tf.mul(f(t as tf.Tensor4D, y as tf.Tensor3D, x as tf.Tensor3D, { alignCorners: true }), w)) as tf.Scalar;
    const fast = tf.grads(loss(separableGridSample))([input, gy, gx]);
    const ref = tf.grads(loss((t, y, x, o) => reference(t, y, x, o.alignCorners)))([input, gy, gx]);
    for (let k = 0; k < 3; k++) expect(maxAbs(fast[k]!, ref[k]!), `grad ${k}`).toBeLessThan(1e-4);
    tf.dispose([input, gy, gx, w, ...fast, ...ref]);
  });
});
