/**
 * Any backbone, any head: each family's dense backbone under Semantic FPN, UperNet and Mask R-CNN at
 * a small size, composed through the feature-pyramid contract alone (channels from featureInfo).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { DenseBackbone } from '@dynavit/core';
import { createDetector, createSegmentor } from '@dynavit/heads';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { createRegistry } from './registry.js';

const BACKBONES = ['dat_pp_tiny_dense', 'debi_tiny_seg', 'glnet_4g_dense'] as const;
const [H, W] = [64, 96];

describe.each(BACKBONES)('%s composed with the shared heads (wasm)', (name) => {
  beforeAll(async () => {
    await selectBackend({ prefer: 'wasm' });
  });
  const backbone = (): DenseBackbone => {
    const m = createRegistry().createModel(name);
    if (m.kind !== 'backbone') throw new Error(`${name} is a ${m.kind}, not a backbone`);
    return m;
  };

  it.each(['semantic_fpn', 'upernet'] as const)('%s: logits at stride 4 with 150 classes, nothing leaks', (head) => {
    const seg = createSegmentor({ backbone: backbone(), head });
    const x = tf.randomNormal([1, H, W, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const y = seg.forward(x);
    expect(y.shape).toEqual([1, Math.ceil(H / 4), Math.ceil(W / 4), 150]);
    expect(Array.from(y.dataSync().slice(0, 100)).every(Number.isFinite)).toBe(true);
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // the head's input channels come from the backbone's featureInfo, never typed twice
    const keys = seg.stateDictShapes();
    if (head === 'upernet') {
      const c5 = seg.backbone.featureInfo[3]!.channels;
      expect(keys.find(([k]) => k === 'decode_head.psp_modules.0.1.conv.weight')?.[1]).toEqual([512, c5, 1, 1]);
    } else {
      const c2 = seg.backbone.featureInfo[0]!.channels;
      expect(keys.find(([k]) => k === 'neck.lateral_convs.0.conv.weight')?.[1]).toEqual([256, c2, 1, 1]);
    }
    x.dispose();
    seg.dispose();
  });

  it('mask_rcnn: detect() returns plain results at the image size, nothing leaks', async () => {
    const det = createDetector({ backbone: backbone(), head: 'mask_rcnn' });
    const img = tf.randomUniform([H, W, 3], 0, 255, 'int32', 5) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const r = await det.detect(img, { scale: [W, H] });
    expect(tf.memory().numTensors).toBe(before);
    expect([r.width, r.height, r.numClasses]).toEqual([W, H, 80]);
    expect(Array.isArray(r.detections)).toBe(true);
    for (const d of r.detections) {
      expect(d.box).toHaveLength(4);
      expect(d.mask?.length).toBe(W * H);
    }
    img.dispose();
    det.dispose();
  });
});
