import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, useBackend } from '../test-utils/backends.js';
import { applyOutputNorms, LayerNormProxy, TransformerMLPWithConv } from './blocks.js';
import { ModuleList } from './module.js';
import { gelu, layerNorm } from './layers.js';

describe('shared blocks', () => {
  beforeAll(() => useBackend('cpu'));

  it('LayerNormProxy keeps its parameters under .norm with eps 1e-5', () => {
    const ln = new LayerNormProxy(3);
    expect(ln.stateDictShapes()).toEqual([
      ['norm.weight', [3]],
      ['norm.bias', [3]],
    ]);
    ln.loadStateDict({
      'norm.weight': { dtype: 'F32', shape: [3], data: Float32Array.of(1, 1, 1) },
      'norm.bias': { dtype: 'F32', shape: [3], data: new Float32Array(3) },
    });
    const x = tf.tensor2d([[1, 2, 4]]);
    const y = ln.forward(x);
    const want = layerNorm(x, null, null, 1e-5);
    expect(maxAbsDiff(y.dataSync(), want.dataSync())).toBe(0);
    tf.dispose([x, y, want]);
    ln.dispose();
  });

  it('TransformerMLPWithConv: official key order, GELU applied after h + dwconv(h)', () => {
    const m = new TransformerMLPWithConv(2, 4);
    expect(m.stateDictShapes().map(([k]) => k)).toEqual([
      'linear1.0.weight',
      'linear1.0.bias',
      'linear2.0.weight',
      'linear2.0.bias',
      'dwc.weight',
      'dwc.bias',
    ]);
    const sd = new Map(
      m.stateDictShapes().map(([k, s]) => [
        k,
        {
          dtype: 'F32' as const,
          shape: s,
          data: Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + k.length)),
        },
      ]),
    );
    m.loadStateDict(sd);
    const x = tf.randomNormal([1, 3, 3, 2], 0, 1, 'float32', 1) as tf.Tensor4D;
    const y = m.forward(x);
    const want = tf.tidy(() => {
      const h = m.linear1.forward(x);
      return m.linear2.forward(gelu(tf.add(h, m.dwc.forward(h))));
    });
    expect(maxAbsDiff(y.dataSync(), want.dataSync())).toBe(0);
    // and it is not the GELU-before-add variant
    const other = tf.tidy(() => {
      const h = m.linear1.forward(x);
      return m.linear2.forward(tf.add(gelu(h), m.dwc.forward(h)));
    });
    expect(maxAbsDiff(y.dataSync(), other.dataSync())).toBeGreaterThan(1e-3);
    tf.dispose([x, y, want, other]);
    m.dispose();
  });
});

describe('applyOutputNorms', () => {
  it('applies norm i to feature map i, or returns the maps unchanged without norms', () => {
    const feats = [
      tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 1),
      tf.randomNormal([1, 2, 2, 5], 0, 1, 'float32', 2),
    ] as tf.Tensor4D[];
    expect(applyOutputNorms(feats, null)).toBe(feats);
    const norms = new ModuleList([new LayerNormProxy(3), new LayerNormProxy(5)]);
    const out = applyOutputNorms(feats, norms);
    for (let i = 0; i < 2; i++) {
      const want = norms.at(i).forward(feats[i]!);
      expect(out[i]!.shape).toEqual(feats[i]!.shape);
      expect(Array.from(out[i]!.dataSync())).toEqual(Array.from(want.dataSync()));
      // normalised over channels: each pixel's channels have mean ≈ 0 (weight 1, bias 0 at init)
      expect(Math.abs(tf.mean(tf.mean(out[i]!, 3)).dataSync()[0]!)).toBeLessThan(1e-5);
      want.dispose();
    }
    tf.dispose([...feats, ...out]);
    norms.dispose();
  });
});
