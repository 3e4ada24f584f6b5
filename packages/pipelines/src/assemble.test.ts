/**
 * assembleModel and headForCheckpoint on real key layouts: the heads' golden weights (written by the
 * official mmdet/mmseg code) and state dicts of the registered models (whose names the manifests check
 * against the official code), composed as mmseg/mmdet save them (`backbone.` + neck/head keys).
 */
import { readFileSync } from 'node:fs';
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  type PipelineTask,
  type PretrainedCheckpoint,
  Registry,
  readSafetensors,
  type StateDict,
} from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { headForCheckpoint, heads } from '@dynavit/heads';
import { beforeAll, describe, expect, it } from 'vitest';
import { assembleModel } from './assemble.js';
import { labelSetFor, labelsOf } from './labels.js';
import { createPipeline, type PipelineEnvironment } from './pipeline.js';

const registry = new Registry([dat, dbra, glmix, heads]);
const golden = (name: string): StateDict =>
  readSafetensors(new Uint8Array(readFileSync(new URL(`../../heads/src/__fixtures__/golden/${name}`, import.meta.url))))
    .tensors;

/** The state dict of a registered model (fresh weights), its keys prefixed. */
function keysOf(name: string, prefix = '', opts = {}): StateDict {
  const m = registry.createModel(name, opts);
  const sd = m.stateDict();
  m.dispose();
  return new Map([...sd].map(([k, t]) => [`${prefix}${k}`, t]));
}
const join = (...sds: StateDict[]): StateDict => new Map(sds.flatMap((s) => [...s]));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('headForCheckpoint', () => {
  it('reads the head and its classes from the official mmseg/mmdet keys', () => {
    expect(headForCheckpoint(golden('upernet_small.weights.safetensors'))).toMatchObject({
      head: 'upernet_ade20k',
      numClasses: golden('upernet_small.weights.safetensors').get('decode_head.conv_seg.weight')!.shape[0],
    });
    // Mask R-CNN: fc_cls has a background row; the golden case has 8 classes
    expect(headForCheckpoint(golden('maskrcnn_small.weights.safetensors'))).toEqual({
      head: 'maskrcnn_coco',
      numClasses: 8,
      description: 'Mask R-CNN (mmdet)',
    });
    for (const [name, classes] of [
      ['maskrcnn_coco_dat', 80],
      ['retinanet_coco_dat', 80],
      ['retinanet_coco_debi', 12],
      ['semfpn_ade20k', 150],
    ] as const)
      expect(headForCheckpoint(keysOf(name, '', { numClasses: classes })), name).toMatchObject({
        head: name,
        numClasses: classes,
      });
    expect(headForCheckpoint(keysOf('debi_tiny'))).toBeNull();
  });

  it('refuses heads it does not implement, in one line', () => {
    const cascade = join(
      keysOf('maskrcnn_coco'),
      new Map([['roi_head.bbox_head.1.fc_cls.weight', { dtype: 'F32', shape: [81, 4], data: new Float32Array(324) }]]),
    );
    expect(() => headForCheckpoint(cascade)).toThrow(/Cascade Mask R-CNN .*not supported/);
    const faster = new Map([...keysOf('maskrcnn_coco')].filter(([k]) => !k.startsWith('roi_head.mask_head.')));
    expect(() => headForCheckpoint(faster)).toThrow(/RoI head without a mask head/);
  });
});

