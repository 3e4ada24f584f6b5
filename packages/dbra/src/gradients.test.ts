import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { StateDict } from '@dynavit/core';
import { describe, expect, it } from 'vitest';
import { DeBiLevelRoutingAttention } from './index.js';

describe('gradients through the deformable bi-level routing attention', () => {
  it('reach the offset network weights, finite and non-zero (cpu)', async () => {
    // tfjs-core's Node bundle registers no gradients; @tensorflow/tfjs registers them on the same engine.
    // cpu here; wasm takes the same gradients through core's registerGradientKernels (UnsortedSegmentSum).
    await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    // 10×9 map, n_win 3 → padded 12×9; stride 2 → 6×5 agents, padded to 6×6: padding on both grids
    const attn = new DeBiLevelRoutingAttention(16, {
      numHeads: 4,
      nWin: 3,
      topk: 2,
      groups: 2,
      offsetKernel: 3,
      offsetStride: 2,
      agentMlpRatio: 2,
      rpeSize: 5,
    });
    const sd: StateDict = new Map(
      attn.stateDictShapes().map(([k, s]) => {
        const n = s.reduce((a, b) => a * b, 1);
        const norm = /norm2?\.weight$|\.norm\.weight$/.test(k);
        return [
          k,
          {
            dtype: 'F32' as const,
            shape: s,
            data: Float32Array.from({ length: n }, (_, i) => (norm ? 1 : 0.3 * Math.sin(i * 1.7 + k.length))),
          },
        ];
      }),
    );
    attn.loadStateDict(sd);
    const x = tf.randomNormal([1, 10, 9, 16], 0, 1, 'float32', 7) as tf.Tensor4D;
    const offsetVars = [...attn.conv_offset_q.namedParameters()].map(([, p]) => p.variable);
    expect(offsetVars).toHaveLength(4); // depthwise kk×kk, LayerNorm weight/bias, 1×1 → 1 channel
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(attn.forward(x))) as tf.Scalar, offsetVars);
    expect(Object.keys(grads)).toHaveLength(offsetVars.length);
    for (const [name, g] of Object.entries(grads)) {
      const v = g.dataSync();
      expect(v.every(Number.isFinite), name).toBe(true);
      expect(
        v.some((e) => e !== 0),
        name,
      ).toBe(true);
    }
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    attn.dispose();
  });
});
