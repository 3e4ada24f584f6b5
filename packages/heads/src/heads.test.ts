import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { InvalidArgumentError, readSafetensors, Registry, ShapeError, UnknownModelError } from '@dynavit/core';
import { runParity } from '@dynavit/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSegmentor,
  type DetectionHead,
  Detector,
  type HeadModel,
  type HeadVariantName,
  headTypeOf,
  heads,
  keepRatioSize,
  variants,
} from './index.js';
import { TinyBackbone } from './test-utils/tiny-backbone.js';
import { headsParity } from './testing/index.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const readST = (p: string) => readSafetensors(new Uint8Array(readFileSync(fixtures + p)), p);
const manifests = readdirSync(`${fixtures}manifests/`)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({
    name: f.slice('manifest.'.length, -'.json'.length),
    m: JSON.parse(readFileSync(`${fixtures}manifests/${f}`, 'utf8')) as {
      params: number;
      config: Record<string, unknown>;
      state_dict: [string, number[]][];
    },
  }));

describe('head variants', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('declare every official head with its config and parameter count', () => {
    expect(Object.keys(variants).sort()).toEqual(manifests.map((x) => x.name).sort());
    for (const { name, m } of manifests) {
      const v = variants[name as HeadVariantName];
      expect(v.params, name).toBe(m.params);
      expect(v.config, name).toEqual(m.config);
    }
  });

  it('tells head types apart from their configs', () => {
    expect(manifests.map(({ name, m }) => [name, headTypeOf(m.config)]).sort()).toEqual([
      ['maskrcnn_coco', 'mask_rcnn'],
      ['maskrcnn_coco_dat', 'mask_rcnn'],
      ['retinanet_coco_dat', 'retinanet'],
      ['retinanet_coco_debi', 'retinanet'],
      ['semfpn_ade20k', 'semantic_fpn'],
      ['upernet_ade20k', 'upernet'],
    ]);
  });
});

const HEAD_TYPES: Record<HeadVariantName, HeadModel['headType']> = {
  maskrcnn_coco: 'mask_rcnn',
  maskrcnn_coco_dat: 'mask_rcnn',
  retinanet_coco_dat: 'retinanet',
  retinanet_coco_debi: 'retinanet',
  semfpn_ade20k: 'semantic_fpn',
  upernet_ade20k: 'upernet',
};
const taskOf = (name: HeadVariantName) => (/^(maskrcnn|retinanet)_/.test(name) ? 'detection' : 'segmentation');

