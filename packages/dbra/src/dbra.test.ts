import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { InputSizeError, InvalidArgumentError, NotImplementedError, Registry, ShapeError } from '@dynavit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BiLevelRoutingAttention,
  DeBiFormer,
  type DeBiFormerConfig,
  DeBiLevelRoutingAttention,
  dbra,
  dbraFromReference,
  fromOfficialConfig,
  variants,
} from './index.js';

const dir = fileURLToPath(new URL('./__fixtures__/manifests/', import.meta.url));
interface Manifest {
  params: number;
  config: Record<string, unknown>;
  state_dict: [string, number[]][];
  buffers: string[];
}
const manifests = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    name: f.slice('manifest.'.length, -'.json'.length).replace('.', '_') as keyof typeof variants,
    m: JSON.parse(readFileSync(dir + f, 'utf8')) as Manifest,
  }));

describe('dbra variants', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('declares exactly the official variants with their parameter counts and constructor kwargs, and debi_fmnist', () => {
    expect(manifests.length).toBe(9);
    expect(Object.keys(variants).sort()).toEqual([...manifests.map((x) => x.name), 'debi_fmnist'].sort());
    for (const { name, m } of manifests) {
      expect(variants[name].params, name).toBe(m.params);
      expect(variants[name].config, name).toEqual(m.config);
    }
  });

  it('registers explicitly', () => {
    const r = new Registry().use(dbra);
    expect(r.listModels()).toHaveLength(manifests.length + 1);
    expect(r.listModels().every((m) => m.family === 'dbra')).toBe(true);
    expect(r.familyForReference('maclong01/DeBiFormer@1ceb090')).toBe(dbra);
  });

  for (const { name, m } of manifests) {
    it(`${name}: state_dict keys, PyTorch shapes, order (buffers included) and parameter count`, () => {
      const model = new Registry().use(dbra).createModel(name);
      try {
        expect(model.stateDictShapes()).toEqual(m.state_dict);
        expect(model.parameterCount()).toBe(m.params);
        const buffers = [...model.namedEntries()].filter((e) => e.kind === 'buffer').map((e) => e.key);
        expect(buffers).toEqual(m.buffers);
      } finally {
        model.dispose();
      }
    });
  }

  it('DeBiFormer-B has 95,501,926 parameters in the official code (not the README 77M)', () => {
    expect(variants.debi_base.params).toBe(95_501_926);
  });

  it('numClasses overrides the classifier head', () => {
    const model = new Registry().use(dbra).createModel('debi_tiny', { numClasses: 10 }) as DeBiFormer;
    expect(model.numClasses).toBe(10);
    expect(model.stateDictShapes().at(-2)).toEqual(['head.weight', [10, 512]]);
    model.dispose();
  });
});

