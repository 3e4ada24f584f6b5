/**
 * MAC counting ("FLOPs" as the papers count them, core's `countMacs`) and the broadcast ranks the
 * WebGPU backend needs. The official figures are the README's (dbra.md §2.1, measured with fvcore at
 * 224×224): DeBiFormer-T 2.6 G, -S 5.4 G, -B 11.8 G. What is counted: convs, linears, the routing
 * matmul, the routed (bi-level) attention products and the dense query→agent attention products;
 * not norms, softmax, the bilinear sampling or element-wise ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { countMacs, highRankBroadcasts } from '@dynavit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type DeBiFormer, DeBiLevelRoutingAttention, dbra, routedAttention } from './index.js';

describe('MACs of DeBiFormer', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('debi_tiny at 224×224: 2,635,981,312 MACs — the README states 2.6 G', () => {
    const model = dbra.create('debi_tiny') as DeBiFormer;
    const x = tf.zeros([1, 224, 224, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const { result, macs } = countMacs(() => model.forward(x));
    result.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
    expect(Math.abs(macs - 2.6e9), `${macs} MACs`).toBeLessThanOrEqual(0.05e9); // 2.6 G as rounded in the README
    // exact: stem/transitions, block convs, BRA/DBRA projections and MLPs (all convs/linears) + attention products
    expect(macs).toBe(2_635_981_312);
  });

  it('routed attention reports the reference products (2·N·P·tq·k·T·C) whichever evaluation runs', () => {
    const [n, p, tq, t, c, m, topk] = [2, 9, 2, 4, 16, 2, 3];
    tf.tidy(() => {
      const q = tf.randomNormal([n, p, tq, c]) as tf.Tensor4D;
      const k = tf.randomNormal([n, p, t, c]) as tf.Tensor4D;
      const v = tf.randomNormal([n, p, t, c]) as tf.Tensor4D;
      const idx = tf.tensor3d(
        Array.from({ length: n * p * topk }, (_, i) => (Math.floor(i / topk) + (i % topk)) % p),
        [n, p, topk],
        'int32',
      );
      const gathered = countMacs(() => routedAttention(q, k, v, idx, m, 0.25, 'gather'));
      const masked = countMacs(() => routedAttention(q, k, v, idx, m, 0.25, 'mask'));
      expect(gathered.macs).toBe(2 * n * p * tq * topk * t * c);
      expect(masked.macs).toBe(gathered.macs);
      expect(tf.max(tf.abs(tf.sub(masked.result, gathered.result))).arraySync()).toBeLessThan(1e-5);
    });
  });

  it('scales with the batch and counts padded maps (any size works)', () => {
    const model = dbra.create('debi_tiny') as DeBiFormer;
    const count = (shape: [number, number, number, number]) =>
      tf.tidy(() => {
        const x = tf.zeros(shape) as tf.Tensor4D;
        return countMacs(() => model.forward(x)).macs;
      });
    const one = count([1, 72, 88, 3]);
    expect(count([2, 72, 88, 3])).toBe(2 * one);
    expect(one).toBeGreaterThan(0);
    model.dispose();
  });
});

describe('broadcasting at rank ≤ 4 (tfjs-webgpu has no Tile program for rank ≥ 5)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('the masked routed attention (token mask) and the gathered one', async () => {
    const [n, p, tq, t, c, m, topk] = [2, 4, 3, 4, 8, 2, 2];
    const q = tf.randomNormal([n, p, tq, c]) as tf.Tensor4D;
    const k = tf.randomNormal([n, p, t, c]) as tf.Tensor4D;
    const v = tf.randomNormal([n, p, t, c]) as tf.Tensor4D;
    const idx = tf.tensor3d([0, 1, 1, 2, 2, 3, 3, 0, 1, 0, 2, 1, 3, 2, 0, 3], [n, p, topk], 'int32');
    expect(await highRankBroadcasts(() => routedAttention(q, k, v, idx, m, 0.3, 'mask'))).toEqual([]);
    expect(await highRankBroadcasts(() => routedAttention(q, k, v, idx, m, 0.3, 'gather'))).toEqual([]);
    tf.dispose([q, k, v, idx]);
  });

  it('a DBRA with batch 2 and 2 offset groups (the per-group position table)', async () => {
    const attn = new DeBiLevelRoutingAttention(16, {
      numHeads: 4,
      nWin: 2,
      topk: 2,
      groups: 2,
      offsetKernel: 3,
      offsetStride: 2,
      agentMlpRatio: 2,
      rpeSize: 4,
    });
    const x = tf.randomNormal([2, 7, 9, 16]) as tf.Tensor4D;
    expect(await highRankBroadcasts(() => attn.forward(x))).toEqual([]);
    x.dispose();
    attn.dispose();
  });

  it('a whole debi_tiny forward with batch 2', async () => {
    const model = dbra.create('debi_tiny') as DeBiFormer;
    const x = tf.randomNormal([2, 40, 48, 3]) as tf.Tensor4D;
    expect(await highRankBroadcasts(() => model.forward(x))).toEqual([]);
    x.dispose();
    model.dispose();
  });
});
