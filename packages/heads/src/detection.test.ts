import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  type FeatureInfo,
  InvalidArgumentError,
  type Module,
  readSafetensors,
  Registry,
  type SafetensorsFile,
  ShapeError,
  toFloat32,
} from '@dynavit/core';
import { runParity, runParityAsync } from '@dynavit/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AnchorGenerator,
  argsortDescending,
  batchedNms,
  ConvTranspose2d,
  createDetector,
  DELTA_WH_CLAMP,
  decodeDeltas,
  type DetectionHead,
  detectionHeadFromConfig,
  detectionOptionsFromConfig,
  extractRoIFeatures,
  type HostFeatureMap,
  heads,
  MaskRCNNHead,
  nms,
  pasteMask,
  RetinaNetHead,
  roiAlign,
  roiLevels,
  runSync,
  topKDescending,
  UNIT_CODER,
  variants,
} from './index.js';
import { TinyBackbone } from './test-utils/tiny-backbone.js';
import {
  detectionParityModel,
  goldenMasks,
  headsParity,
  imageMetasFromGolden,
  matchRows,
  stagedDetectionParity,
} from './testing/index.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const readST = (p: string) => readSafetensors(new Uint8Array(readFileSync(p)), p);

type Manifest = { params: number; config: Record<string, unknown>; state_dict: [string, number[]][] };
const manifest = (name: string) =>
  JSON.parse(readFileSync(`${fixtures}manifests/manifest.${name}.json`, 'utf8')) as Manifest;

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('detection heads: official state dicts', () => {
  beforeAll(() => tf.setBackend('cpu'));
  for (const name of ['maskrcnn_coco', 'maskrcnn_coco_dat', 'retinanet_coco_debi', 'retinanet_coco_dat']) {
    it(`${name}: keys, shapes, order and parameter count equal the mmdet manifest`, () => {
      const m = manifest(name);
      const head = detectionHeadFromConfig(m.config);
      expect(head.stateDictShapes()).toEqual(m.state_dict);
      expect(head.parameterCount()).toBe(m.params);
      const headType = name.startsWith('mask') ? 'mask_rcnn' : 'retinanet';
      expect([head.kind, head.task, head.headType]).toEqual(['head', 'detection', headType]);
      head.dispose();
    });
  }

  it('builds each neck variant the papers use', () => {
    const dat = detectionHeadFromConfig(manifest('retinanet_coco_dat').config) as RetinaNetHead;
    expect([dat.neck.startLevel, dat.neck.extra, dat.anchors.strides]).toEqual([1, 'on_input', [8, 16, 32, 64, 128]]);
    const debi = detectionHeadFromConfig(manifest('retinanet_coco_debi').config) as RetinaNetHead;
    expect([debi.neck.startLevel, debi.neck.extra, debi.anchors.strides]).toEqual([0, false, [8, 16, 32, 64, 128]]);
    const mr = detectionHeadFromConfig(manifest('maskrcnn_coco_dat').config) as MaskRCNNHead;
    expect([mr.neck.extra, mr.anchors.strides, mr.roiStrides]).toEqual([
      'on_input',
      [4, 8, 16, 32, 64],
      [4, 8, 16, 32],
    ]);
    for (const h of [dat, debi, mr]) h.dispose();
  });

  it('rejects configs that describe no detection head or inconsistent ones', () => {
    expect(() => detectionHeadFromConfig({ in_channels: [8, 16] })).toThrow(InvalidArgumentError);
    expect(() =>
      detectionHeadFromConfig({ ...manifest('retinanet_coco_dat').config, anchor_strides: [8, 16, 32] }),
    ).toThrow(InvalidArgumentError);
    expect(() => detectionHeadFromConfig({ ...manifest('maskrcnn_coco').config, add_extra_convs: 'sideways' })).toThrow(
      InvalidArgumentError,
    );
    expect(() => detectionHeadFromConfig({ ...manifest('maskrcnn_coco').config, in_channels: 'many' })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('detection building blocks', () => {
  it('anchors: ratio-major base anchors centred on 0, grids on the cell corner, RetinaNet octave scales', () => {
    const g = new AnchorGenerator({ strides: [4, 8], ratios: [0.5, 1, 2], scales: [8] });
    const b = g.baseAnchors(0);
    // ratio 1: 32×32 around 0; ratio 0.5: wider than high
    expect(Array.from(b.subarray(4, 8))).toEqual([-16, -16, 16, 16]);
    expect(b[2]! - b[0]!).toBeGreaterThan(b[3]! - b[1]!);
    const grid = g.gridAnchors(1, 2, 3); // rows (y, x, a)
    expect(grid.length).toBe(2 * 3 * 3 * 4);
    const row = (y: number, x: number, a: number) =>
      Array.from(grid.subarray(((y * 3 + x) * 3 + a) * 4, ((y * 3 + x) * 3 + a) * 4 + 4));
    const base = Array.from(g.baseAnchors(1).subarray(4, 8));
    expect(row(1, 2, 1)).toEqual([base[0]! + 16, base[1]! + 8, base[2]! + 16, base[3]! + 8]);
    const r = new AnchorGenerator({ strides: [8], ratios: [1], octaveBaseScale: 4, scalesPerOctave: 3 });
    expect(Array.from(r.scales)).toEqual([4, 4 * 2 ** (1 / 3), 4 * 2 ** (2 / 3)].map(Math.fround));
    expect(() => new AnchorGenerator({ strides: [8], ratios: [1] })).toThrow(InvalidArgumentError);
  });

  it('decodes deltas without +1, clamps dw/dh at |ln(16/1000)| and clips to the image', () => {
    const out = decodeDeltas([10, 20, 30, 60], [0.5, -0.25, 0, Math.log(2)], UNIT_CODER, null);
    expect(Array.from(out)).toEqual([20, -10, 40, 70]);
    const big = decodeDeltas([0, 0, 10, 10], [0, 0, 100, -100], UNIT_CODER, null);
    expect(big[2]! - big[0]!).toBeCloseTo(10 * Math.exp(DELTA_WH_CLAMP), 3);
    expect(big[3]! - big[1]!).toBeCloseTo(10 * Math.exp(-DELTA_WH_CLAMP), 5);
    const clipped = decodeDeltas([0, 0, 10, 10], [-5, 5, 1, 1], UNIT_CODER, [12, 8]);
    expect(Array.from(clipped)).toEqual([0, 12, 0, 12]);
  });

  it('maps RoIs to levels by ⌊log2(√area/56 + 1e-6)⌋ clamped to [0, 3]', () => {
    const boxes = [0, 0, 111, 111, 0, 0, 112, 112, 0, 0, 224, 224, 0, 0, 448, 448, 0, 0, 2000, 2000, 5, 5, 5, 5];
    expect(Array.from(roiLevels(boxes, 4))).toEqual([0, 1, 2, 3, 3, 0]);
  });

  it('NMS suppresses only on IoU strictly above the threshold, per group with batchedNms', () => {
    // IoU exactly 0.5: kept by mmcv's '>' rule (tfjs' nonMaxSuppression would drop it)
    const boxes = [0, 0, 3, 1, 1, 0, 4, 1, 0, 0, 3, 1.2];
    expect(Array.from(nms(boxes, [0.9, 0.8, 0.7], 0.5))).toEqual([0, 1]);
    expect(Array.from(nms(boxes, [0.9, 0.8, 0.7], 0.49))).toEqual([0]);
    // same boxes in different groups never suppress each other
    expect(Array.from(batchedNms(boxes, [0.9, 0.8, 0.7], [0, 1, 1], 0.3))).toEqual([0, 1]);
    expect(Array.from(batchedNms(boxes, [0.7, 0.8, 0.9], [0, 1, 2], 0.3))).toEqual([2, 1, 0]);
    expect(batchedNms([], [], [], 0.5)).toHaveLength(0);
  });

  it('top-k equals the head of a full descending sort, ties by lower index', () => {
    const r = rng(7);
    const s = Float32Array.from({ length: 5000 }, () => Math.round(r() * 300) / 300);
    for (const k of [1, 10, 999, 4999, 5000])
      expect(Array.from(topKDescending(s, k))).toEqual(Array.from(argsortDescending(s).subarray(0, k)));
  });

  it('RoIAlign equals the per-sample definition (aligned, adaptive grid, out-of-range samples)', () => {
    const r = rng(11);
    const feat: HostFeatureMap = {
      batch: 2,
      height: 9,
      width: 13,
      channels: 3,
      data: Float32Array.from({ length: 2 * 9 * 13 * 3 }, () => r() * 2 - 1),
    };
    const rois: number[] = [];
    for (let i = 0; i < 40; i++) {
      const x1 = r() * 70 - 10;
      const y1 = r() * 50 - 10;
      rois.push(i % 2, x1, y1, x1 + r() * 60, y1 + r() * 40);
    }
    rois.push(0, 10, 10, 10, 10, 1, 40, 30, 52, 36.5, 0, -30, -30, -5, -5); // empty, edge, outside
    const S = 3;
    const scale = 0.25;
    const got = roiAlign(feat, rois, { outputSize: S, spatialScale: scale });
    const want = new Float32Array(got.length);
    const { height: H, width: W, channels: C, data } = feat;
    const bil = (b: number, y: number, x: number, c: number) => {
      if (y < -1 || y > H || x < -1 || x > W) return 0;
      y = Math.max(y, 0);
      x = Math.max(x, 0);
      let y0 = Math.floor(y);
      let x0 = Math.floor(x);
      let y1: number;
      let x1: number;
      if (y0 >= H - 1) [y0, y1, y] = [H - 1, H - 1, H - 1];
      else y1 = y0 + 1;
      if (x0 >= W - 1) [x0, x1, x] = [W - 1, W - 1, W - 1];
      else x1 = x0 + 1;
      const at = (yy: number, xx: number) => data[((b * H + yy) * W + xx) * C + c]!;
      const ly = y - y0;
      const lx = x - x0;
      return (
        (1 - ly) * (1 - lx) * at(y0, x0) +
        (1 - ly) * lx * at(y0, x1!) +
        ly * (1 - lx) * at(y1!, x0) +
        ly * lx * at(y1!, x1!)
      );
    };
    for (let i = 0; i < rois.length / 5; i++) {
      const [b, x1, y1, x2, y2] = rois.slice(i * 5, i * 5 + 5) as [number, number, number, number, number];
      const sx = x1 * scale - 0.5;
      const sy = y1 * scale - 0.5;
      const w = (x2 - x1) * scale;
      const h = (y2 - y1) * scale;
      const gw = Math.ceil(w / S);
      const gh = Math.ceil(h / S);
      for (let c = 0; c < C; c++)
        for (let ph = 0; ph < S; ph++)
          for (let pw = 0; pw < S; pw++) {
            let acc = 0;
            for (let iy = 0; iy < gh; iy++)
              for (let ix = 0; ix < gw; ix++)
                acc += bil(
                  b,
                  sy + ph * (h / S) + ((iy + 0.5) * (h / S)) / gh,
                  sx + pw * (w / S) + ((ix + 0.5) * (w / S)) / gw,
                  c,
                );
            want[i * C * S * S + c * S * S + ph * S + pw] = acc / Math.max(gh * gw, 1);
          }
    }
    let maxd = 0;
    for (let i = 0; i < got.length; i++) maxd = Math.max(maxd, Math.abs(got[i]! - want[i]!));
    expect(maxd).toBeLessThan(2e-6);
    // an empty RoI pools to 0; the NHWC layout holds the same numbers
    expect(Array.from(got.subarray(40 * C * S * S, 41 * C * S * S)).every((v) => v === 0)).toBe(true);
    const nhwc = extractRoIFeatures([feat], [4], rois, S, 'nhwc').data;
    expect(nhwc[(3 * S * S + 4) * C + 2]).toBe(got[3 * C * S * S + 2 * S * S + 4]);
  });

  it('pastes a mask with pixel-centre sampling inside its box only', () => {
    const S = 4;
    const probs = new Float32Array(S * S).fill(1);
    const m = pasteMask(probs, 0, S, [2, 1, 6, 5], 8, 10, 0.5);
    const on = [...m.keys()].filter((i) => m[i]).map((i) => [Math.floor(i / 10), i % 10]);
    // pixel centres inside [2,6]×[1,5] plus a half-weight fringe below 0.5 → exactly the 4×4 block
    expect(on).toEqual([1, 2, 3, 4].flatMap((y) => [2, 3, 4, 5].map((x) => [y, x])));
  });

  it('ConvTranspose2d (k = s = 2) equals tf.conv2dTranspose with the PyTorch weight layout', async () => {
    await tf.setBackend('cpu');
    const r = rng(3);
    const m = new ConvTranspose2d(5, 3, 2);
    const w = Float32Array.from({ length: 5 * 3 * 4 }, () => r() - 0.5);
    const bias = Float32Array.from({ length: 3 }, () => r());
    m.loadStateDict({
      weight: { dtype: 'F32', shape: [5, 3, 2, 2], data: w },
      bias: { dtype: 'F32', shape: [3], data: bias },
    });
    const x = tf.randomNormal([2, 3, 4, 5], 0, 1, 'float32', 5) as tf.Tensor4D;
    const got = m.forward(x);
    // torch [in, out, kh, kw] → tfjs [kh, kw, out, in]
    const filt = tf.transpose(tf.tensor4d(w, [5, 3, 2, 2]), [2, 3, 1, 0]) as tf.Tensor4D;
    const want = tf.add(tf.conv2dTranspose(x, filt, [2, 6, 8, 3], 2, 'valid'), tf.tensor1d(bias));
    expect(got.shape).toEqual([2, 6, 8, 3]);
    expect(tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([x, got, filt, want]);
    m.dispose();
  });
});

/** The vendored golden case (the fixture budget allows one; all four detection cases, RetinaNet included, run in `pnpm test:golden` on wasm and cpu). */
const vendored = ['maskrcnn_small'].map((name) => ({ name, dir: `${fixtures}golden/` }));

const CONTINUOUS = /^(neck|rpn|retina|anchors|rcnn)\.|^mask_(prob|pred)\./;

describe.each(['cpu', 'wasm'])('detection golden parity on %s', (backend) => {
  beforeAll(() => tf.setBackend(backend));
  const cases = new Map<string, { weights: SafetensorsFile; io: SafetensorsFile }>();
  const load = (c: { name: string; dir: string }) => {
    if (!cases.has(c.name))
      cases.set(c.name, {
        weights: readST(`${c.dir}${c.name}.weights.safetensors`),
        io: readST(`${c.dir}${c.name}.io.safetensors`),
      });
    return cases.get(c.name)!;
  };

  for (const c of vendored) {
    it(`${c.name}: every golden output through the parity harness (sets for detections, mask pixel budget)`, () => {
      const { weights, io } = load(c);
      const before = tf.memory().numTensors;
      const report = runParity(new Registry([heads]), weights, io, { adapters: [headsParity] });
      expect(tf.memory().numTensors).toBe(before);
      const names = report.outputs.map((o) => o.name);
      const goldenNames = [...io.tensors.keys()].filter((k) => !k.startsWith('input.') && !k.startsWith('debug.'));
      for (const n of goldenNames) expect(names, n).toContain(n);
      for (const o of report.outputs) expect(o.ok, `${o.name}: maxAbs ${o.maxAbs} (maxRef ${o.maxRef})`).toBe(true);
      for (const o of report.outputs.filter((x) => CONTINUOUS.test(x.name)))
        expect(o.maxAbs, o.name).toBeLessThanOrEqual(1e-4 * Math.max(1, o.maxRef));
      if (c.name.startsWith('maskrcnn')) {
        const masks = report.outputs.find((o) => o.name === 'masks.0')!;
        // maxAbs = differing pixels, maxRef·tolerance = the golden's budget
        const budget = JSON.parse(io.metadata['summary']!)['mask_pixels_within_1e-4_of_thr'][0][1] as number;
        expect(masks.maxRef * report.tolerance).toBeCloseTo(budget, 6);
        expect(masks.maxAbs).toBeLessThanOrEqual(budget);
      }
      const K = io.tensors.get('det_labels.0')!.shape[0];
      expect(K).toBeGreaterThan(50);
    });

    it(`${c.name}: runParityAsync reads with data() through the adapter's runAsync (WebGPU in Node's path), same outputs`, async () => {
      const { weights, io } = load(c);
      const head = heads.fromReference(weights.metadata) as DetectionHead;
      expect(typeof detectionParityModel(head).runAsync).toBe('function');
      head.dispose();
      const registry = new Registry([heads]);
      const before = tf.memory().numTensors;
      const viaSync = runParity(registry, weights, io, { adapters: [headsParity] });
      const viaAsync = await runParityAsync(registry, weights, io, { adapters: [headsParity] });
      expect(tf.memory().numTensors).toBe(before);
      expect(viaAsync.ok).toBe(true);
      expect(viaAsync.outputs.map((o) => [o.name, o.maxAbs])).toEqual(viaSync.outputs.map((o) => [o.name, o.maxAbs]));
    });

    it(`${c.name}: staged (golden maps → proposals, golden proposals → RoI heads, golden detections → masks)`, () => {
      const { weights, io } = load(c);
      const head = heads.fromReference(weights.metadata) as DetectionHead;
      head.loadStateDict(weights.tensors);
      const before = tf.memory().numTensors;
      const staged = stagedDetectionParity(head, io);
      expect(tf.memory().numTensors).toBe(before);
      head.dispose();
      const by = new Map(staged.map((o) => [o.name, o]));
      for (const o of staged) expect(o.ok, `${o.name}: maxAbs ${o.maxAbs}`).toBe(true);
      if (c.name.startsWith('maskrcnn')) {
        expect([...by.keys()].sort()).toEqual(
          [
            'debug.bbox_roi_feats',
            'debug.mask_roi_levels',
            'debug.roi_levels',
            'det_bboxes.0',
            'det_labels.0',
            'mask_pred.0',
            'mask_prob.0',
            'masks.0',
            'proposals.0',
            'rcnn.bbox_pred',
            'rcnn.cls_score',
          ].map((n) => `staged ${n}`),
        );
        // from golden inputs each stage is much tighter than the end-to-end bounds
        expect(by.get('staged proposals.0')!.maxAbs).toBeLessThan(1e-3); // px / score
        expect(by.get('staged rcnn.cls_score')!.maxAbs).toBeLessThan(1e-4);
        expect(by.get('staged mask_prob.0')!.maxAbs).toBeLessThan(1e-5);
        expect(by.get('staged debug.roi_levels')!.maxAbs).toBe(0);
      } else expect([...by.keys()].sort()).toEqual(['staged det_bboxes.0', 'staged det_labels.0']);
    });
  }

  it('the staged mode locates a fault: a broken box classifier fails at rcnn.*, not at the RPN', () => {
    const { weights, io } = load(vendored[0]!);
    const head = heads.fromReference(weights.metadata) as DetectionHead;
    const w = new Map(weights.tensors);
    const bias = w.get('roi_head.bbox_head.fc_cls.bias')!;
    const broken = toFloat32(bias).map((v, i) => (i === 0 ? v + 0.5 : v));
    w.set('roi_head.bbox_head.fc_cls.bias', { ...bias, dtype: 'F32', data: broken });
    head.loadStateDict(w);
    const staged = new Map(stagedDetectionParity(head, io).map((o) => [o.name, o.ok]));
    head.dispose();
    expect(staged.get('staged proposals.0')).toBe(true);
    expect(staged.get('staged debug.roi_levels')).toBe(true);
    expect(staged.get('staged debug.bbox_roi_feats')).toBe(true);
    expect(staged.get('staged rcnn.cls_score')).toBe(false);
    expect(staged.get('staged mask_prob.0')).toBe(true); // masks are fed golden detections
  });

  it('handles a batch: two copies of the golden image give the golden detections and masks twice', () => {
    const { weights, io } = load(vendored[0]!);
    const head = heads.fromReference(weights.metadata) as MaskRCNNHead;
    head.loadStateDict(weights.tensors);
    const meta = imageMetasFromGolden(io.metadata)[0]!;
    const feats = [0, 1, 2, 3].map((i) => {
      const t = io.tensors.get(`input.${i}`)!;
      return tf.tidy(() => {
        const x = tf.transpose(tf.tensor(toFloat32(t), t.shape), [0, 2, 3, 1]);
        return tf.concat([x, x], 0) as tf.Tensor4D;
      });
    });
    const before = tf.memory().numTensors;
    const r = runSync(head.testSteps(feats, [meta, meta]));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(feats);
    head.dispose();
    const gb = toFloat32(io.tensors.get('det_bboxes.0')!);
    const gl = toFloat32(io.tensors.get('det_labels.0')!);
    expect(r.bbox.rois.length / 5).toBe(2000);
    expect(Array.from(r.bbox.rois.subarray(5000, 5005))[0]).toBe(1); // second image's RoIs carry batch index 1
    for (const b of [0, 1]) {
      const m = matchRows(gb, r.detections[b]!.bboxes, 5, 1e-3, gl, r.detections[b]!.labels);
      expect(m.matched).toBe(70);
      expect(r.detections[b]!.labels.length).toBe(70);
    }
    expect(Array.from(r.proposals[1]!)).toEqual(Array.from(r.proposals[0]!));
    expect(r.masks[1]!.map((x) => x.reduce((a, v) => a + v, 0))).toEqual(
      r.masks[0]!.map((x) => x.reduce((a, v) => a + v, 0)),
    );
  });

  it('vendored masks are the golden ones (bit-packed) and golden metas parse', () => {
    const { io } = load(vendored[0]!);
    const m = goldenMasks(io, 0)!;
    expect(m.shape).toEqual([70, 187, 249]);
    expect(imageMetasFromGolden(io.metadata)[0]).toEqual({
      oriShape: [187, 249],
      imgShape: [480, 639],
      scaleFactor: [2.566265106201172, 2.566844940185547, 2.566265106201172, 2.566844940185547],
    });
  });
});

/** Random weights (seeded), scaled like a fan-in init, so the tiny detectors produce varied output. */
function randomise(m: Module, seed: number): void {
  const r = rng(seed);
  const sd: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  for (const [k, shape] of m.stateDictShapes()) {
    if (k.endsWith('num_batches_tracked')) continue;
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const s = k.endsWith('.bias') ? 0.1 : Math.sqrt(2 / fanIn);
    sd[k] = {
      dtype: 'F32',
      shape,
      data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * s * 1.7),
    };
  }
  m.loadStateDict(sd);
}

describe('createDetector', () => {
  const made: Module[] = [];
  beforeAll(() => tf.setBackend('wasm'));
  afterAll(() => {
    for (const m of made) m.dispose();
  });

  it('composes Mask R-CNN with any backbone: mmdet key names, detect() → plain results at the original size, no leaks', async () => {
    const det = createDetector({
      backbone: new TinyBackbone(),
      head: {
        kind: 'mask_rcnn',
        numClasses: 3,
        fpnChannels: 16,
        rpnFeatChannels: 16,
        fcOutChannels: 32,
        maskChannels: 8,
      },
    });
    made.push(det);
    randomise(det, 1);
    const keys = det.stateDictShapes().map(([k]) => k);
    expect(keys[0]).toBe('backbone.stages.0.weight');
    for (const p of [
      'neck.lateral_convs.0.conv.weight',
      'rpn_head.rpn_conv.weight',
      'roi_head.bbox_head.shared_fcs.0.weight',
      'roi_head.mask_head.upsample.weight',
    ])
      expect(keys).toContain(p);
    expect(keys.at(-1)).toBe('roi_head.mask_head.conv_logits.bias');
    expect(det.head).toBeInstanceOf(MaskRCNNHead);

    const img = tf.tidy(() => tf.round(tf.randomUniform([50, 70, 3], 0, 255, 'float32', 9))) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const r = await det.detect(img, { scale: [128, 96] });
    expect(tf.memory().numTensors).toBe(before);
    img.dispose();
    expect([r.height, r.width, r.numClasses]).toEqual([50, 70, 3]);
    expect(r.detections.length).toBeGreaterThan(0);
    expect(r.detections.length).toBeLessThanOrEqual(100);
    for (const [i, d] of r.detections.entries()) {
      expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
      expect(Object.keys(d).sort()).toEqual(['box', 'label', 'mask', 'score']);
      const [x1, y1, x2, y2] = d.box;
      expect(x1 >= 0 && y1 >= 0 && x2 <= 70 + 1e-3 && y2 <= 50 + 1e-3 && x1 <= x2 && y1 <= y2).toBe(true);
      expect(d.score).toBeGreaterThan(0.05);
      expect(Number.isInteger(d.label) && d.label >= 0 && d.label < 3).toBe(true);
      expect(d.mask).toBeInstanceOf(Uint8Array);
      expect(d.mask!.length).toBe(50 * 70);
      expect(d.mask!.every((v) => v === 0 || v === 1)).toBe(true);
      if (i > 0) expect(d.score).toBeLessThanOrEqual(r.detections[i - 1]!.score);
    }
    expect(structuredClone(r)).toEqual(r);
  });

  it('composes RetinaNet (DAT/BiFormer neck by default, DeBiFormer P2..P6 on request)', async () => {
    for (const head of [
      { kind: 'retinanet' as const, numClasses: 4, fpnChannels: 16, featChannels: 16, stackedConvs: 2 },
      {
        kind: 'retinanet' as const,
        numClasses: 4,
        fpnChannels: 16,
        featChannels: 16,
        stackedConvs: 2,
        startLevel: 0,
        addExtraConvs: false as const,
      },
    ]) {
      const det = createDetector({ backbone: new TinyBackbone(), head });
      made.push(det);
      randomise(det, 2);
      const keys = det.stateDictShapes().map(([k]) => k);
      expect(keys).toContain('bbox_head.retina_cls.weight');
      expect(keys.filter((k) => k.startsWith('neck.lateral_convs.') && k.endsWith('.weight'))).toHaveLength(
        head.startLevel === 0 ? 4 : 3,
      );
      const img = tf.tidy(() => tf.round(tf.randomUniform([60, 44, 3], 0, 255, 'float32', 4))) as tf.Tensor3D;
      const before = tf.memory().numTensors;
      const r = await det.detect(img, { scale: [128, 96] });
      expect(tf.memory().numTensors).toBe(before);
      img.dispose();
      expect([r.height, r.width, r.numClasses]).toEqual([60, 44, 4]);
      expect(r.detections.length).toBeGreaterThan(0);
      for (const d of r.detections) {
        expect(Object.keys(d).sort()).toEqual(['box', 'label', 'score']);
        expect(d.box[2] <= 44 + 1e-3 && d.box[3] <= 60 + 1e-3).toBe(true);
      }
    }
  });

  it('builds the official heads on any backbone from their configs (mmdet keys after backbone.*)', () => {
    for (const name of ['maskrcnn_coco_dat', 'retinanet_coco_debi'] as const) {
      const det = createDetector({
        backbone: new TinyBackbone(),
        head: detectionOptionsFromConfig(variants[name].config),
      });
      const keys = det.stateDictShapes().map(([k]) => k);
      const headKeys = keys.filter((k) => !k.startsWith('backbone.'));
      const official = manifest(name).state_dict.map(([k]) => k);
      expect(headKeys).toEqual(official);
      expect(det.numClasses).toBe(80);
      det.dispose();
    }
  });

  it('runs the same pipeline synchronously on a batch of features', () => {
    const head = new RetinaNetHead({
      inChannels: [8, 16, 24, 32],
      numClasses: 2,
      fpnChannels: 8,
      featChannels: 8,
      stackedConvs: 1,
    });
    made.push(head);
    randomise(head, 5);
    const feats = [32, 16, 8, 4].map(
      (s, i) => tf.randomNormal([2, s, s, [8, 16, 24, 32][i]!], 0, 1, 'float32', i) as tf.Tensor4D,
    );
    const meta = {
      oriShape: [100, 100] as const,
      imgShape: [128, 128] as const,
      scaleFactor: [1.28, 1.28, 1.28, 1.28] as const,
    };
    const before = tf.memory().numTensors;
    const r = runSync(head.testSteps(feats, [meta, meta]));
    expect(tf.memory().numTensors).toBe(before);
    expect(r.detections).toHaveLength(2);
    tf.dispose(feats);
  });

  it('fails with typed errors on bad input', async () => {
    const det = createDetector({
      backbone: new TinyBackbone(),
      head: {
        kind: 'mask_rcnn',
        numClasses: 2,
        fpnChannels: 8,
        rpnFeatChannels: 8,
        fcOutChannels: 16,
        maskChannels: 8,
      },
    });
    made.push(det);
    const inputs: tf.Tensor[] = [];
    const zeros = <T extends tf.Tensor>(shape: number[]) => {
      const t = tf.zeros(shape) as T;
      inputs.push(t);
      return t;
    };
    await expect(det.detect(zeros<tf.Tensor3D>([4, 4]))).rejects.toThrow(ShapeError);
    await expect(det.detect(zeros<tf.Tensor3D>([8, 8, 4]))).rejects.toThrow(ShapeError);
    const head = det.head as MaskRCNNHead;
    const f = (c: number, s = 8) => zeros<tf.Tensor4D>([1, s, s, c]);
    expect(() => head.forward([f(8), f(16), f(24)])).toThrow(ShapeError); // wrong feature count
    expect(() => head.forward([f(8), f(16), f(24), f(31)])).toThrow(ShapeError); // wrong channels
    const meta = { oriShape: [8, 8] as const, imgShape: [8, 8] as const, scaleFactor: [1, 1, 1, 1] as const };
    expect(() => runSync(head.testSteps([f(8), f(16), f(24), f(32)], [meta, meta]))).toThrow(InvalidArgumentError); // metas ≠ batch
    // a backbone whose maps disagree with its featureInfo
    class Liar extends TinyBackbone {
      override readonly featureInfo: FeatureInfo[] = [8, 16, 24, 33].map((channels, i) => ({
        channels,
        reduction: 4 << i,
        module: `stages.${i}`,
      }));
    }
    const liar = createDetector({ backbone: new Liar(), head: 'retinanet' });
    made.push(liar);
    const before = tf.memory().numTensors;
    await expect(liar.detect(zeros<tf.Tensor3D>([32, 32, 3]))).rejects.toThrow(ShapeError);
    expect(tf.memory().numTensors).toBe(before + 1); // nothing but the image survives the failure
    tf.dispose(inputs);
    expect(() => createDetector({ backbone: new TinyBackbone(), head: 'yolo' as 'retinanet' })).toThrow(
      InvalidArgumentError,
    );
    expect(() =>
      createDetector({ backbone: new TinyBackbone(), head: { kind: 'retinanet', anchorStrides: [8, 16] } }),
    ).toThrow(InvalidArgumentError);
  });
});
