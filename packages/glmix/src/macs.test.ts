/**
 * MAC counting ("FLOPs" as the papers count them, core's `countMacs`) against the official own count
 * recorded in the manifests (`own_mac_count_224`: "conv, linear, MHA projections and QK/AV matmuls,
 * GLMix grouping/dispatch matmuls; norms/activations/softmax not counted", glmix.md §1), and the
 * broadcast ranks the WebGPU backend needs.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { countMacs, highRankBroadcasts } from '@dynavit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { FastLinear, GLMixAttention, type GLNet, glmix, MultiheadAttention } from './index.js';

const manifests = fileURLToPath(new URL('./__fixtures__/manifests/', import.meta.url));
interface Manifest {
  readme_claims: { flops: string };
  own_mac_count_224: { gmacs: number };
}
const manifest = (variant: string) =>
  JSON.parse(readFileSync(`${manifests}manifest.${variant}.json`, 'utf8')) as Manifest;

describe('MACs of GLNet', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('glnet_4g at 224×224 matches the official own count (4.482 G; README 4.5 G)', () => {
    const m = manifest('glnet_4g');
    const model = glmix.create('glnet_4g') as GLNet;
    const x = tf.zeros([1, 224, 224, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const { result, macs } = countMacs(() => model.forward(x));
    tf.dispose(result);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
    // the manifest rounds to 1e-3 G
    expect(
      Math.abs(macs / 1e9 - m.own_mac_count_224.gmacs),
      `${macs} MACs vs ${m.own_mac_count_224.gmacs} G`,
    ).toBeLessThanOrEqual(0.0005);
    expect(Math.abs(macs / 1e9 - Number.parseFloat(m.readme_claims.flops))).toBeLessThanOrEqual(0.05);
    expect(macs).toBe(4_482_122_752);
  });

  it('FastLinear, MultiheadAttention and the GLMix mixing report what they multiply', () => {
    const [B, N, C, nh] = [2, 5, 8, 2];
    tf.tidy(() => {
      const lin = new FastLinear(C, 3);
      expect(countMacs(() => lin.forward(tf.zeros([B, N, C]))).macs).toBe(B * N * C * 3);
      const mha = new MultiheadAttention(C, nh);
      // in-projection 3C², out-projection C², q·kᵀ and attn·v N·C each, per token
      expect(countMacs(() => mha.forward(tf.zeros([B, N, C]) as tf.Tensor3D)).macs).toBe(
        B * N * (4 * C * C + 2 * N * C),
      );
      const [H, W, S] = [6, 7, 4];
      const g = new GLMixAttention(C, { numHeads: nh, numSlots: S, slotInit: 'param', localDwKs: 3 });
      const L = H * W;
      const local = 2 * B * L * C * C + B * L * C * 9; // feature_conv: 1×1, depthwise 3×3, 1×1
      const slots = B * S * (4 * C * C + 2 * S * C); // relation_mha over the S slots
      const clustering = 3 * B * S * L * C; // logits, grouping, dispatch
      expect(countMacs(() => g.forward(tf.zeros([B, H, W, C]) as tf.Tensor4D)).macs).toBe(local + slots + clustering);
      for (const mod of [lin, mha, g]) mod.dispose();
    });
  });
});

describe('broadcasting at rank ≤ 4 (tfjs-webgpu has no Tile program for rank ≥ 5)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  for (const variant of ['glnet_stl_paramslot', 'glnet_4g_tklb'] as const) {
    it(`a whole ${variant} forward with batch 2`, async () => {
      const model = glmix.create(variant) as GLNet;
      const x = tf.randomNormal([2, 64, 80, 3]) as tf.Tensor4D;
      expect(await highRankBroadcasts(() => model.forward(x))).toEqual([]);
      x.dispose();
      model.dispose();
    });
  }
});
