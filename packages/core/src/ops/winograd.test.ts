// the gradients of tfjs-core's ops (its Node bundle registers none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { Conv2d } from '../nn/layers.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import {
  conv2dWinograd,
  useWinograd,
  WINOGRAD_CONV2D_KERNEL,
  WINOGRAD_FLAG,
  winogradFilterTransform,
} from './winograd.js';

/** max(1, max |v|): the scale of the parity tolerance. */
function scaleOf(v: ArrayLike<number>): number {
  let m = 1;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]!));
  return m;
}

/** Winograd against the direct convolution, within 1e-5·max(1, max|ref|). */
function expectDirect(x: tf.Tensor4D, f: tf.Tensor4D, padding: [number, number], bandBytes?: number): void {
  const pad: [[number, number], [number, number], [number, number], [number, number]] = [
    [0, 0],
    [padding[0], padding[0]],
    [padding[1], padding[1]],
    [0, 0],
  ];
  const ref = tf.conv2d(x, f, 1, pad);
  const got = conv2dWinograd(x, f, bandBytes ? { padding, bandBytes } : { padding });
  expect(got.shape).toEqual(ref.shape);
  const r = ref.dataSync();
  expect(maxAbsDiff(got.dataSync(), r)).toBeLessThan(1e-5 * scaleOf(r));
  tf.dispose([ref, got]);
}

describe('winogradFilterTransform', () => {
  it('hand-computed: U = G g Gᵀ of a 3×3 filter with one channel pair', () => {
    // g = [[1,2,3],[4,5,6],[7,8,9]]; G g = [[1,2,3],[6,7.5,9],[2,2.5,3],[7,8,9]]; (G g) Gᵀ row by row:
    // (a, (a+b+c)/2, (a−b+c)/2, c)
    const u = winogradFilterTransform(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 1, 1);
    expect(Array.from(u)).toEqual([1, 3, 1, 3, 6, 11.25, 3.75, 9, 2, 3.75, 1.25, 3, 7, 12, 4, 9]);
  });
});

