/**
 * The bias inside the product (`fused-bias.ts`): on wasm, for inference, `Conv2d` and `Linear` run
 * tfjs' fused kernels; the composite (the product, then `tf.add`) is the reference, taken under a
 * gradient, on cpu, and with the flag off.
 */
// the gradients (tfjs-core's Node bundle registers none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { Conv2d, type Conv2dOptions, Linear } from '../nn/layers.js';
import type { Parameter } from '../nn/module.js';
import { maxAbsDiff, useBackend, values } from '../test-utils/backends.js';
import { FUSED_BIAS_FLAG, useFusedBias } from './fused-bias.js';

/** Deterministic values into a parameter's variable. */
function fill(p: Parameter, seed: number): void {
  const t = tf.tensor(values(p.variable.size, seed), p.variable.shape);
  p.variable.assign(t);
  t.dispose();
}

function conv(cin: number, cout: number, k: number, opts: Conv2dOptions): Conv2d {
  const c = new Conv2d(cin, cout, k, opts);
  fill(c.weight, 3);
  if (c.bias) fill(c.bias, 4);
  return c;
}

/** The kernels one call runs, and its output. */
async function kernelsOf(f: () => tf.Tensor): Promise<{ names: string[]; y: Float32Array }> {
  let y: Float32Array = new Float32Array();
  const info = await tf.profile(async () => {
    const t = f();
    y = (await t.data()) as Float32Array;
    t.dispose();
    return [] as tf.Tensor[];
  });
  return { names: info.kernels.map((k) => k.name), y };
}

/** The same call with the flag off: the composite. */
async function composite(f: () => tf.Tensor): Promise<{ names: string[]; y: Float32Array }> {
  tf.env().set(FUSED_BIAS_FLAG, false);
  try {
    return await kernelsOf(f);
  } finally {
    tf.env().set(FUSED_BIAS_FLAG, true);
  }
}

const within = (got: Float32Array, want: Float32Array) => {
  let ref = 1;
  for (const v of want) ref = Math.max(ref, Math.abs(v));
  expect(got.length).toBe(want.length);
  expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5 * ref);
};

describe('the bias inside the product (wasm, inference)', () => {
  afterEach(() => tf.env().set(FUSED_BIAS_FLAG, true));

  const cases: [string, number, number, number, Conv2dOptions, string][] = [
    ['1×1 conv', 24, 40, 1, {}, 'FusedConv2D'],
    ['3×3 conv, padding 1, stride 2', 16, 24, 3, { padding: 1, stride: 2 }, 'FusedConv2D'],
    ['3×3 conv, padding [2, 0], dilation 2', 8, 12, 3, { padding: [2, 0], dilation: 2 }, 'FusedConv2D'],
    ['depthwise 7×7, padding 3', 32, 32, 7, { padding: 3, groups: 32 }, 'FusedDepthwiseConv2D'],
    ['depthwise 3×3, stride 2, padding 1', 16, 16, 3, { padding: 1, stride: 2, groups: 16 }, 'FusedDepthwiseConv2D'],
  ];
  for (const [what, cin, cout, k, opts, kernel] of cases)
    it(`${what}: ${kernel}, equal to the conv and its add within float32 rounding`, async () => {
      await useBackend('wasm');
      const c = conv(cin, cout, k, opts);
      const x = tf.tensor4d(values(2 * 13 * 11 * cin, 7), [2, 13, 11, cin]);
      const start = tf.memory().numTensors;
      expect(useFusedBias()).toBe(true);
      const fused = await kernelsOf(() => c.forward(x));
      const ref = await composite(() => c.forward(x));
      expect(fused.names).toContain(kernel);
      expect(fused.names).not.toContain('Add');
      expect(ref.names).toContain('Add');
      within(fused.y, ref.y);
      expect(tf.memory().numTensors).toBe(start);
      x.dispose();
      c.dispose();
    });

  it('Linear: _FusedMatMul, equal to matMul and its add within float32 rounding', async () => {
    await useBackend('wasm');
    const l = new Linear(48, 20);
    fill(l.weight, 5);
    fill(l.bias!, 6);
    const x = tf.tensor3d(values(3 * 17 * 48, 8), [3, 17, 48]);
    const start = tf.memory().numTensors;
    const fused = await kernelsOf(() => l.forward(x));
    const ref = await composite(() => l.forward(x));
    expect(fused.names).toContain('_FusedMatMul');
    expect(fused.names).not.toContain('Add');
    expect(ref.names).toEqual(expect.arrayContaining(['BatchMatMul', 'Add']));
    within(fused.y, ref.y);
    expect(tf.memory().numTensors).toBe(start);
    x.dispose();
    l.dispose();
  });

  it('a depthwise conv padded unevenly, a layer without bias and grouped convs keep the composite', async () => {
    await useBackend('wasm');
    const x = tf.tensor4d(values(9 * 9 * 8, 2), [1, 9, 9, 8]);
    const uneven = conv(8, 8, 3, { padding: [1, 0], groups: 8 });
    expect((await kernelsOf(() => uneven.forward(x))).names).toEqual(
      expect.arrayContaining(['DepthwiseConv2dNative', 'Add']),
    );
    const plain = conv(8, 4, 1, { bias: false });
    const names = (await kernelsOf(() => plain.forward(x))).names;
    expect(names).toContain('Conv2D');
    expect(names).not.toContain('FusedConv2D');
    const grouped = conv(8, 4, 1, { groups: 2 });
    expect((await kernelsOf(() => grouped.forward(x))).names).toEqual(expect.arrayContaining(['Conv2D', 'Add']));
    tf.dispose([x]);
    for (const m of [uneven, plain, grouped]) m.dispose();
  });

  it('under a gradient the layers take the composite: no fused kernel, the same gradients as with the flag off', async () => {
    await useBackend('wasm');
    const c = conv(6, 10, 3, { padding: 1 });
    const x = tf.tensor4d(values(2 * 8 * 8 * 6, 9), [2, 8, 8, 6]);
    const f = (xx: tf.Tensor) => tf.sum(tf.square(c.forward(xx)));
    let on: { value: tf.Tensor; grad: tf.Tensor } | undefined;
    const info = await tf.profile(() => {
      on = tf.valueAndGrad(f)(x);
      return [] as tf.Tensor[];
    });
    const names = info.kernels.map((k) => k.name);
    expect(names).toEqual(expect.arrayContaining(['Conv2D', 'Add', 'Conv2DBackpropInput']));
    expect(names.filter((n) => n.startsWith('Fused') || n.startsWith('_Fused'))).toEqual([]);
    tf.env().set(FUSED_BIAS_FLAG, false);
    const off = tf.valueAndGrad(f)(x);
    tf.env().set(FUSED_BIAS_FLAG, true);
    expect(maxAbsDiff(await on!.grad.data(), await off.grad.data())).toBe(0);
    expect(maxAbsDiff(await on!.value.data(), await off.value.data())).toBe(0);
    tf.dispose([on!.value, on!.grad, off.value, off.grad, x]);
    c.dispose();
  });

  it('on cpu nothing changes: conv, then add', async () => {
    await useBackend('cpu');
    expect(useFusedBias()).toBe(false);
    const c = conv(4, 6, 1, {});
    const x = tf.tensor4d(values(5 * 5 * 4, 1), [1, 5, 5, 4]);
    expect((await kernelsOf(() => c.forward(x))).names).toEqual(expect.arrayContaining(['Conv2D', 'Add']));
    x.dispose();
    c.dispose();
  });
});