describe('official config reader', () => {
  const base = variants.debi_tiny.config;

  it('makes the per-width settings explicit (tiny / small / base tables, dbra.md §2.2)', () => {
    const t = fromOfficialConfig(base, false);
    expect(t.stages.map((s) => s.deform)).toEqual([
      { groups: 1, offsetKernel: 9, offsetStride: 8, agentMlpRatio: 3, rpeSize: 56 },
      { groups: 2, offsetKernel: 7, offsetStride: 4, agentMlpRatio: 3, rpeSize: 28 },
      { groups: 4, offsetKernel: 5, offsetStride: 2, agentMlpRatio: 3, rpeSize: 14 },
      { groups: 8, offsetKernel: 3, offsetStride: 1, agentMlpRatio: 3, rpeSize: 7 },
    ]);
    expect(t.stages.map((s) => s.numHeads)).toEqual([2, 4, 8, 16]);
    expect(t.stages.map((s) => s.attn.map((a) => `${a.kind}${a.topk}`).join('+'))).toEqual([
      'BRA1+DBRA4',
      'BRA4+DBRA8',
      'BRA16+DBRA16',
      'DBRA49+DBRA49',
    ]);
    expect(fromOfficialConfig(variants.debi_small.config, false).stages[3]!.deform.agentMlpRatio).toBe(1);
    expect(fromOfficialConfig(variants.debi_base.config, false).stages.map((s) => s.deform.groups)).toEqual([
      1, 2, 3, 6,
    ]);
    expect(fromOfficialConfig(variants.debi_base_det.config, true)).toMatchObject({
      nWin: 32,
      dense: true,
      numClasses: 0,
    });
  });

  it('refuses options no released model uses, and widths without a settings row, by name', () => {
    expect(() => fromOfficialConfig({ ...base, kv_downsample_mode: 'ada_avgpool' }, false)).toThrow(
      NotImplementedError,
    );
    expect(() => fromOfficialConfig({ ...base, kv_downsample_mode: 'ada_avgpool' }, false)).toThrow(
      /kv_downsample_mode="ada_avgpool" is not supported/,
    );
    expect(() => fromOfficialConfig({ ...base, auto_pad: false }, false)).toThrow(
      /auto_pad=false.*only the auto-pad path/,
    );
    expect(() => fromOfficialConfig({ ...base, topks: [4, 8, 16, -1] }, false)).toThrow(
      /topks\[3\]=-1 is not supported/,
    );
    expect(() =>
      fromOfficialConfig({ ...base, embed_dim: [32, 128, 256, 512], qk_dims: [32, 128, 256, 512] }, false),
    ).toThrow(/no deformable settings for width 32/);
  });
});