describe('assembleModel', () => {
  it('image-classification: the classes come from the file; a fine-tuned 10-class file builds 10 classes', () => {
    const sd = keysOf('debi_tiny', '', { numClasses: 10 });
    const m = assembleModel(registry, {
      task: 'image-classification',
      model: 'debi_tiny',
      weights: sd,
      source: 'ft.pth',
    });
    expect([m.task, m.numClasses, m.report.loaded, m.report.fresh]).toEqual(['classification', 10, sd.size, []]);
    m.dispose();
  });

  it('refuses another task’s, another model’s and another family’s checkpoints, in one line', () => {
    const det = join(keysOf('debi_tiny_det', 'backbone.'), keysOf('maskrcnn_coco'));
    const cases: [PipelineTask, string, StateDict, RegExp][] = [
      [
        'image-classification',
        'debi_tiny',
        det,
        /^det\.pth is a Mask R-CNN \(mmdet\) checkpoint, for instance-segmentation, not image-classification$/,
      ],
      [
        'semantic-segmentation',
        'debi_tiny_det',
        det,
        /^det\.pth is a Mask R-CNN \(mmdet\) checkpoint, for instance-segmentation, not semantic-segmentation$/,
      ],
      [
        'image-classification',
        'debi_tiny',
        keysOf('glnet_4g'),
        /^det\.pth does not hold weights for debi_tiny: only \d+ of its \d+ tensor names are debi_tiny's \(its keys begin /,
      ],
      [
        'object-detection',
        'dat_pp_tiny_dense',
        join(keysOf('debi_tiny_det', 'backbone.'), keysOf('retinanet_coco_debi')),
        /^det\.pth does not hold weights for dat_pp_tiny_dense/,
      ],
    ];
    const before = tf.memory().numTensors;
    for (const [task, model, weights, msg] of cases) {
      const run = () => assembleModel(registry, { task, model, weights, source: 'det.pth' });
      expect(run, `${task} ${model}`).toThrow(msg);
      expect(run).toThrow(CheckpointError);
    }
    expect(tf.memory().numTensors).toBe(before); // the models built before a refusal are disposed
    expect(() =>
      assembleModel(registry, { task: 'image-classification', model: 'debi_tiny_seg', weights: null }),
    ).toThrow(
      /^debi_tiny_seg is a dense backbone; image-classification needs a classifier \(e\.g\. debi_tiny, debi_small, debi_base, …\)$/,
    );
    expect(() => assembleModel(registry, { task: 'object-detection', model: 'maskrcnn_coco', weights: null })).toThrow(
      /^maskrcnn_coco is a head: compose it with a backbone/,
    );
    // the head asked for and the head the file holds must agree
    const seg = join(keysOf('debi_tiny_seg', 'backbone.'), keysOf('semfpn_ade20k'));
    expect(() =>
      assembleModel(registry, {
        task: 'semantic-segmentation',
        model: 'debi_tiny_seg',
        head: 'upernet_ade20k',
        weights: seg,
      }),
    ).toThrow('the checkpoint holds a semfpn_ade20k head, not the upernet_ade20k asked for');
  });

  it('an mmseg file: head and classes from its keys, everything loaded strictly', () => {
    const sd = join(
      keysOf('debi_tiny_seg', 'backbone.'),
      keysOf('upernet_ade20k', '', { inChannels: [64, 128, 256, 512], numClasses: 19 }),
    );
    const m = assembleModel(registry, { task: 'semantic-segmentation', model: 'debi_tiny_seg', weights: sd });
    if (m.task !== 'segmentation') throw new Error(m.task);
    expect([m.head, m.numClasses, m.report.loaded, m.report.fresh, m.test]).toEqual([
      'upernet_ade20k',
      19,
      sd.size,
      [],
      { scale: [2048, 512], alignTo: 32 },
    ]);
    m.dispose();
  });

  it('an ImageNet file under a dense backbone: the classifier dropped, the new norms and the head reported fresh', () => {
    const sd = keysOf('debi_tiny');
    const m = assembleModel(registry, {
      task: 'instance-segmentation',
      model: 'debi_tiny_det',
      weights: sd,
      defaultHead: 'maskrcnn_coco',
    });
    expect(m.report.dropped.sort()).toEqual(
      [
        'head.bias',
        'head.weight',
        'norm.bias',
        'norm.num_batches_tracked',
        'norm.running_mean',
        'norm.running_var',
        'norm.weight',
      ].sort(),
    );
    expect(m.report.fresh.filter((k) => k.startsWith('backbone.'))).toEqual(
      [0, 1, 2, 3].flatMap((i) => [`backbone.extra_norms.${i}.ln.weight`, `backbone.extra_norms.${i}.ln.bias`]),
    );
    expect(m.report.fresh.some((k) => k.startsWith('roi_head.mask_head.'))).toBe(true);
    expect(m.task === 'detection' && m.masks).toBe(true);
    m.dispose();
  });
});

