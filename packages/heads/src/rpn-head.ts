/**
 * mmdet 2.x `RPNHead` (heads.md §6.2, §6.3): a shared 3×3 conv + ReLU, then per anchor one sigmoid
 * objectness logit (`rpn_cls`) and four deltas (`rpn_reg`, channel a·4 + k). Proposals per image:
 * per level top-`nms_pre` by score, decode (stds 1) clipped to the unpadded image, drop boxes with
 * w or h ≤ min_bbox_size, NMS per level (IoU > 0.7, level ids as groups), keep `max_per_img`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, InvalidArgumentError, Module, ShapeError } from '@dynavit/core';
import type { AnchorGenerator } from './anchors.js';
import { decodeDelta, type HW, UNIT_CODER } from './bbox.js';
import { batchedNms, topKDescending } from './nms.js';
import type { HostFeatureMap } from './roi-align.js';

const f32 = Math.fround;

/** float32 logistic, as torch's sigmoid. */
export const sigmoid32 = (x: number): number => f32(1 / (1 + Math.exp(-x)));

export interface RPNTestConfig {
  /** candidates kept per level before NMS (1000) */
  nmsPre: number;
  /** proposals kept per image after NMS (1000) */
  maxPerImg: number;
  /** NMS IoU threshold (0.7) */
  iouThreshold: number;
  /** boxes need w > this and h > this (0: drops only empty boxes) */
  minBboxSize: number;
}

export const RPN_TEST_CFG: RPNTestConfig = { nmsPre: 1000, maxPerImg: 1000, iouThreshold: 0.7, minBboxSize: 0 };

export interface DenseOutputs {
  /** per level [B, H, W, A·k] logits (NHWC) */
  cls: tf.Tensor4D[];
  /** per level [B, H, W, A·4] deltas */
  reg: tf.Tensor4D[];
}

export class RPNHead extends Module {
  readonly rpn_conv: Conv2d;
  readonly rpn_cls: Conv2d;
  readonly rpn_reg: Conv2d;
  constructor(
    readonly inChannels: number,
    readonly featChannels: number,
    readonly numAnchors: number,
  ) {
    super();
    this.rpn_conv = this.child('rpn_conv', new Conv2d(inChannels, featChannels, 3, { padding: 1 }));
    this.rpn_cls = this.child('rpn_cls', new Conv2d(featChannels, numAnchors, 1));
    this.rpn_reg = this.child('rpn_reg', new Conv2d(featChannels, numAnchors * 4, 1));
  }

  /** pyramid maps (NHWC) → objectness logits [B,H,W,A] and deltas [B,H,W,4A] per level. */
  forward(feats: readonly tf.Tensor4D[]): DenseOutputs {
    return tf.tidy(() => {
      const cls: tf.Tensor4D[] = [];
      const reg: tf.Tensor4D[] = [];
      for (const [i, p] of feats.entries()) {
        if (p.rank !== 4 || p.shape[3] !== this.inChannels)
          throw new ShapeError('RPNHead', `feats[${i}]`, `[B,H,W,${this.inChannels}]`, `[${p.shape.join(',')}]`);
        const t = tf.relu(this.rpn_conv.forward(p));
        cls.push(this.rpn_cls.forward(t));
        reg.push(this.rpn_reg.forward(t));
      }
      return { cls, reg };
    });
  }
}

/** The h×w grid of every level, checked against the anchor generator. */
function checkLevels(
  op: string,
  cls: readonly HostFeatureMap[],
  reg: readonly HostFeatureMap[],
  anchors: AnchorGenerator,
  perAnchor: number,
): void {
  if (cls.length !== anchors.numLevels || reg.length !== anchors.numLevels)
    throw new ShapeError(
      op,
      'levels',
      `${anchors.numLevels} levels (one per anchor stride)`,
      `${cls.length} score / ${reg.length} delta maps`,
    );
  const A = anchors.numAnchors;
  cls.forEach((c, l) => {
    const r = reg[l]!;
    if (c.channels !== A * perAnchor)
      throw new ShapeError(op, `scores[${l}]`, `${A * perAnchor} channels`, `${c.channels}`);
    if (r.channels !== A * 4 || r.height !== c.height || r.width !== c.width || r.batch !== c.batch)
      throw new ShapeError(
        op,
        `deltas[${l}]`,
        `[${c.batch},${c.height},${c.width},${A * 4}]`,
        `[${r.batch},${r.height},${r.width},${r.channels}]`,
      );
  });
}

/**
 * Proposals of batch image `b` from the RPN outputs read back to the host: [N·5] rows
 * (x1, y1, x2, y2, score) in network-input coordinates, descending score.
 */
export function rpnProposals(
  cls: readonly HostFeatureMap[],
  reg: readonly HostFeatureMap[],
  b: number,
  anchors: AnchorGenerator,
  imgShape: HW,
  cfg: RPNTestConfig = RPN_TEST_CFG,
): Float32Array {
  checkLevels('rpnProposals', cls, reg, anchors, 1);
  if (!(b >= 0 && b < (cls[0]?.batch ?? 0)))
    throw new InvalidArgumentError(`rpnProposals: image ${b} not in a batch of ${cls[0]?.batch ?? 0}`);
  const scores: number[] = [];
  const boxes: number[] = [];
  const ids: number[] = [];
  const box = new Float32Array(4);
  for (let l = 0; l < cls.length; l++) {
    const c = cls[l]!;
    const r = reg[l]!;
    const n = c.height * c.width * c.channels;
    const s = new Float32Array(n);
    const off = b * n;
    for (let i = 0; i < n; i++) s[i] = sigmoid32(c.data[off + i]!);
    let order: Int32Array;
    if (cfg.nmsPre > 0 && n > cfg.nmsPre) order = topKDescending(s, cfg.nmsPre);
    else order = Int32Array.from({ length: n }, (_, i) => i);
    const grid = anchors.gridAnchors(l, c.height, c.width);
    for (const i of order) {
      decodeDelta(grid, i * 4, r.data, off * 4 + i * 4, UNIT_CODER, imgShape, box, 0);
      const w = f32(box[2]! - box[0]!);
      const h = f32(box[3]! - box[1]!);
      if (cfg.minBboxSize >= 0 && !(w > cfg.minBboxSize && h > cfg.minBboxSize)) continue;
      boxes.push(box[0]!, box[1]!, box[2]!, box[3]!);
      scores.push(s[i]!);
      ids.push(l);
    }
  }
  const keep = batchedNms(boxes, scores, ids, cfg.iouThreshold).subarray(0, cfg.maxPerImg);
  const out = new Float32Array(keep.length * 5);
  keep.forEach((k, j) => {
    out.set(boxes.slice(k * 4, k * 4 + 4), j * 5);
    out[j * 5 + 4] = scores[k]!;
  });
  return out;
}
