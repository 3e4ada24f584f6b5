/**
 * The whole path of `pipeline()` — decode → the official pre-processing → model → post-processing — on
 * real photos of three aspect ratios (landscape 300×200, portrait 214×320, square 240×240), against the
 * official evaluation transforms computed independently: written down here from each official repository
 * and checked byte for byte against torchvision/Pillow (`__fixtures__/images/eval-transforms.json`, made
 * by `scripts/make-eval-transforms.py`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  classificationPixels,
  type DenseBackbone,
  type InputConfig,
  type RgbImage,
  resamplePixels,
} from '@dynavit/core';
import { seededWeights } from '@dynavit/core/testing';
import { heads, Segmentor, SegmentationHead } from '@dynavit/heads';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { readImage } from './images.js';
import { pipeline } from './pipeline.js';
import { createRegistry } from './registry.js';

const dir = fileURLToPath(new URL('./__fixtures__/images/', import.meta.url));
interface Crop {
  width: number;
  height: number;
  sha256: string;
}
const ref = JSON.parse(readFileSync(`${dir}eval-transforms.json`, 'utf8')) as {
  photos: Record<string, { width: number; height: number; decoded: string; crops: Record<string, Crop> }>;
};
const PHOTOS = Object.keys(ref.photos);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Python's round(): half to even (torchvision's CenterCrop offsets). */
const pyRound = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

function resize(img: RgbImage, w: number, h: number, filter: 'bicubic' | 'bilinear' = 'bicubic'): RgbImage {
  return { width: w, height: h, data: resamplePixels(img.data, img.width, img.height, 3, w, h, filter) };
}

/** torchvision `Resize(size: int)`: the shorter side to `size`, the longer int(size·long/short). */
function resizeShorter(img: RgbImage, size: number): RgbImage {
  const short = Math.min(img.width, img.height);
  const long = Math.trunc((size * Math.max(img.width, img.height)) / short);
  return img.width <= img.height ? resize(img, size, long) : resize(img, long, size);
}

/** torchvision `CenterCrop(size)` (the images here are always larger than the crop). */
function centerCropOf(img: RgbImage, size: number): RgbImage {
  const top = pyRound((img.height - size) / 2);
  const left = pyRound((img.width - size) / 2);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    data.set(
      img.data.subarray(((top + y) * img.width + left) * 3, ((top + y) * img.width + left + size) * 3),
      y * size * 3,
    );
  return { width: size, height: size, data };
}

/** The official evaluation transforms, as each repository writes them. */
const OFFICIAL: Record<string, (img: RgbImage) => RgbImage> = {
  // LeapLabTHU/DAT data/build.py with TEST.CROP: Resize((256, 256)) — a square, aspect NOT kept — then CenterCrop(224)
  dat_224: (img) => centerCropOf(resize(img, 256, 256), 224),
  // LeapLabTHU/DAT data/build.py at 384 (TEST.CROP False): Resize((384, 384)), no crop
  dat_384: (img) => resize(img, 384, 384),
  // maclong01/DeBiFormer classification/datasets.py (DeiT): Resize(int(256/224·224) = 256), CenterCrop(224)
  deit_224: (img) => centerCropOf(resizeShorter(img, 256), 224),
  // rayleizhu/GLMix (timm eval, crop_pct 0.875): Resize(floor(224/0.875) = 256), CenterCrop(224)
  timm_0875: (img) => centerCropOf(resizeShorter(img, 256), 224),
  // rayleizhu/GLMix token-labelling models (crop_pct 0.96): Resize(floor(224/0.96) = 233), CenterCrop(224)
  timm_096: (img) => centerCropOf(resizeShorter(img, 233), 224),
  // the *_fmnist training models: resized straight to 64×64, bilinear, no crop (as dynavit train resizes)
  fmnist_64: (img) => resize(img, 64, 64, 'bilinear'),
};

/** Which official transform each released classifier is evaluated with. */
const TRANSFORM_OF: Record<string, string> = {
  dat_pp_tiny: 'dat_224',
  dat_pp_small: 'dat_224',
  dat_pp_base: 'dat_224',
  dat_plus_tiny: 'dat_224',
  dat_pp_base_384: 'dat_384',
  debi_tiny: 'deit_224',
  debi_small: 'deit_224',
  debi_base: 'deit_224',
  glnet_4g: 'timm_0875',
  glnet_9g: 'timm_0875',
  glnet_16g: 'timm_0875',
  glnet_stl: 'timm_0875',
  glnet_stl_paramslot: 'timm_0875',
  glnet_4g_tklb: 'timm_096',
  glnet_9g_tklb: 'timm_096',
  dat_fmnist: 'fmnist_64',
  debi_fmnist: 'fmnist_64',
  glnet_fmnist: 'fmnist_64',
};

