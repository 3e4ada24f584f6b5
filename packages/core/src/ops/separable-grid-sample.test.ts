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
    const before = tf.memory().numTensors;
    const out = separableGridSample(input, gy, gx, { alignCorners });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(out.shape).toEqual([n, c, hq * wq, p]);
    const ref = reference(input, gy, gx, alignCorners);
    expect(maxAbs(out, ref)).toBeLessThan(2e-6);
    // not a vacuous match: some samples are inside and non-zero, some wholly outside and zero
    const r = ref.dataSync();
    expect(r.some((v) => Math.abs(v) > 0.1)).toBe(true);
    expect(r.some((v) => v === 0)).toBe(true);
    tf.dispose([input, gy, gx, out, ref]);
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
    t.dispose();
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