describe('input checks and the Attention2d contract', () => {
  let model: DeBiFormer;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    // a reduced model given with explicit per-stage settings (the official rows of widths 64…512)
    const deform = fromOfficialConfig(variants.debi_tiny.config, false).stages.map((s) => s.deform);
    const attn = fromOfficialConfig(variants.debi_tiny.config, false).stages.map((s) => s.attn);
    const config: DeBiFormerConfig = {
      stages: [16, 32, 64, 64].map((dim, i) => ({
        dim,
        depth: 1,
        numHeads: dim / 8,
        mlpRatio: 2,
        attn: attn[i]!,
        deform: deform[i]!,
      })),
      nWin: 7,
      sideDwconv: 5,
      beforeAttnDwconv: 3,
      numClasses: 5,
      dense: false,
    };
    model = new DeBiFormer(config);
  });
  afterAll(() => model.dispose());

  it('names wrong rank, channel count and empty inputs', () => {
    const cases: [number[], RegExp, typeof ShapeError | typeof InputSizeError][] = [
      [[32, 32, 3], /rank 4 \[B,H,W,3\]/, ShapeError],
      [[1, 3, 32, 32], /3 channels \(RGB\) on the last axis/, ShapeError],
      [
        [1, 0, 32, 3],
        /input 0×32 is too small: the smallest side this model takes is 1 px \(the input is empty\)/,
        InputSizeError,
      ],
    ];
    for (const [shape, msg, cls] of cases) {
      const t: tf.Tensor = tf.zeros(shape);
      const x = t as tf.Tensor4D;
      expect(() => model.forward(x)).toThrow(cls);
      expect(() => model.forward(x)).toThrow(msg);
      expect(() => model.forwardFeatures(x)).toThrow(cls);
      x.dispose();
    }
  });

  it('takes any size ≥ 1 px (every attention pads to multiples of n_win)', () => {
    for (const [h, w] of [
      [1, 1],
      [17, 40],
    ] as const) {
      const x = tf.randomNormal([1, h, w, 3]) as tf.Tensor4D;
      const y = model.forward(x);
      expect(y.shape).toEqual([1, 5]);
      expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
      const feats = model.forwardFeatures(x);
      expect(feats.map((f) => f.shape)).toEqual(
        model.featureSizes(h).map((s, i) => [1, s, model.featureSizes(w)[i], model.featureInfo[i]!.channels]),
      );
      tf.dispose([x, y, ...feats]);
    }
  });

  it('a dense backbone has no classifier', () => {
    const dense = new DeBiFormer(fromOfficialConfig({ ...variants.debi_tiny_seg.config, depth: [1, 1, 1, 1] }, true));
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    expect(() => dense.forward(x)).toThrow(/dense backbone \(no classifier\); use forwardFeatures/);
    expect(dense.featureInfo.map((f) => f.module)).toEqual([
      'extra_norms.0',
      'extra_norms.1',
      'extra_norms.2',
      'extra_norms.3',
    ]);
    x.dispose();
    dense.dispose();
  });

  it('DeBiLevelRoutingAttention is a drop-in Attention2d: NHWC in, same shape out, checked input', () => {
    const attn = new DeBiLevelRoutingAttention(32, {
      numHeads: 4,
      nWin: 4,
      topk: 3,
      groups: 2,
      offsetKernel: 5,
      offsetStride: 2,
      agentMlpRatio: 2,
      rpeSize: 8,
    });
    const x = tf.randomNormal([2, 9, 7, 32]) as tf.Tensor4D;
    const y = attn.forward(x);
    expect(y.shape).toEqual([2, 9, 7, 32]);
    const bad = tf.zeros([1, 4, 4, 16]) as tf.Tensor4D;
    expect(() => attn.forward(bad)).toThrow(ShapeError);
    expect(() => attn.forward(bad)).toThrow(/32 channels on the last axis/);
    const flat = tf.zeros([4, 4, 32]);
    expect(() => attn.forward(flat as tf.Tensor4D)).toThrow(/rank 4 \[B,H,W,C\]/);
    // n_win 1 on a 1-pixel map: the padded map is 1×1 and the dense RPE grid would divide by zero
    const one = new DeBiLevelRoutingAttention(8, {
      numHeads: 2,
      nWin: 1,
      topk: 1,
      groups: 1,
      offsetKernel: 3,
      offsetStride: 1,
      agentMlpRatio: 1,
      rpeSize: 2,
    });
    const px = tf.zeros([1, 1, 1, 8]) as tf.Tensor4D;
    expect(() => one.forward(px)).toThrow(InputSizeError);
    expect(() => one.forward(px)).toThrow(/padded map is 1×1/);
    tf.dispose([x, y, bad, flat, px]);
    attn.dispose();
    one.dispose();
  });

  it('BiLevelRoutingAttention is an Attention2d too, and both refuse impossible settings', () => {
    const bra = new BiLevelRoutingAttention(16, { numHeads: 2, nWin: 3, topk: 2 });
    const x = tf.randomNormal([1, 5, 8, 16]) as tf.Tensor4D;
    const y = bra.forward(x);
    expect(y.shape).toEqual([1, 5, 8, 16]);
    tf.dispose([x, y]);
    bra.dispose();
    expect(() => new BiLevelRoutingAttention(16, { numHeads: 3, nWin: 7, topk: 1 })).toThrow(InvalidArgumentError);
    expect(() => new BiLevelRoutingAttention(16, { numHeads: 2, nWin: 7, topk: 50 })).toThrow(
      /topk must be an integer in \[1, nWin² = 49\]/,
    );
    expect(
      () =>
        new DeBiLevelRoutingAttention(48, {
          numHeads: 6,
          nWin: 7,
          topk: 4,
          groups: 4,
          offsetKernel: 3,
          offsetStride: 1,
          agentMlpRatio: 3,
          rpeSize: 7,
        }),
    ).toThrow(/divisible by the offset groups \(4\)/);
  });

  it('refuses metadata whose config is not JSON', () => {
    expect(() => dbraFromReference({ reference: 'maclong01/DeBiFormer@1ceb090', config: '{' })).toThrow(
      /"config" metadata is not JSON/,
    );
  });
});
