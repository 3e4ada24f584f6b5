import { readdirSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  InputSizeError,
  InvalidArgumentError,
  layerNorm,
  NotImplementedError,
  Registry,
  ShapeError,
} from '@dynavit/core';
import {
  compareArrays,
  dropPathPlacement,
  dropPathRatesOf,
  leakedTensors,
  runParity,
  seededTrainingForward,
} from '@dynavit/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromOfficialConfig, GLNet, glmix, glnetFromReference, variants } from './index.js';
import { expectClose, fixtures, nchw, nhwc, readFixture } from './test-utils/golden.js';

const weights = readFixture('golden/g_reduced_96x128.weights.safetensors');
const io = readFixture('golden/g_reduced_96x128.io.safetensors');
const debug = readFixture('debug/g_reduced_96x128.io.safetensors').tensors;
const reducedConfig = JSON.parse(weights.metadata['config']!) as Record<string, unknown>;

const manifestDir = `${fixtures}manifests/`;
const manifests = readdirSync(manifestDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    name: f.slice('manifest.'.length, -'.json'.length) as keyof typeof variants,
    m: JSON.parse(readFileSync(manifestDir + f, 'utf8')) as {
      params: number;
      state_dict: [string, number[]][];
      checkpoint_state_dict_key: string;
    },
  }));

describe('GLNet variants match the official state_dict manifests', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('registers every official variant by its official name (plus our dense backbones and glnet_fmnist)', () => {
    const r = new Registry().use(glmix);
    const classifiers = Object.keys(variants).filter((n) => variants[n as keyof typeof variants].kind === 'classifier');
    expect(classifiers.sort()).toEqual([...manifests.map((x) => x.name), 'glnet_fmnist'].sort());
    expect(
      r
        .listModels()
        .filter((m) => m.kind === 'backbone')
        .map((m) => m.name)
        .sort(),
    ).toEqual(['glnet_16g_dense', 'glnet_4g_dense', 'glnet_9g_dense', 'glnet_stl_dense']);
  });

  for (const { name, m } of manifests) {
    it(`${name}: keys, PyTorch shapes, order (BatchNorm buffers included), parameter count, checkpoint key`, () => {
      const model = new Registry().use(glmix).createModel(name);
      try {
        expect(model.stateDictShapes()).toEqual(m.state_dict);
        expect(model.parameterCount()).toBe(m.params);
        expect(variants[name].params).toBe(m.params);
        expect(variants[name].checkpointKey).toBe(m.checkpoint_state_dict_key);
      } finally {
        model.dispose();
      }
    });
  }

  for (const name of ['glnet_stl_dense', 'glnet_4g_dense', 'glnet_9g_dense', 'glnet_16g_dense'] as const) {
    it(`${name} (our dense assumption): the classifier's keys without norm/head, plus extra_norms.0-3`, () => {
      const r = new Registry().use(glmix);
      const dense = r.createModel(name);
      const cls = r.createModel(name.replace('_dense', '') as keyof typeof variants);
      try {
        const C = (variants[name].config as { embed_dim: number[] }).embed_dim;
        const want = [
          ...cls.stateDictShapes().filter(([k]) => !/^(norm|head)\./.test(k)),
          ...C.flatMap((c, i): [string, number[]][] => [
            [`extra_norms.${i}.weight`, [c]],
            [`extra_norms.${i}.bias`, [c]],
          ]),
        ];
        expect(dense.stateDictShapes()).toEqual(want);
        expect(dense.parameterCount()).toBe(variants[name].params);
        expect(dense.kind).toBe('backbone');
        if (dense.kind === 'backbone')
          expect(dense.featureInfo.map((f) => [f.channels, f.reduction, f.module])).toEqual(
            C.map((c, i) => [c, 4 << i, `extra_norms.${i}`]),
          );
      } finally {
        dense.dispose();
        cls.dispose();
      }
    });
  }
});

