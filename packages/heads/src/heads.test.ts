import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { readSafetensors, Registry, runParity, ShapeError } from '@dynavit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSegmentor, headKind, heads, keepRatioSize, segmentationHeadFromConfig, variants } from './index.js';
import { TinyBackbone } from './testing/tiny-backbone.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const readST = (p: string) => readSafetensors(new Uint8Array(readFileSync(fixtures + p)), p);
const manifests = readdirSync(`${fixtures}manifests/`)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ name: f.slice('manifest.'.length, -'.json'.length), m: JSON.parse(readFileSync(`${fixtures}manifests/${f}`, 'utf8')) as { params: number; config: Record<string, unknown>; state_dict: [string, number[]][] } }));

describe('head variants', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('declare every official head with its parameter count', () => {
    expect(Object.keys(variants).sort()).toEqual(manifests.map((x) => x.name).sort());
    for (const { name, m } of manifests) expect(variants[name as keyof typeof variants].params, name).toBe(m.params);
  });

  for (const name of ['semfpn_ade20k', 'upernet_ade20k']) {
    it(`${name}: keys, shapes, order and parameter count equal the mmseg manifest`, () => {
      const { m } = manifests.find((x) => x.name === name)!;
      const head = segmentationHeadFromConfig(m.config);
      expect(head.stateDictShapes()).toEqual(m.state_dict);
      expect(head.parameterCount()).toBe(m.params);
      head.dispose();
    });
  }

  it('tells head kinds apart from their configs', () => {
    expect(manifests.map(({ name, m }) => [name, headKind(m.config)]).sort()).toEqual([
      ['maskrcnn_coco', 'mask_rcnn'],
      ['maskrcnn_coco_dat', 'mask_rcnn'],
      ['retinanet_coco_dat', 'retinanet'],
      ['retinanet_coco_debi', 'retinanet'],
      ['semfpn_ade20k', 'semantic_fpn'],
      ['upernet_ade20k', 'upernet'],
    ]);
  });
});

describe.each(['cpu', 'wasm'])('segmentation heads on %s', (backend) => {
  beforeAll(() => tf.setBackend(backend));

  it('UperNet + FCN aux reproduce mmseg (golden upernet_small), seg_pred exactly', () => {
    const before = tf.memory().numTensors;
    const report = runParity(new Registry().use(heads), readST('golden/upernet_small.weights.safetensors'), readST('golden/upernet_small.io.safetensors'));
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
    seg = createSegmentor({ backbone: new TinyBackbone(), head: { kind: 'upernet', numClasses: 5, channels: 8, auxChannels: 4 } });
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
