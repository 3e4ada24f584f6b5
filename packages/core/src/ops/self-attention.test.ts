// the gradients of tfjs-core's ops (its Node bundle registers none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { SELF_ATTENTION_QKV_KERNEL, selfAttentionFromQKV } from './self-attention.js';

/** softmax((q·scale)·kᵀ)·v per head in float64, straight from the packed rows. */
function reference(qkv: Float32Array, b: number, n: number, c: number, heads: number, scale: number): Float64Array {
  const hd = c / heads;
  const out = new Float64Array(b * n * c);
  const at = (img: number, tok: number, part: number, h: number, d: number) =>
    qkv[((img * n + tok) * 3 + part) * c + h * hd + d]!;
  for (let img = 0; img < b; img++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < n; i++) {
        const s = Array.from({ length: n }, (_, j) => {
          let dot = 0;
          for (let d = 0; d < hd; d++) dot += at(img, i, 0, h, d) * scale * at(img, j, 1, h, d);
          return dot;
        });
        const max = Math.max(...s);
        const e = s.map((x) => Math.exp(x - max));
        const sum = e.reduce((p, q) => p + q, 0);
        for (let d = 0; d < hd; d++) {
          let o = 0;
          for (let j = 0; j < n; j++) o += (e[j]! / sum) * at(img, j, 2, h, d);
          out[(img * n + i) * c + h * hd + d] = o;
        }
      }
  return out;
}

describe.each(TEST_BACKENDS)('selfAttentionFromQKV on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('hand-computed: two tokens, one head of width 4', () => {
    // q0 = (1,0,0,0), q1 = (0,1,0,0); k0 = (2,0,0,0), k1 = (0,2,0,0); v0 = (1,2,3,4), v1 = (5,6,7,8); scale ½
    // row 0: s = (1, 0) → p = (e/(e+1), 1/(e+1)); row 1: s = (0, 1) → p = (1/(e+1), e/(e+1))
    const qkv = tf.tensor3d([1, 0, 0, 0, 2, 0, 0, 0, 1, 2, 3, 4, 0, 1, 0, 0, 0, 2, 0, 0, 5, 6, 7, 8], [1, 2, 12]);
    const [a, z] = [Math.E / (Math.E + 1), 1 / (Math.E + 1)];
    const want = [0, 1, 2, 3].flatMap((d) => [a * (1 + d) + z * (5 + d)]);
    const want1 = [0, 1, 2, 3].map((d) => z * (1 + d) + a * (5 + d));
    for (const path of ['fused', 'composite'] as const) {
      const y = selfAttentionFromQKV(qkv, 1, { scale: 0.5, path });
      expect(y.shape).toEqual([1, 2, 4]);
      expect(maxAbsDiff(y.dataSync(), [...want, ...want1]), path).toBeLessThan(2e-6);
      y.dispose();
    }
    qkv.dispose();
  });

  it('the kernel equals the composite and a float64 reference: N = 1, 7, 33, 196; hd = 4, 12, 16, 32; batches', async () => {
    const before = tf.memory().numTensors;
    for (const [b, n, c, heads, gain] of [
      [1, 1, 8, 2, 1], // one token: p = 1
      [2, 7, 24, 2, 1], // hd 12: three groups of four; N not a multiple of 4
      [1, 33, 32, 2, 3], // hd 16: one group of sixteen; N = 33 pads to 36
      [1, 196, 256, 8, 1], // GLNet-4G stage 3 at 224²
      [3, 49, 64, 2, 1], // hd 32: two groups of sixteen
      [1, 20, 16, 4, 40], // logits far apart: most e^(s − max) underflow to 0
    ] as const) {
      const v = values(b * n * 3 * c, n + c);
      const qkv = tf.tidy(() => tf.mul(tf.tensor3d(v, [b, n, 3 * c]), gain)) as tf.Tensor3D;
      const host = qkv.dataSync() as Float32Array;
      const scale = (c / heads) ** -0.5;
      const fused = selfAttentionFromQKV(qkv, heads, { path: 'fused' });
      const composite = selfAttentionFromQKV(qkv, heads, { path: 'composite' });
      expect(fused.shape).toEqual([b, n, c]);
      const label = `B ${b} N ${n} C ${c} heads ${heads} ×${gain}`;
      expect(maxAbsDiff(fused.dataSync(), composite.dataSync()), label).toBeLessThan(1e-5 * gain);
      expect(maxAbsDiff(fused.dataSync(), reference(host, b, n, c, heads, scale)), label).toBeLessThan(1e-5 * gain);
      tf.dispose([qkv, fused, composite]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // the default for inference is the kernel, alone
    const qkv = tf.tensor3d(values(2 * 9 * 48, 5), [2, 9, 48]);
    const names = (await tf.profile(() => selfAttentionFromQKV(qkv, 4))).kernelNames;
    expect(names).toEqual([SELF_ATTENTION_QKV_KERNEL]);
    // a head width that is not a multiple of 4 takes the composite
    const odd = tf.tensor3d(values(9 * 18, 6), [1, 9, 18]);
    const oddNames = (await tf.profile(() => selfAttentionFromQKV(odd, 2))).kernelNames;
    expect(oddNames).not.toContain(SELF_ATTENTION_QKV_KERNEL);
    expect(oddNames).toContain('Softmax');
    tf.dispose([qkv, odd]);
  });

  it('under a gradient the composite runs, with its gradients', () => {
    const qkv = tf.tensor3d(values(2 * 5 * 24, 31), [2, 5, 24]);
    const w = tf.tensor3d(values(2 * 5 * 8, 32), [2, 5, 8]);
    const loss = (path?: 'composite') => (t: tf.Tensor) =>
      tf.sum(tf.mul(selfAttentionFromQKV(t as tf.Tensor3D, 2, path ? { path } : {}), w));
    const g = tf.grad(loss())(qkv);
    const r = tf.grad(loss('composite'))(qkv);
    expect(Array.from(g.dataSync())).toEqual(Array.from(r.dataSync()));
    expect(maxAbsDiff(g.dataSync(), new Float32Array(g.size))).toBeGreaterThan(0);
    tf.dispose([qkv, w, g, r]);
  });

  it('bad arguments: typed errors', () => {
    const qkv = tf.zeros([1, 4, 24]) as tf.Tensor3D;
    expect(() => selfAttentionFromQKV(tf.zeros([4, 24]) as unknown as tf.Tensor3D, 2)).toThrow(ShapeError);
    expect(() => selfAttentionFromQKV(qkv, 5)).toThrow(/24 channels are not 3 × 5 heads/);
    expect(() => selfAttentionFromQKV(qkv, 0)).toThrow(InvalidArgumentError);
    expect(() => selfAttentionFromQKV(qkv, 1.5)).toThrow(InvalidArgumentError);
    expect(() => selfAttentionFromQKV(qkv, 2, { scale: Number.NaN })).toThrow(/scale must be a finite number/);
    const bad = { path: 'fast' } as unknown as { path: 'fused' };
    expect(() => selfAttentionFromQKV(qkv, 2, bad)).toThrow(/path must be 'fused' or 'composite'/);
    // hd 6: the kernel cannot run, and says so when asked for
    const odd = tf.zeros([1, 4, 36]) as tf.Tensor3D;
    expect(() => selfAttentionFromQKV(odd, 2, { path: 'fused' })).toThrow(/multiple of 4 \(got 6\)/);
    tf.dispose([qkv, odd]);
  });
});