describe('glnet_fmnist, the small model to train', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('is the golden case g_reduced_96x128 (with its 1000 classes): built by name, it loads those weights strictly and reproduces its outputs', () => {
    const start = tf.memory().numTensors;
    const variant = { name: 'glnet_fmnist', options: { numClasses: 1000 } };
    const report = runParity(new Registry([glmix]), weights, io, { variant });
    expect(report.outputs.map((o) => o.name)).toContain('logits');
    for (const o of report.outputs) expect(o.ok, `${o.name}: ${o.maxAbs}`).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
  });
  it('has 10 classes and a 64×64 input by default', () => {
    const m = new Registry([glmix]).createModel('glnet_fmnist');
    expect(m.parameterCount()).toBe(variants.glnet_fmnist.params);
    expect(m.stateDictShapes().at(-2)).toEqual(['head.weight', [10, 128]]);
    expect(variants.glnet_fmnist.input.size).toEqual([64, 64]);
    m.dispose();
  });
});

describe('stochastic depth (training only), as the official blocks', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('one drop path per block at linspace(0, rate, Σ depth); the README rates of the classifiers', () => {
    const registry = new Registry([glmix]);
    const small = registry.createModel('glnet_fmnist', { dropPathRate: 0.3 });
    const total = variants.glnet_fmnist.config.depth.reduce((a, d) => a + d, 0);
    const want = Array.from({ length: total }, (_, i) => (0.3 * i) / (total - 1));
    expect(dropPathRatesOf(small).map((r) => r.toFixed(9))).toEqual(want.map((r) => r.toFixed(9)));
    small.dispose();
    expect(
      (['glnet_4g', 'glnet_4g_tklb', 'glnet_9g', 'glnet_9g_tklb', 'glnet_16g'] as const).map(
        (n) => (variants[n].config as { drop_path_rate?: number }).drop_path_rate,
      ),
    ).toEqual([0.15, 0.15, 0.3, 0.3, 0.4]);
  });

  it('wraps both branches after the layer scale (not the CPE): dropping them all is zeroing ls1 and ls2', () => {
    const model = new Registry([glmix]).createModel('glnet_fmnist', { dropPathRate: 0.3, numClasses: 1000 }) as GLNet;
    model.loadStateDict(weights.tensors, { strict: false });
    const x = tf.tidy(() => tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 3)) as tf.Tensor4D;
    const start = tf.memory().numTensors;
    const blocks = model.stages.items.flatMap((s) => s.blocks.items);
    const r = dropPathPlacement(
      model,
      x,
      blocks.flatMap((b) => [b.ls1, b.ls2]),
    );
    expect(r.maxDiff).toBeLessThan(1e-5);
    expect(r.changed).toBeGreaterThan(1e-2);
    const wrong = dropPathPlacement(
      model,
      x,
      blocks.map((b) => b.ls1),
    );
    expect(wrong.maxDiff).toBeGreaterThan(1e-3);
    const run = (seed: number) => seededTrainingForward(model, x, seed);
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose(x);
    model.dispose();
  });
});