describe('the heads family builds heads', () => {
  const registry = new Registry([heads]);
  beforeAll(() => tf.setBackend('cpu'));

  it('lists every head variant as a model of kind head', () => {
    const listed = registry.listModels().map((m) => [m.name, m.kind, m.params]);
    expect(listed).toEqual(Object.entries(variants).map(([name, v]) => [name, 'head', v.params]));
  });

  for (const { name: n, m } of manifests) {
    const name = n as HeadVariantName;
    it(`createModel("${name}"): the official ${taskOf(name)} head (parameter count, keys, shapes, order)`, () => {
      const head = registry.createModel(name);
      if (head.kind !== 'head') throw new Error(`${name} built a ${head.kind}`);
      const { in_channels, num_classes } = m.config;
      expect([head.task, head.inChannels, head.numClasses]).toEqual([taskOf(name), in_channels, num_classes]);
      expect((head as HeadModel).headType).toBe(HEAD_TYPES[name]);
      expect(head.parameterCount()).toBe(variants[name].params);
      expect(head.stateDictShapes()).toEqual(m.state_dict);
      head.dispose();
    });
  }

  it('builds every head for another backbone: inChannels and numClasses override the config', async () => {
    await tf.setBackend('wasm');
    const backbone = new TinyBackbone();
    const channels = backbone.featureInfo.map((f) => f.channels);
    const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const feats = backbone.forwardFeatures(x);
    x.dispose();
    const before = tf.memory().numTensors;
    for (const name of Object.keys(variants) as HeadVariantName[]) {
      const head = heads.create(name, { inChannels: channels, numClasses: 3 });
      const got = [head.kind, head.task, head.headType, head.inChannels, head.numClasses];
      expect(got, name).toEqual(['head', taskOf(name), HEAD_TYPES[name], channels, 3]);
      expect(head.parameterCount(), name).toBeLessThan(variants[name].params);
      if (head.task === 'segmentation') {
        const logits = head.forward(feats);
        expect(logits.shape, name).toEqual([1, 16, 16, 3]);
        logits.dispose();
      } else {
        const out = head.forward(feats);
        expect(
          out.neck.map((t) => t.shape[3]),
          name,
        ).toEqual([256, 256, 256, 256, 256]);
        const A = head.anchors.numAnchors;
        expect(out.cls[0]!.shape[3], name).toBe(head.headType === 'mask_rcnn' ? A : A * 3);
        tf.dispose([...out.neck, ...out.cls, ...out.reg]);
      }
      head.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(feats);
    // only numClasses
    const seg = heads.create('semfpn_ade20k', { numClasses: 19 });
    expect([seg.inChannels, seg.numClasses]).toEqual([[64, 128, 256, 512], 19]);
    seg.dispose();
    // a head built for a backbone's channels composes with it; the official one does not
    const official = heads.create('retinanet_coco_dat') as DetectionHead;
    expect(() => new Detector(backbone, official)).toThrow(ShapeError);
    official.dispose();
    const det = new Detector(backbone, heads.create('retinanet_coco_dat', { inChannels: channels }) as DetectionHead);
    expect(det.numClasses).toBe(80);
    det.dispose();
  });

  for (const golden of ['upernet_small', 'maskrcnn_small']) {
    it(`fromReference builds the head the golden ${golden} config describes`, () => {
      const weights = readST(`golden/${golden}.weights.safetensors`);
      const cfg = JSON.parse(weights.metadata['config']!) as Record<string, unknown>;
      const head = registry.fromReference(weights.metadata);
      if (head.kind !== 'head') throw new Error(`${golden} built a ${head.kind}`);
      const task = golden.startsWith('upernet') ? 'segmentation' : 'detection';
      expect([head.task, head.inChannels, head.numClasses]).toEqual([task, cfg.in_channels, cfg.num_classes]);
      expect((head as HeadModel).headType).toBe(headTypeOf(cfg));
      // exactly the parameters and buffers of the golden weights
      const shapes = new Map(head.stateDictShapes());
      expect(shapes).toEqual(new Map([...weights.tensors].map(([k, t]) => [k, t.shape])));
      expect(() => head.loadStateDict(weights.tensors, { strict: true })).not.toThrow();
      head.dispose();
    });
  }

  it('fails with typed errors', () => {
    expect(() => registry.createModel('yolo')).toThrow(UnknownModelError);
    expect(() => heads.create('yolo' as HeadVariantName)).toThrow(UnknownModelError);
    expect(() => heads.create('semfpn_ade20k', { inChannels: [] })).toThrow(InvalidArgumentError);
    expect(() => heads.create('semfpn_ade20k', { inChannels: [8, 0.5] })).toThrow(InvalidArgumentError);
    expect(() => heads.create('semfpn_ade20k', { numClasses: 0 })).toThrow(InvalidArgumentError);
    const before = tf.memory().numTensors;
    // aux_in_index 2 of two levels: refused before any weight is allocated
    expect(() => heads.create('upernet_ade20k', { inChannels: [8, 16] })).toThrow(InvalidArgumentError);
    expect(tf.memory().numTensors).toBe(before);
    const reference = 'open-mmlab/mmsegmentation@7f1a72a';
    expect(() => heads.fromReference({ reference, config: 'not json' })).toThrow(InvalidArgumentError);
    expect(() => heads.fromReference({ reference, config: '[1, 2]' })).toThrow(InvalidArgumentError);
    const noHead = '{"in_channels": [8, 16]}';
    expect(() => heads.fromReference({ reference, config: noHead })).toThrow(InvalidArgumentError);
  });

  it('headsParity wires heads only; without it the harness refuses a head', () => {
    const backbone = new TinyBackbone();
    expect(headsParity(backbone, {})).toBeUndefined();
    backbone.dispose();
    const weights = readST('golden/upernet_small.weights.safetensors');
    const io = readST('golden/upernet_small.io.safetensors');
    const before = tf.memory().numTensors;
    expect(() => runParity(registry, weights, io)).toThrow(InvalidArgumentError);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.each(['cpu', 'wasm'])('segmentation heads on %s', (backend) => {
  beforeAll(() => tf.setBackend(backend));

  it('UperNet + FCN aux reproduce mmseg (golden upernet_small), seg_pred exactly', () => {
    const before = tf.memory().numTensors;
    const weights = readST('golden/upernet_small.weights.safetensors');
    const io = readST('golden/upernet_small.io.safetensors');
    const report = runParity(new Registry([heads]), weights, io, { adapters: [headsParity] });
    expect(report.outputs.map((o) => o.name).sort()).toEqual(['aux_logits', 'logits', 'seg_logit', 'seg_pred']);
    for (const o of report.outputs) expect(o.ok, `${o.name} ${o.maxAbs}`).toBe(true);
    expect(report.outputs.find((o) => o.name === 'seg_pred')!.maxAbs).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('createSegmentor', () => {
  let seg: ReturnType<typeof createSegmentor>;
  beforeAll(async () => {
    await tf.setBackend('wasm');
    seg = createSegmentor({
      backbone: new TinyBackbone(),
      head: { kind: 'upernet', numClasses: 5, channels: 8, auxChannels: 4 },
    });
  });
  afterAll(() => seg.dispose());

  it('names parameters like an mmseg checkpoint', () => {
    const keys = seg.stateDictShapes().map(([k]) => k);
    expect(keys[0]).toBe('backbone.stages.0.weight');
    expect(keys).toContain('decode_head.psp_modules.3.1.conv.weight');
    expect(keys.at(-1)).toBe('auxiliary_head.convs.0.bn.num_batches_tracked');
  });

  it('segments an image back at its original size, leaking nothing', async () => {
    const img = tf.randomUniform([50, 70, 3], 0, 255) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const r = await seg.segment(img, { scale: [128, 64] });
    expect(tf.memory().numTensors).toBe(before);
    expect([r.height, r.width, r.numClasses]).toEqual([50, 70, 5]);
    expect(r.classMap).toHaveLength(50 * 70);
    expect(r.classMap.every((c) => c >= 0 && c < 5)).toBe(true);
    img.dispose();
    await expect(seg.segment(tf.zeros([4, 4]) as unknown as tf.Tensor3D)).rejects.toThrow(ShapeError);
  });

  it('computes mmcv keep-ratio sizes', () => {
    expect(keepRatioSize(200, 250, [2048, 512])).toEqual([512, 640]);
    expect(keepRatioSize(187, 249, [1333, 800])).toEqual([800, 1065]);
    expect(keepRatioSize(480, 3000, [2048, 512])).toEqual([328, 2048]);
  });
});