describe.each(TEST_BACKENDS)('conv2dWinograd on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('hand-computed: an all-ones filter sums each 3×3 window', () => {
    // x = 0 … 15 in a 4×4 map; valid windows at (0,0) (0,1) (1,0) (1,1): 45, 54, 81, 90
    const x = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => i),
      [1, 4, 4, 1],
    );
    const f = tf.ones([3, 3, 1, 1]) as tf.Tensor4D;
    const y = conv2dWinograd(x, f, { padding: [0, 0] });
    expect(y.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(y.dataSync())).toEqual([45, 54, 81, 90]);
    tf.dispose([x, f, y]);
  });

  it('equals tf.conv2d: odd and even maps, padding 0…2 per axis, batch 2, channel counts not multiples of 4', () => {
    const before = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds();
    for (const [b, h, w, cin, cout, ph, pw] of [
      [1, 8, 8, 4, 4, 1, 1],
      [2, 7, 5, 3, 5, 1, 1],
      [1, 3, 3, 2, 3, 0, 0],
      [1, 1, 1, 5, 2, 1, 1],
      [1, 6, 9, 7, 6, 0, 1],
      [2, 5, 4, 1, 1, 2, 2],
      [1, 2, 11, 6, 9, 1, 2],
    ] as const) {
      const x = tf.tensor4d(values(b * h * w * cin, h * 31 + w), [b, h, w, cin]);
      const f = tf.tensor4d(values(9 * cin * cout, cin * 7 + cout), [3, 3, cin, cout]);
      expectDirect(x, f, [ph, pw]);
      tf.dispose([x, f]);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(dataIds);
  });

  it('bands of one tile row give the same result as one band (2 images, 11×9 map)', () => {
    const x = tf.tensor4d(values(2 * 11 * 9 * 6, 3), [2, 11, 9, 6]);
    const f = tf.tensor4d(values(9 * 6 * 4, 4), [3, 3, 6, 4]);
    // one tile row: 16 positions · 5 tiles across · 6 channels · 4 bytes
    expectDirect(x, f, [1, 1], 16 * 5 * 6 * 4);
    expectDirect(x, f, [1, 1], 1);
    const one = conv2dWinograd(x, f, { bandBytes: 1 });
    const all = conv2dWinograd(x, f);
    expect(Array.from(one.dataSync())).toEqual(Array.from(all.dataSync()));
    tf.dispose([x, f, one, all]);
  });

  it('rejects bad input with typed errors and leaks nothing', () => {
    const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    const f = tf.zeros([3, 3, 2, 3]) as tf.Tensor4D;
    const f5 = tf.zeros([5, 5, 2, 3]) as tf.Tensor4D;
    const f4 = tf.zeros([3, 3, 4, 3]) as tf.Tensor4D;
    const x1 = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
    const xi = tf.zeros([1, 4, 4, 2], 'int32') as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => conv2dWinograd(x, f5)).toThrow(/filter must be \[3, 3, 2, Cout\]/);
    expect(() => conv2dWinograd(x, f4)).toThrow(InvalidArgumentError);
    expect(() => conv2dWinograd(x, f, { padding: [3, 1] })).toThrow(/padding must be/);
    expect(() => conv2dWinograd(x, f, { padding: [1] as unknown as [number, number] })).toThrow(InvalidArgumentError);
    expect(() => conv2dWinograd(x1, f, { padding: [0, 0] })).toThrow(/smaller than/);
    expect(() => conv2dWinograd(x, f, { bandBytes: 0 })).toThrow(/bandBytes/);
    expect(() => conv2dWinograd(xi, f)).toThrow(/float32, got int32/);
    expect(() => tf.grad((t: tf.Tensor) => tf.sum(conv2dWinograd(t as tf.Tensor4D, f)))(x)).toThrow(/no gradient/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, f, f5, f4, x1, xi]);
  });

  it('Conv2d takes Winograd by itself on wasm only, for large 3×3 convolutions, unless the flag is off', async () => {
    if (backend === 'cpu') {
      // cpu keeps tf.conv2d (what the 48² 512-channel layer below would take there, ~20 s, is not rerun)
      expect(useWinograd([1, 48, 48, 512], [3, 3, 512, 512], [1, 1], [1, 1], [1, 1])).toBe(false);
      return;
    }
    const conv = new Conv2d(512, 512, 3, { padding: 1 });
    tf.tidy(() => conv.weight.variable.assign(tf.tensor4d(values(9 * 512 * 512, 5), [3, 3, 512, 512]).mul(0.05)));
    tf.tidy(() => conv.bias!.variable.assign(tf.tensor1d(values(512, 6))));
    const x = tf.tensor4d(values(48 * 48 * 512, 11), [1, 48, 48, 512]);
    const kernels = async (): Promise<{ names: string[]; out: ArrayLike<number> }> => {
      let out: ArrayLike<number> = [];
      const prof = await tf.profile(() => {
        const y = conv.forward(x);
        out = y.dataSync();
        return y;
      });
      return { names: prof.kernelNames, out };
    };
    const auto = await kernels();
    tf.env().set(WINOGRAD_FLAG, false);
    let direct: { names: string[]; out: ArrayLike<number> };
    try {
      direct = await kernels();
    } finally {
      tf.env().set(WINOGRAD_FLAG, true);
    }
    // the direct convolution adds its bias inside the product (ops/bias.ts); Winograd adds it after
    expect(direct.names).toContain('FusedConv2D');
    expect(direct.names).not.toContain(WINOGRAD_CONV2D_KERNEL);
    expect(auto.names).toContain(WINOGRAD_CONV2D_KERNEL);
    expect(auto.names).not.toContain('Conv2D');
    expect(auto.names).not.toContain('FusedConv2D');
    expect(auto.names).toContain('Add');
    expect(direct.names).not.toContain('Add');
    expect(maxAbsDiff(auto.out, direct.out)).toBeLessThan(1e-5 * scaleOf(direct.out));
    // the policy: channels, pixels, stride, dilation and training keep the direct convolution
    {
      expect(useWinograd([1, 48, 48, 512], [3, 3, 512, 512], [1, 1], [1, 1], [1, 1])).toBe(true);
      expect(useWinograd([1, 48, 48, 256], [3, 3, 256, 512], [1, 1], [1, 1], [1, 1])).toBe(false);
      expect(useWinograd([1, 32, 32, 512], [3, 3, 512, 512], [1, 1], [1, 1], [1, 1])).toBe(false);
      expect(useWinograd([1, 48, 48, 512], [3, 3, 512, 512], [2, 2], [1, 1], [1, 1])).toBe(false);
      expect(useWinograd([1, 48, 48, 512], [3, 3, 512, 512], [1, 1], [2, 2], [2, 2])).toBe(false);
      expect(useWinograd([1, 48, 48, 512], [1, 1, 512, 512], [1, 1], [1, 1], [0, 0])).toBe(false);
      expect(useWinograd([1, 128, 128, 2048], [3, 3, 2048, 512], [1, 1], [1, 1], [1, 1])).toBe(true);
      expect(useWinograd([1, 256, 256, 2048], [3, 3, 2048, 512], [1, 1], [1, 1], [1, 1])).toBe(true);
      const g = tf.grad((t: tf.Tensor) => {
        expect(useWinograd([1, 48, 48, 512], [3, 3, 512, 512], [1, 1], [1, 1], [1, 1])).toBe(false);
        return tf.sum(t);
      })(tf.scalar(1));
      g.dispose();
    }
    conv.dispose();
    x.dispose();
  }, 60_000);
});