describe.each(['cpu', 'wasm'])('GLNet on %s', (backend) => {
  let model: GLNet;
  beforeAll(async () => {
    await tf.setBackend(backend);
    model = glnetFromReference(weights.metadata);
    model.loadStateDict(weights.tensors);
  });
  afterAll(() => model.dispose());

  it('reproduces the official outputs (golden g_reduced_96x128, 6×8 → 8×8 slot pooling) within 1e-4 relative', () => {
    const report = runParity(new Registry([glmix]), weights, io);
    expect(report.backend).toBe(backend);
    expect(report.outputs.map((o) => o.name).sort()).toEqual(['logits', 'stage.0', 'stage.1', 'stage.2', 'stage.3']);
    for (const o of report.outputs) expect(o.ok, `${o.name}: ${o.maxAbs}`).toBe(true);
    // and much tighter than the harness asks: float32 re-implementations agree to ~1e-6 relative
    for (const o of report.outputs) expect(o.maxAbs, o.name).toBeLessThanOrEqual(2e-5 * Math.max(1, o.maxRef));
  });

  it('stem, transitions, pre-head norm and pooling match debug.downsample.*, final_norm, pooled', () => {
    const x = nhwc(io.tensors.get('input')!);
    const before = tf.memory().numTensors;
    const r = model.forwardIntermediates(x);
    const im = r.intermediates;
    for (const [i, d] of im.downsample.entries())
      tf.tidy(() => void expectClose(nchw(d), debug.get(`debug.downsample.${i}`)!, `downsample.${i}`));
    tf.tidy(() => void expectClose(nchw(im.finalNorm!), debug.get('debug.final_norm')!, 'final_norm'));
    expectClose(im.pooled!, debug.get('debug.pooled')!, 'pooled');
    tf.dispose([r.stages, r.logits!, im.downsample, im.finalNorm!, im.pooled!]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('the dense backbone returns LayerNorm2d(stage_i) of the same stages (our assumption, glmix.md §8)', () => {
    const dense = new GLNet(fromOfficialConfig(reducedConfig, { dense: true }));
    const res = dense.loadStateDict(weights.tensors, { strict: false });
    expect(res.missing).toEqual([0, 1, 2, 3].flatMap((i) => [`extra_norms.${i}.weight`, `extra_norms.${i}.bias`]));
    expect(res.unexpected.sort()).toEqual([
      'head.bias',
      'head.weight',
      'norm.bias',
      'norm.num_batches_tracked',
      'norm.running_mean',
      'norm.running_var',
      'norm.weight',
    ]);
    const x = nhwc(io.tensors.get('input')!);
    const feats = dense.forwardFeatures(x);
    // extra_norms start at torch's LayerNorm init (weight 1, bias 0)
    for (const [i, f] of feats.entries())
      tf.tidy(() => {
        const want = layerNorm(nhwc(io.tensors.get(`stage.${i}`)!), null, null, 1e-6);
        const r = compareArrays(`dense.${i}`, want.shape, f.dataSync(), want.dataSync(), 1e-4);
        expect(r.maxAbs, `dense feature ${i}`).toBeLessThanOrEqual(1e-3);
      });
    expect(() => dense.forward(x)).toThrow(/dense backbone/);
    tf.dispose([x, ...feats]);
    dense.dispose();
  });

  it('repeated forwards leak no tensor', () => {
    const x = tf.randomNormal([1, 40, 56, 3]) as tf.Tensor4D;
    const all = () => {
      const r = model.forwardIntermediates(x);
      const im = r.intermediates;
      tf.dispose([model.forward(x), ...model.forwardFeatures(x), ...r.stages, r.logits!, ...im.downsample]);
      tf.dispose([im.finalNorm!, im.pooled!]);
    };
    expect(leakedTensors(all)).toBe(0);
    x.dispose();
  });

  it('takes any size down to 1 px (ovlp: ⌈·/2⌉ per stride-2 conv, every map at least 1×1)', () => {
    for (const [h, w] of [
      [50, 77],
      [1, 3],
    ] as const) {
      const x = tf.zeros([2, h, w, 3]) as tf.Tensor4D;
      const feats = model.forwardFeatures(x);
      expect(feats.map((f) => f.shape)).toEqual(
        model.featureInfo.map((fi) => [
          2,
          Math.max(1, Math.ceil(h / fi.reduction)),
          Math.max(1, Math.ceil(w / fi.reduction)),
          fi.channels,
        ]),
      );
      expect(feats.every((f) => f.dataSync().every(Number.isFinite))).toBe(true);
      tf.dispose([x, ...feats]);
    }
  });
});

describe('GLNet input checks, configs and checkpoints', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('names wrong rank, channel count and too-small inputs', () => {
    const g = glnetFromReference(weights.metadata);
    const stl = new GLNet(
      fromOfficialConfig({
        ...reducedConfig,
        downsample_style: 'non_ovlp',
        transition_layout: 'norm.proj',
        cpe_ks: 0,
        mlp_dw: false,
      }),
    );
    expect(g.minInputSize).toBe(1);
    expect(stl.minInputSize).toBe(32);
    const cases: [GLNet, number[], RegExp, typeof ShapeError | typeof InputSizeError][] = [
      [g, [64, 64, 3], /rank 4 \[B,H,W,3\]/, ShapeError],
      [g, [1, 3, 64, 64], /3 channels \(RGB\) on the last axis/, ShapeError],
      [
        stl,
        [1, 31, 64, 3],
        /input 31×64 is too small: the smallest side this model takes is 32 px.*stage 3 would be empty/,
        InputSizeError,
      ],
    ];
    for (const [m, shape, msg, cls] of cases) {
      const x = tf.zeros(shape) as tf.Tensor as tf.Tensor4D;
      expect(() => m.forward(x)).toThrow(cls);
      expect(() => m.forward(x)).toThrow(msg);
      expect(() => m.forwardFeatures(x)).toThrow(cls);
      x.dispose();
    }
    const ok = tf.zeros([1, 32, 40, 3]) as tf.Tensor4D;
    const y = stl.forward(ok);
    expect(y.shape).toEqual([1, 1000]);
    tf.dispose([ok, y]);
    g.dispose();
    stl.dispose();
  });

  it('reads the constructor defaults and refuses what the official code does not accept, by name', () => {
    const d = fromOfficialConfig({});
    expect([
      d.slotInit,
      d.normLayer,
      d.preHeadNormLayer,
      d.downsampleStyle,
      d.transitionLayout,
      d.cpeKs,
      d.layerscale,
    ]).toEqual(['param', 'LayerNorm2d', 'LayerNorm2d', 'non_ovlp', 'proj.norm', 0, -1]);
    expect(fromOfficialConfig({ local_dw_ks: [3, 5, 7, 0] }).localDwKs).toEqual([3, 5, 7, 0]);
    expect(fromOfficialConfig({ norm_layer: 'nn.BatchNorm2d' }).normLayer).toBe('BatchNorm2d');
    expect(() => fromOfficialConfig({ slot_init: 'conv' })).toThrow(NotImplementedError);
    expect(() => fromOfficialConfig({ slot_init: 'conv' })).toThrow(/slot_init="conv" is not supported/);
    expect(() => fromOfficialConfig({ norm_layer: 'GroupNorm' })).toThrow(/norm_layer="GroupNorm"/);
    const build = (over: Record<string, unknown>) => new GLNet(fromOfficialConfig({ ...reducedConfig, ...over }));
    expect(() => build({ num_slots: 48 })).toThrow(/perfect square/);
    expect(() => build({ mixing_modes: ['glmix', 'glmix', 'dw', 'mha'] })).toThrow(/mixing_modes\[2\] "dw"/);
    expect(() => build({ local_dw_ks: 4 })).toThrow(/local_dw_ks must be odd/);
    expect(() => build({ head_dim: 40 })).toThrow(InvalidArgumentError);
    expect(() => glnetFromReference({ ...weights.metadata, model_class: 'GLNet_xl' })).toThrow(
      /model_class "GLNet_xl"/,
    );
    expect(
      () => new GLNet({ ...fromOfficialConfig(reducedConfig, { modelClass: 'GLNet_tklb' }), numClasses: 0 }),
    ).toThrow(/num_classes ≥ 1/);
    // num_classes 0: head is an Identity, forward returns the pooled features
    const m = build({ num_classes: 0 });
    expect(m.stateDictShapes().some(([k]) => k.startsWith('head.'))).toBe(false);
    const y = m.forward(tf.zeros([1, 16, 16, 3]) as tf.Tensor4D);
    expect(y.shape).toEqual([1, 128]);
    y.dispose();
    m.dispose();
  });

  it('variants record the checkpoint key (model_ema for glnet_16g) and readGLNetCheckpoint uses it', () => {
    expect(variants.glnet_16g.checkpointKey).toBe('model_ema');
    expect(variants.glnet_16g_dense.checkpointKey).toBe('model_ema');
    expect(Object.values(variants).filter((v) => v.checkpointKey === 'model_ema')).toHaveLength(2);
  });
});