/** ToTensor + Normalize on a crop, in float32 as torch computes it → NHWC values. */
function normalize(crop: RgbImage, input: InputConfig): Float32Array {
  const f = Math.fround;
  const out = new Float32Array(crop.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % 3;
    out[i] = f(f(f(crop.data[i]! / 255) - f(input.mean[c]!)) / f(input.std[c]!));
  }
  return out;
}

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

describe('pre-processing: every classifier evaluates photos as its official code does', () => {
  it('decodes the photos to the bytes Pillow decodes', async () => {
    for (const name of PHOTOS) {
      const img = await readImage(`${dir}${name}`);
      expect([img.width, img.height], name).toEqual([ref.photos[name]!.width, ref.photos[name]!.height]);
      expect(sha(img.data), name).toBe(ref.photos[name]!.decoded);
    }
    expect(new Set(PHOTOS.map((n) => Math.sign(ref.photos[n]!.width - ref.photos[n]!.height)))).toEqual(
      new Set([1, -1, 0]),
    );
  });

  it('the transforms written down from the official code give torchvision’s crops, byte for byte', async () => {
    for (const name of PHOTOS) {
      const img = await readImage(`${dir}${name}`);
      for (const [t, fn] of Object.entries(OFFICIAL)) {
        if (t === 'fmnist_64') continue; // dynavit's own training models: no torchvision reference
        const crop = fn(img);
        const want = ref.photos[name]!.crops[t]!;
        expect([crop.width, crop.height], `${name} ${t}`).toEqual([want.width, want.height]);
        expect(sha(crop.data), `${name} ${t}`).toBe(want.sha256);
      }
    }
  });

  it('each registered classifier’s input config is its official transform (all variants, every photo)', async () => {
    const registry = createRegistry();
    const classifiers = registry.listModels().filter((m) => m.kind === 'classifier');
    expect(classifiers.map((m) => m.name).sort()).toEqual(Object.keys(TRANSFORM_OF).sort());
    for (const name of PHOTOS) {
      const img = await readImage(`${dir}${name}`);
      for (const m of classifiers) {
        const input = registry.variant(m.name).variant.input!;
        const want = normalize(OFFICIAL[TRANSFORM_OF[m.name]!]!(img), input);
        const got = classificationPixels(img, input);
        expect(got.length, `${m.name} ${name}`).toBe(want.length);
        let diff = 0;
        for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
        expect(diff, `${m.name} on ${name}`).toBe(0);
      }
    }
  });
});

describe('the whole path: photo → pipeline → top-5, against the model on the official input', () => {
  for (const model of ['dat_pp_tiny', 'debi_tiny', 'glnet_4g']) {
    it(`${model} (${TRANSFORM_OF[model]})`, async () => {
      const registry = createRegistry();
      const start = tf.memory().numTensors;
      const reference = registry.createModel(model);
      if (reference.kind !== 'classifier') throw new Error('not a classifier');
      const weights = seededWeights(reference.stateDict(), 7);
      reference.loadStateDict(weights);
      const input = registry.variant(model).variant.input!;
      const classify = await pipeline('image-classification', model, { weights, backend: 'wasm' });
      expect(classify.report.fresh).toEqual([]);
      const paths = PHOTOS.map((p) => `${dir}${p}`);
      const got = await classify(paths, { topk: 5 }); // a batch of photos of three sizes
      classify.dispose();
      expect(got).toHaveLength(PHOTOS.length);
      for (const [i, name] of PHOTOS.entries()) {
        const crop = OFFICIAL[TRANSFORM_OF[model]!]!(await readImage(paths[i]!));
        const probs = tf.tidy(() =>
          tf.softmax(reference.forward(tf.tensor4d(normalize(crop, input), [1, crop.height, crop.width, 3]))),
        );
        const p = await probs.data();
        probs.dispose();
        const top = [...p.keys()].sort((a, b) => p[b]! - p[a]!).slice(0, 5);
        // near-ties would make the order ambiguous: the scores here are distinct
        expect(p[top[3]!]! - p[top[4]!]!, `${model} ${name}: 4th/5th gap`).toBeGreaterThan(1e-6);
        expect(
          got[i]!.map((r) => r.index),
          `${model} ${name}`,
        ).toEqual(top);
        for (const [j, r] of got[i]!.entries()) expect(Math.abs(r.score - p[top[j]!]!)).toBeLessThanOrEqual(1e-6);
      }
      reference.dispose();
      expect(tf.memory().numTensors).toBe(start);
    });
  }
});

