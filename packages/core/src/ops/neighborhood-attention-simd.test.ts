import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, useBackend, values } from '../test-utils/backends.js';
import { neighborhoodAttention2dReference, neighborhoodAxisTables } from './neighborhood-attention.js';
import { neighborhoodAttentionSimd, neighborhoodSimdModule } from './neighborhood-attention-simd.js';

/** The 2-D window tables of one map (dilation 1), from the per-axis NATTEN tables: flat key position and
 * rpb index per query and slot. */
function tables(h: number, w: number, k: number): { key: Int32Array; bias: Int32Array } {
  const th = neighborhoodAxisTables(h, k);
  const tw = neighborhoodAxisTables(w, k);
  const key = new Int32Array(h * w * k * k);
  const bias = new Int32Array(h * w * k * k);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let a = 0; a < k; a++)
        for (let c = 0; c < k; c++) {
          const o = ((i * w + j) * k + a) * k + c;
          key[o] = th.key[i * k + a]! * w + tw.key[j * k + c]!;
          bias[o] = th.bias[i * k + a]! * (2 * k - 1) + tw.bias[j * k + c]!;
        }
  return { key, bias };
}

describe('neighbourhood attention in WebAssembly SIMD', () => {
  it('compiles here (Node has WebAssembly SIMD)', () => {
    expect(neighborhoodSimdModule()).not.toBeNull();
  });

  it('equals the gather composite (heads-first layout, rpb and none, D = 4, 8, 32) and declines D not a multiple of 4', async () => {
    await useBackend('cpu');
    for (const [B, M, H, W, D, k] of [
      [1, 2, 9, 10, 4, 3],
      [2, 3, 8, 8, 8, 7],
      [1, 2, 14, 14, 32, 7],
    ] as const) {
      const n = B * M * H * W * D;
      const [qv, kv, vv] = [values(n, 1 + D), values(n, 2 + D), values(n, 3 + D)];
      const rpbv = values(M * (2 * k - 1) ** 2, 4 + D);
      const { key, bias } = tables(H, W, k);
      const strides = [M * H * W * D, H * W * D, D] as const;
      const layout = { q: qv, k: kv, v: vv, qOff: 0, kOff: 0, vOff: 0, inStrides: strides, outStrides: strides };
      for (const rpb of [rpbv, null]) {
        const got = new Float32Array(n).fill(Number.NaN); // every value must be written
        expect(neighborhoodAttentionSimd(layout, [B, M, H, W, D], key, bias, rpb, k, 1, got)).toBe(true);
        const ref = tf.tidy(() => {
          const t = (v: Float32Array) => tf.tensor5d(v, [B, M, H, W, D]);
          const bt = rpb ? tf.tensor3d(rpb, [M, 2 * k - 1, 2 * k - 1]) : null;
          return neighborhoodAttention2dReference(t(qv), t(kv), t(vv), bt, k).out;
        });
        expect(maxAbsDiff(got, ref.dataSync())).toBeLessThan(1e-5);
        ref.dispose();
      }
    }
    const strides = [2 * 16 * 3, 16 * 3, 3] as const;
    const v = values(2 * 16 * 3, 9);
    const layout = { q: v, k: v, v, qOff: 0, kOff: 0, vOff: 0, inStrides: strides, outStrides: strides };
    const { key, bias } = tables(4, 4, 3);
    const untouched = new Float32Array(2 * 16 * 3);
    expect(neighborhoodAttentionSimd(layout, [1, 2, 4, 4, 3], key, bias, null, 3, 1, untouched)).toBe(false);
    expect(untouched.every((x) => x === 0)).toBe(true);
  });
});