describe('createPipeline', () => {
  /** An environment that records what it was asked for, and reads no weights. */
  function recordingEnv(log: unknown[]): PipelineEnvironment<never> {
    return {
      registry,
      selectBackend: async () => ({ backend: 'cpu', tfjsName: 'cpu', reason: 'test', skipped: [] }),
      decode: async () => {
        throw new Error('no images here');
      },
      readWeights: async (spec, opts) => {
        log.push({ spec: 'entry' in spec ? spec.entry.id : spec.location, preferKeys: opts.preferKeys });
        throw new CheckpointError('stop');
      },
    };
  }

  it('reads the checkpoint key each variant’s official loader reads (GLNet-16G: model_ema)', async () => {
    const log: unknown[] = [];
    for (const model of ['glnet_16g', 'glnet_4g', 'dat_pp_tiny'])
      await expect(
        createPipeline(recordingEnv(log), 'image-classification', model, { weights: '/x.pth' }),
      ).rejects.toThrow('stop');
    expect(log).toEqual([
      { spec: '/x.pth', preferKeys: ['model_ema'] },
      { spec: '/x.pth', preferKeys: ['model'] },
      { spec: '/x.pth', preferKeys: ['model'] },
    ]);
  });

  it("'pretrained' picks the zoo's release for the model and task; dense releases read state_dict", async () => {
    const log: unknown[] = [];
    const env = recordingEnv(log);
    await expect(createPipeline(env, 'image-classification', 'glnet_16g')).rejects.toThrow('stop');
    await expect(createPipeline(env, 'semantic-segmentation', 'dat_pp_tiny_dense')).rejects.toThrow('stop');
    await expect(
      createPipeline(env, 'instance-segmentation', 'dat_pp_small_dense.maskrcnn_coco_dat.3x'),
    ).rejects.toThrow('stop');
    expect(log).toEqual([
      { spec: 'glnet_16g', preferKeys: ['model_ema'] },
      { spec: 'dat_pp_tiny_dense.upernet_ade20k', preferKeys: ['state_dict'] },
      { spec: 'dat_pp_small_dense.maskrcnn_coco_dat.3x', preferKeys: ['state_dict'] },
    ]);
    await expect(createPipeline(env, 'object-detection', 'glnet_4g_dense')).rejects.toThrow(
      /^no pretrained release for glnet_4g_dense \+ object-detection; see `dynavit list --pretrained`$/,
    );
    await expect(createPipeline(env, 'instance-segmentation', 'dat_pp_base_dense')).rejects.toThrow(
      /^the release dat_pp_base_dense\.cascade_maskrcnn.*uses a head dynavit does not implement \(cascade_maskrcnn\)$/,
    );
    await expect(createPipeline(env, 'image-classification' as PipelineTask, 'resnet50')).rejects.toThrow(
      /^unknown model "resnet50"/,
    );
    await expect(createPipeline(env, 'depth' as PipelineTask, 'debi_tiny')).rejects.toThrow(
      /^unknown task "depth"; one of /,
    );
  });

  it('every zoo release names a registered model, head and task, with a link or by-hand instructions', () => {
    const ids = new Set<string>();
    const models = new Set(registry.listModels().map((m) => m.name));
    const all: PretrainedCheckpoint[] = registry.pretrained();
    expect(all.length).toBeGreaterThanOrEqual(30);
    for (const e of all) {
      expect(ids.has(e.id), e.id).toBe(false);
      ids.add(e.id);
      expect(models.has(e.model), e.id).toBe(true);
      if (e.head && !e.head.startsWith('unsupported:')) expect(models.has(e.head), e.id).toBe(true);
      expect(e.urls.length > 0 || (e.manual ?? '').length > 0, e.id).toBe(true);
      // a bundled release's one link is its file inside the package (file: in Node), with its sha256
      if (e.bundled) {
        expect(
          e.urls.map((u) => new URL(u).protocol),
          e.id,
        ).toEqual(['file:']);
        expect(e.sha256, e.id).toBeDefined();
      } else for (const u of e.urls) expect(new URL(u).protocol, e.id).toBe('https:');
      expect(e.metrics.length > 0 || e.notes !== undefined, e.id).toBe(true);
      if (e.sha256 !== undefined) expect(e.sha256, e.id).toMatch(/^[0-9a-f]{64}$/);
    }
  });
});

describe('labels', () => {
  it('ship ImageNet (1000), ADE20K (150) and COCO (80), chosen by task and class count', () => {
    expect([labelsOf('imagenet').length, labelsOf('ade20k').length, labelsOf('coco').length]).toEqual([1000, 150, 80]);
    expect(labelSetFor('classification', 1000)).toBe('imagenet');
    expect(labelSetFor('segmentation', 150)).toBe('ade20k');
    expect(labelSetFor('detection', 80)).toBe('coco');
    expect(labelSetFor('classification', 10)).toBeNull();
  });
});