describe('the whole path for segmentation: the backbone’s official test pipeline', () => {
  it('each dense backbone’s test pipeline is its official one', () => {
    const registry = createRegistry();
    // DeBiFormer segmentation/configs: AlignResize(keep_ratio, size_divisor=32) at (2048, 512); detection/configs:
    // the mmdet COCO pipeline; DAT-Segmentation: mmseg Resize (2048, 512), no padding; DAT-Detection: mmdet COCO
    const SEG_DEBI = { scale: [2048, 512], alignTo: 32 };
    const DET = { scale: [1333, 800], padTo: 32 };
    const want: Record<string, object> = {
      debi_tiny_seg: { segmentation: SEG_DEBI },
      debi_small_seg: { segmentation: SEG_DEBI },
      debi_base_seg: { segmentation: SEG_DEBI },
      debi_tiny_det: { detection: DET },
      debi_small_det: { detection: DET },
      debi_base_det: { detection: DET },
      dat_pp_tiny_dense: { segmentation: { scale: [2048, 512] }, detection: DET },
      dat_pp_small_dense: { segmentation: { scale: [2048, 512] }, detection: DET },
      dat_pp_base_dense: { segmentation: { scale: [2048, 512] }, detection: DET },
    };
    for (const m of registry.listModels().filter((l) => l.kind === 'backbone'))
      expect(registry.variant(m.name).variant.denseEval, m.name).toEqual(want[m.name]); // GLNet: no release, defaults
  });

  it('debi_tiny_seg + UperNet on the portrait photo: the pipeline aligns to 32 as DeBiFormer’s config does', async () => {
    const registry = createRegistry();
    const start = tf.memory().numTensors;
    const backbone = registry.createModel('debi_tiny_seg') as DenseBackbone;
    const head = heads.create('upernet_ade20k', { inChannels: backbone.featureInfo.map((f) => f.channels) });
    if (!(head instanceof SegmentationHead)) throw new Error('not a segmentation head');
    const reference = new Segmentor(backbone, head);
    const weights = seededWeights(reference.stateDict(), 11);
    const bias = weights.get('decode_head.conv_seg.bias')!;
    weights.set('decode_head.conv_seg.bias', { ...bias, data: new Float32Array(bias.data.length) });
    reference.loadStateDict(weights);
    const seg = await pipeline('semantic-segmentation', 'debi_tiny_seg', { weights, backend: 'wasm' });
    expect(seg.head).toBe('upernet_ade20k'); // read from the weights' keys (decode_head.psp_modules)
    const path = `${dir}rocket-portrait.png`;
    // the official scale (2048, 512) makes a 512×768 input (~100 s on one wasm thread); a smaller test
    // scale keeps the keep-ratio rule and the align-to-32 stretch (214×320 → 129×193 → 160×224)
    const scale = [256, 129] as const;
    const got = await seg(path, { scale });
    seg.dispose();
    const img = await readImage(path);
    const t = tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
    const want = await reference.segment(t, { scale, alignTo: 32 });
    const unaligned = await reference.segment(t, { scale });
    t.dispose();
    reference.dispose();
    expect([got.width, got.height]).toEqual([img.width, img.height]);
    expect(got.labels).toHaveLength(150);
    expect(got.labels[0]).toBe('wall');
    let same = 0;
    for (let i = 0; i < want.classMap.length; i++) if (want.classMap[i] === got.classMap[i]) same++;
    expect(same).toBe(want.classMap.length);
    expect(new Set(got.classMap).size).toBeGreaterThan(1); // seeded weights: not a constant map
    // and aligning mattered: without it the map differs
    expect(unaligned.classMap.some((c, i) => c !== got.classMap[i])).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
  });
});
