/**
 * The demo's engine in Node (wasm backend): recording the mechanisms of each bundled test model during
 * a forward pass, and the pure helpers the page uses to draw and to prepare inputs.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { type Classifier, IMAGENET_MEAN, IMAGENET_STD, readSafetensors, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { createDetector } from '@dynavit/heads';
import { beforeAll, describe, expect, it } from 'vitest';
import { capture, describeTrace, type GlmixTrace, mechanismCounts, type MechanismTrace } from './demo/capture.js';
import {
  centreRegion,
  croppedCanvas,
  instanceMasksRgba,
  paletteRgb,
  pixelAt,
  regionAt,
  slotAssignment,
  type View,
  viewOnCanvas,
} from './demo/draw.js';
import {
  classificationCrop,
  randomDetectionHeadStateDict,
  randomStateDict,
  TEST_DETECTION_HEAD,
  TEST_MODELS,
} from './demo/engine.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const GOLDEN: Record<string, string> = {
  'test:dat': 'packages/dat/src/__fixtures__/golden/dat_pp_reduced.weights.safetensors',
  'test:dbra': 'packages/dbra/src/__fixtures__/golden/cls_tiny_reduced.weights.safetensors',
  'test:glmix': 'packages/glmix/src/__fixtures__/golden/g_reduced_96x128.weights.safetensors',
};

beforeAll(async () => {
  await tf.setBackend('wasm');
});

function testModel(id: string): Classifier {
  const file = readSafetensors(new Uint8Array(readFileSync(repo + GOLDEN[id]!)), id);
  const model = new Registry([dat, dbra, glmix]).fromReference(file.metadata);
  if (model.kind !== 'classifier') throw new Error(`${id} is not a classifier golden case`);
  model.loadStateDict(file.tensors);
  return model;
}

describe('capture', () => {
  it.each(
    TEST_MODELS.map((m) => [m.id, m] as const),
  )('%s: records every mechanism module once, leaks nothing, restores the model', async (id, m) => {
    const model = testModel(id);
    const x = tf.randomNormal([1, ...m.input.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    const plain = model.forward(x);
    const before = tf.memory().numTensors;
    const { result, traces } = await capture(model, () => model.forward(x));
    // recording does not change the output
    expect(Array.from(await result.data())).toEqual(Array.from(await plain.data()));
    result.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const counts = mechanismCounts(model);
    expect(traces.length).toBe(counts.dat + counts.bra + counts.dbra + counts.glmix);
    expect(traces.length).toBeGreaterThan(0);
    // the instances are back to their class's forward
    const again = model.forward(x);
    expect(Array.from(await again.data())).toEqual(Array.from(await plain.data()));
    tf.dispose([again, plain, x]);
    for (const t of traces) checkTrace(t);
    expect(describeTrace(traces[0]!)).toMatch(/map/);
    model.dispose();
  });
});

function checkTrace(t: MechanismTrace): void {
  switch (t.kind) {
    case 'dat':
      expect(t.pos.length).toBe(t.groups * t.hk * t.wk * 2);
      expect(t.pos.every((v) => v >= -1 && v <= 1)).toBe(true); // clamped positions
      expect(t.reference.length).toBe(t.hk * t.wk * 2);
      break;
    case 'bra':
    case 'dbra': {
      expect(t.routeIdx.length).toBe(t.nWin * t.nWin * t.topk);
      expect(t.routeIdx.every((p) => p >= 0 && p < t.nWin * t.nWin)).toBe(true);
      // each region routes to distinct regions
      for (let p = 0; p < t.nWin * t.nWin; p++)
        expect(new Set(t.routeIdx.subarray(p * t.topk, (p + 1) * t.topk)).size).toBe(t.topk);
      if (t.kind === 'dbra') {
        expect(t.gridXY.length).toBe(t.groups * t.hk * t.wk * 2);
        expect(t.gridXY.every((v) => v >= -1 && v <= 1)).toBe(true);
      }
      break;
    }
    case 'glmix': {
      const L = t.height * t.width;
      expect(t.dispatch.length).toBe(L * t.slots);
      for (let l = 0; l < L; l += 37) {
        const row = t.dispatch.subarray(l * t.slots, (l + 1) * t.slots);
        expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4); // softmax over the slots
      }
      break;
    }
  }
}

describe('drawing helpers', () => {
  const view: View = { inputHeight: 224, inputWidth: 224, width: 448, height: 448 };
  const bra = {
    kind: 'bra' as const,
    path: 'x',
    height: 56,
    width: 56,
    nWin: 7,
    topk: 4,
    paddedHeight: 56,
    paddedWidth: 56,
    routeIdx: new Int32Array(196),
  };

  it('finds the region under a canvas point', () => {
    expect(regionAt(bra, view, 0, 0)).toBe(0);
    expect(regionAt(bra, view, 447, 447)).toBe(48);
    expect(regionAt(bra, view, 64 * 3 + 1, 64 * 1 + 1)).toBe(1 * 7 + 3);
    expect(centreRegion(bra, view)).toBe(24);
    expect(regionAt(bra, view, -5, 10)).toBeUndefined();
  });

  it('leaves the padding of a padded input off the canvas (detection: 337×224 padded to 352×224)', () => {
    const area = { inputHeight: 224, inputWidth: 352, shown: { height: 224, width: 337 } };
    const c = croppedCanvas(area, 520);
    // the canvas has the image's aspect ratio (coffee.jpg, 320×213), not the padded input's
    expect(c).toEqual({ width: 520, height: 346 });
    expect(c.width / c.height).toBeCloseTo(320 / 213, 2);
    const v = viewOnCanvas(area, c.width, c.height);
    // the whole input at the canvas' scale: its padding (15 input pixels) lies beyond the right edge
    expect(v.width).toBeCloseTo((520 * 352) / 337, 6);
    expect(v.height).toBeCloseTo(346, 6);
    expect(v.width - c.width).toBeCloseTo((15 * 520) / 337, 6);
    // a map pixel in the image part maps inside the canvas; the last column (in the padding) outside
    const t: GlmixTrace = { kind: 'glmix', path: 'x', height: 56, width: 88, slots: 2, dispatch: new Float32Array(0) };
    expect(pixelAt(t, v, c.width - 1, c.height - 1)).toBe(55 * 88 + Math.floor(((c.width - 1) / v.width) * 88));
    expect(Math.floor(((c.width - 1) / v.width) * 88)).toBe(84); // columns 85–87 (padding) are not on the canvas
    // an unpadded input fills its canvas
    const plain = { inputHeight: 64, inputWidth: 64 };
    expect(croppedCanvas(plain, 520)).toEqual({ width: 520, height: 520 });
    expect(viewOnCanvas(plain, 520, 520)).toEqual({ inputHeight: 64, inputWidth: 64, width: 520, height: 520 });
  });

  it('assigns each pixel to its strongest slot', () => {
    const t: GlmixTrace = {
      kind: 'glmix',
      path: 'x',
      height: 1,
      width: 2,
      slots: 3,
      dispatch: Float32Array.from([0.2, 0.7, 0.1, 0.5, 0.25, 0.25]),
    };
    const { slot, weight } = slotAssignment(t);
    expect(Array.from(slot)).toEqual([1, 0]);
    expect(weight[0]).toBeCloseTo(0.7);
  });
});

describe('engine helpers', () => {
  it('finds the part of the image a classification input shows', () => {
    const input = {
      size: [224, 224] as const,
      mean: IMAGENET_MEAN,
      std: IMAGENET_STD,
      cropPct: 0.875,
      interpolation: 'bicubic' as const,
    };
    // 640×480: short side → 256, so 341×256, centre crop 224 → 16 px margins at 256/480 scale
    const c = classificationCrop(640, 480, input);
    expect(c.height).toBeCloseTo((224 * 480) / 256, 6);
    expect(c.y).toBeCloseTo((16 * 480) / 256, 6);
    expect(Math.abs(c.x + c.width / 2 - 320)).toBeLessThan(1.5); // the crop offset is rounded in resized pixels
  });

  it('gives the same random head weights every time', () => {
    const model = testModel('test:dat');
    const a = randomStateDict(model, 3);
    const b = randomStateDict(model, 3);
    const k = [...a.keys()][5]!;
    expect(Array.from(a.get(k)!.data as Float32Array)).toEqual(Array.from(b.get(k)!.data as Float32Array));
    expect(a.size).toBe([...model.namedEntries()].filter((e) => e.dtype === 'F32').length);
    model.dispose();
  });

  it('initialises a random detection head with small predictors (N(0, 0.01²), zero bias)', () => {
    const backbone = testModel('test:dbra');
    const det = createDetector({ backbone, head: TEST_DETECTION_HEAD });
    const sd = randomDetectionHeadStateDict(det.head);
    const std = (k: string) => {
      const d = sd.get(k)!.data as Float32Array;
      return Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
    };
    for (const k of [
      'rpn_head.rpn_cls.weight',
      'rpn_head.rpn_reg.weight',
      'roi_head.bbox_head.fc_cls.weight',
      'roi_head.bbox_head.fc_reg.weight',
      'roi_head.mask_head.conv_logits.weight',
    ]) {
      expect(std(k), k).toBeGreaterThan(0.008);
      expect(std(k), k).toBeLessThan(0.012);
      expect(
        Array.from(sd.get(k.replace(/weight$/, 'bias'))!.data as Float32Array).every((v) => v === 0),
        k,
      ).toBe(true);
    }
    // other layers keep the He-style init: the RPN's 3×3 conv over 32 channels has std √(2/288)
    expect(std('rpn_head.rpn_conv.weight')).toBeCloseTo(Math.sqrt(2 / 288), 2);
    expect(sd.size).toBe([...det.head.namedEntries()].filter((e) => e.dtype === 'F32').length);
    det.dispose();
  });

  it('the test detection head yields its 8 best boxes with masks at the original size, leaking nothing', async () => {
    const backbone = testModel('test:dbra');
    const det = createDetector({ backbone, head: TEST_DETECTION_HEAD });
    det.head.loadStateDict(randomDetectionHeadStateDict(det.head));
    const image = tf.randomUniform([120, 160, 3], 0, 255, 'float32', 5) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const { result: out, traces } = await capture(det, () => det.detect(image, { scale: [448, 224] }));
    expect(tf.memory().numTensors).toBe(before);
    const counts = mechanismCounts(backbone);
    expect(traces.length).toBe(counts.dbra + counts.bra);
    expect(traces.length).toBeGreaterThan(0);
    expect([out.width, out.height, out.numClasses]).toEqual([160, 120, 80]);
    expect(out.detections).toHaveLength(8);
    for (const [k, d] of out.detections.entries()) {
      const [x1, y1, x2, y2] = d.box;
      // near-zero deltas: the boxes are (clipped) proposals, with area, inside the image
      expect(0 <= x1 && x1 < x2 && x2 <= 160 && 0 <= y1 && y1 < y2 && y2 <= 120, `box ${d.box}`).toBe(true);
      expect(d.score).toBeGreaterThan(0);
      expect(d.score).toBeLessThan(1);
      expect(d.label).toBeGreaterThanOrEqual(0);
      expect(d.label).toBeLessThan(80);
      expect(d.mask).toHaveLength(120 * 160);
      if (k > 0) expect(d.score).toBeLessThanOrEqual(out.detections[k - 1]!.score);
    }
    image.dispose();
    det.dispose();
  });
});

describe('instance masks', () => {
  it('colours each mask, the better-scored object on top where masks overlap', () => {
    const objects = [
      { box: [0, 0, 2, 1] as const, score: 0.9, name: 'a', mask: Uint8Array.from([1, 1, 0]) },
      { box: [0, 0, 3, 1] as const, score: 0.5, name: 'b', mask: Uint8Array.from([0, 1, 1]) },
    ];
    const rgba = instanceMasksRgba(objects, 3, 1, 100);
    const px = (i: number) => Array.from(rgba.subarray(4 * i, 4 * i + 4));
    expect(px(0)).toEqual([...paletteRgb(0, 50), 100]);
    expect(px(1)).toEqual([...paletteRgb(0, 50), 100]);
    expect(px(2)).toEqual([...paletteRgb(1, 50), 100]);
    expect(() => instanceMasksRgba(objects, 2, 1)).toThrow(/mask 1 has 3 pixels/);
  });
});
