/**
 * Mask R-CNN's RoI heads as mmdet 2.x tests them (`StandardRoIHead.simple_test`, heads.md §6.6–6.8):
 * - `Shared2FCBBoxHead`: RoIAlign 7×7 features flattened in NCHW order → fc → ReLU → fc → ReLU →
 *   `fc_cls` (num_classes + 1 logits, background LAST) and `fc_reg` (class-specific deltas).
 * - post-processing (`BBoxHead.get_bboxes` + `multiclass_nms`): softmax, decode with stds
 *   [0.1, 0.1, 0.2, 0.2] clipped to the unpadded image, ÷ scale factor, keep (RoI, class) pairs with
 *   score > score_thr, class-aware NMS (IoU > thr), first max_per_img.
 * - `FCNMaskHead`: 4 × (3×3 conv + ReLU) → 2×2/s2 deconv + ReLU → 1×1 logits, class-specific sigmoid.
 * - mask RoIs = det boxes × scale factor; probabilities pasted at the original size with
 *   grid_sample semantics (bilinear, zeros outside, align_corners=False), binarised at ≥ thr.
 * Host/device split: RoIAlign, NMS and pasting run on the host, the fcs and convs on the device.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, InvalidArgumentError, Linear, Module, ModuleList, ShapeError } from '@dynavit/core';
import { decodeDelta, type HW, multiplyBoxes, RCNN_CODER } from './bbox.js';
import { ConvModule } from './conv-module.js';
import { ConvTranspose2d } from './conv-transpose.js';
import { nmsDetections } from './nms.js';
import { extractRoIFeatures, type HostFeatureMap } from './roi-align.js';
import { sigmoid32 } from './rpn-head.js';
import type { Steps } from './steps.js';

const f32 = Math.fround;

/** What the detection pipelines need to know about one image (mmdet `img_metas`). */
export interface ImageMeta {
  /** original image [h, w] (results live here) */
  oriShape: HW;
  /** resized image before padding [h, w] (boxes are clipped to it) */
  imgShape: HW;
  /** per-axis float32 scale factors [sx, sy, sx, sy] = new / original size */
  scaleFactor: readonly [number, number, number, number];
}

export interface RCNNTestConfig {
  /** (RoI, class) pairs need a score strictly above this (0.05) */
  scoreThr: number;
  /** class-aware NMS IoU threshold (0.5) */
  iouThreshold: number;
  /** detections kept per image (100) */
  maxPerImg: number;
  /** mask probability threshold, pixels ≥ it are foreground (0.5) */
  maskThrBinary: number;
}

export const RCNN_TEST_CFG: RCNNTestConfig = { scoreThr: 0.05, iouThreshold: 0.5, maxPerImg: 100, maskThrBinary: 0.5 };

/** Detections of one image: [K·5] rows (x1, y1, x2, y2, score) in original-image coordinates. */
export interface ImageDetections {
  bboxes: Float32Array;
  labels: Int32Array;
}

export class Shared2FCBBoxHead extends Module {
  readonly fc_cls: Linear;
  readonly fc_reg: Linear;
  readonly shared_fcs: ModuleList<Linear>;
  readonly inFeatures: number;
  constructor(
    readonly inChannels: number,
    readonly roiFeatSize: number,
    readonly fcOutChannels: number,
    readonly numClasses: number,
  ) {
    super();
    this.inFeatures = inChannels * roiFeatSize * roiFeatSize;
    this.fc_cls = this.child('fc_cls', new Linear(fcOutChannels, numClasses + 1));
    this.fc_reg = this.child('fc_reg', new Linear(fcOutChannels, numClasses * 4));
    this.shared_fcs = this.child(
      'shared_fcs',
      new ModuleList([new Linear(this.inFeatures, fcOutChannels), new Linear(fcOutChannels, fcOutChannels)]),
    );
  }

  /** RoI features [R, C·S·S] (NCHW-flattened) → class logits [R, n+1], deltas [R, 4n]. */
  forward(x: tf.Tensor2D): { cls: tf.Tensor2D; reg: tf.Tensor2D } {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures)
      throw new ShapeError('Shared2FCBBoxHead', 'x', `[R, ${this.inFeatures}]`, `[${x.shape.join(',')}]`);
    return tf.tidy(() => {
      let h: tf.Tensor = x;
      for (const fc of this.shared_fcs.items) h = tf.relu(fc.forward(h));
      return { cls: this.fc_cls.forward(h) as tf.Tensor2D, reg: this.fc_reg.forward(h) as tf.Tensor2D };
    });
  }
}

export class FCNMaskHead extends Module {
  readonly convs: ModuleList<ConvModule>;
  readonly upsample: ConvTranspose2d;
  readonly conv_logits: Conv2d;
  constructor(
    readonly inChannels: number,
    readonly convOutChannels: number,
    readonly numClasses: number,
    numConvs = 4,
  ) {
    super();
    this.convs = this.child(
      'convs',
      new ModuleList(
        Array.from(
          { length: numConvs },
          (_, i) =>
            new ConvModule(i === 0 ? inChannels : convOutChannels, convOutChannels, 3, { padding: 1, act: true }),
        ),
      ),
    );
    this.upsample = this.child(
      'upsample',
      new ConvTranspose2d(numConvs > 0 ? convOutChannels : inChannels, convOutChannels, 2, { stride: 2 }),
    );
    this.conv_logits = this.child('conv_logits', new Conv2d(convOutChannels, numClasses, 1));
  }

  /** RoI features [K, 14, 14, C] → mask logits [K, 28, 28, numClasses] (NHWC). */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h: tf.Tensor4D = x;
      for (const c of this.convs.items) h = c.forward(h);
      return this.conv_logits.forward(tf.relu(this.upsample.forward(h)));
    });
  }
}

/**
 * `BBoxHead.get_bboxes` (rescale=True) + `multiclass_nms` for one image.
 * boxes [R·4] RoI boxes (network-input coords), cls [R·(n+1)] logits, reg [R·4n] deltas.
 */
export function rcnnDetections(
  boxes: ArrayLike<number>,
  cls: ArrayLike<number>,
  reg: ArrayLike<number>,
  numClasses: number,
  meta: Pick<ImageMeta, 'imgShape' | 'scaleFactor'>,
  cfg: RCNNTestConfig = RCNN_TEST_CFG,
): ImageDetections & { numCandidates: number } {
  const R = boxes.length / 4;
  const n1 = numClasses + 1;
  if (cls.length !== R * n1 || reg.length !== R * numClasses * 4)
    throw new ShapeError(
      'rcnnDetections',
      'cls/reg',
      `[${R}, ${n1}] and [${R}, ${numClasses * 4}]`,
      `${cls.length} and ${reg.length} numbers`,
    );
  const thr = f32(cfg.scoreThr);
  const sf = meta.scaleFactor.map(f32);
  const cBoxes: number[] = [];
  const cScores: number[] = [];
  const cLabels: number[] = [];
  const p = new Float32Array(n1);
  const box = new Float32Array(4);
  for (let r = 0; r < R; r++) {
    // softmax over n+1 logits, float32 (max-shifted exp, times 1/sum)
    let m = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < n1; c++) m = Math.max(m, cls[r * n1 + c]!);
    let sum = 0;
    for (let c = 0; c < n1; c++) {
      p[c] = f32(Math.exp(f32(cls[r * n1 + c]! - m)));
      sum = f32(sum + p[c]!);
    }
    const inv = f32(1 / sum);
    for (let c = 0; c < numClasses; c++) {
      const s = f32(p[c]! * inv);
      if (!(s > thr)) continue;
      decodeDelta(boxes, r * 4, reg, (r * numClasses + c) * 4, RCNN_CODER, meta.imgShape, box, 0);
      for (let k = 0; k < 4; k++) cBoxes.push(f32(box[k]! / sf[k]!));
      cScores.push(s);
      cLabels.push(c);
    }
  }
  return nmsDetections(cBoxes, cScores, cLabels, cfg.iouThreshold, cfg.maxPerImg);
}

/**
 * Paste one S×S probability map (at `probs[offset..]`) into an imgH×imgW image for the box
 * (x1, y1, x2, y2) (mmdet `_do_paste_mask`: pixel centres mapped into the box, torch grid_sample
 * bilinear with zero padding, align_corners=False), thresholded at ≥ `thr`. Pixels farther than one
 * pixel outside the box are always 0 (mmdet's CPU path pastes only that window).
 */
export function pasteMask(
  probs: ArrayLike<number>,
  offset: number,
  S: number,
  box: ArrayLike<number>,
  imgH: number,
  imgW: number,
  thr: number,
): Uint8Array {
  const out = new Uint8Array(imgH * imgW);
  const [x0, y0, x1, y1] = [box[0]!, box[1]!, box[2]!, box[3]!];
  const c0 = Math.max(Math.floor(x0) - 1, 0);
  const r0 = Math.max(Math.floor(y0) - 1, 0);
  const c1 = Math.min(Math.ceil(x1) + 1, imgW);
  const r1 = Math.min(Math.ceil(y1) + 1, imgH);
  const bw = f32(x1 - x0);
  const bh = f32(y1 - y0);
  const half = f32(S / 2);
  // grid coordinate → source coordinate, per axis (torch: ((g + 1)·S/2) − 0.5); ±inf → 0 (mmdet)
  const src = (pix: number, lo: number, size: number): number => {
    let g = f32(f32(f32(f32(pix + 0.5) - lo) / size) * 2);
    g = f32(g - 1);
    if (g === Number.POSITIVE_INFINITY || g === Number.NEGATIVE_INFINITY) g = 0;
    return f32(f32(f32(g + 1) * half) - 0.5);
  };
  const xs = new Float64Array(Math.max(c1 - c0, 0));
  for (let j = c0; j < c1; j++) xs[j - c0] = src(j, x0, bw);
  const tap = (yy: number, xx: number) => (yy >= 0 && yy < S && xx >= 0 && xx < S ? probs[offset + yy * S + xx]! : 0);
  for (let i = r0; i < r1; i++) {
    const iy = src(i, y0, bh);
    if (Number.isNaN(iy)) continue;
    const yN = Math.floor(iy);
    const n = f32(iy - yN);
    const s = f32(1 - n);
    for (let j = c0; j < c1; j++) {
      const ix = xs[j - c0]!;
      if (Number.isNaN(ix)) continue;
      const xW = Math.floor(ix);
      const w = f32(ix - xW);
      const e = f32(1 - w);
      let v = f32(f32(tap(yN, xW) * f32(s * e)) + f32(tap(yN, xW + 1) * f32(s * w)));
      v = f32(v + f32(tap(yN + 1, xW) * f32(n * e)));
      v = f32(v + f32(tap(yN + 1, xW + 1) * f32(n * w)));
      if (v >= thr) out[i * imgW + j] = 1;
    }
  }
  return out;
}

export interface BBoxStageResult {
  /** all RoIs of the batch, image-major, [R·5] (batch index, x1, y1, x2, y2) */
  rois: Float32Array;
  /** pyramid level of each RoI */
  levels: Int32Array;
  /** [R·(n+1)] class logits */
  clsScore: Float32Array;
  /** [R·4n] class-specific deltas */
  bboxPred: Float32Array;
  /** pooled features of the first `keepRoiFeats` RoIs, [k, C, 7, 7] */
  roiFeats?: Float32Array;
  /** per image */
  detections: Array<ImageDetections & { numCandidates: number }>;
}

export interface MaskStageResult {
  /** pyramid level of each mask RoI (all detections of the batch, image-major) */
  levels: Int32Array;
  /** per image: [K·S·S] sigmoid probability of the detected class (S = 28) */
  probs: Float32Array[];
  /** per image: K binary masks at the original size, each [h·w] */
  masks: Uint8Array[][];
  /** all-class mask logits of the first `keepMaskLogits` detections per image, [k, n, S, S] (NCHW) */
  logits?: Float32Array[];
}

export interface RoIHeadConfig {
  inChannels: number;
  /** strides of the maps the RoIs are pooled from (P2..P5: [4, 8, 16, 32]) */
  featStrides: readonly number[];
  numClasses: number;
  fcOutChannels: number;
  /** mask head conv channels; 0 = no mask head (Faster R-CNN) */
  maskChannels: number;
  bboxRoiSize?: number;
  maskRoiSize?: number;
  finestScale?: number;
}

export class StandardRoIHead extends Module {
  readonly bbox_head: Shared2FCBBoxHead;
  readonly mask_head: FCNMaskHead | null = null;
  readonly bboxRoiSize: number;
  readonly maskRoiSize: number;
  constructor(readonly config: RoIHeadConfig) {
    super();
    this.bboxRoiSize = config.bboxRoiSize ?? 7;
    this.maskRoiSize = config.maskRoiSize ?? 14;
    this.bbox_head = this.child(
      'bbox_head',
      new Shared2FCBBoxHead(config.inChannels, this.bboxRoiSize, config.fcOutChannels, config.numClasses),
    );
    if (config.maskChannels > 0)
      this.mask_head = this.child(
        'mask_head',
        new FCNMaskHead(config.inChannels, config.maskChannels, config.numClasses),
      );
  }

  #checkFeats(op: string, feats: readonly HostFeatureMap[]): readonly HostFeatureMap[] {
    const { featStrides, inChannels } = this.config;
    if (feats.length < featStrides.length)
      throw new ShapeError(op, 'feats', `≥ ${featStrides.length} pyramid maps`, `${feats.length}`);
    const used = feats.slice(0, featStrides.length);
    used.forEach((f, i) => {
      if (f.channels !== inChannels) throw new ShapeError(op, `feats[${i}]`, `${inChannels} channels`, `${f.channels}`);
    });
    return used;
  }

  /**
   * Box stage for a batch: proposals per image ([N·5] rows x1,y1,x2,y2,score, network-input
   * coordinates) → RoIAlign (host) → box head (device) → detections per image (host).
   */
  *bboxSteps(
    feats: readonly HostFeatureMap[],
    proposals: readonly Float32Array[],
    metas: readonly ImageMeta[],
    cfg: RCNNTestConfig = RCNN_TEST_CFG,
    opts: { keepRoiFeats?: number } = {},
  ): Steps<BBoxStageResult> {
    const maps = this.#checkFeats('bboxSteps', feats);
    if (proposals.length !== metas.length)
      throw new InvalidArgumentError(`bboxSteps: ${proposals.length} proposal sets for ${metas.length} images`);
    const counts = proposals.map((p) => p.length / 5);
    const R = counts.reduce((a, b) => a + b, 0);
    const rois = new Float32Array(R * 5);
    let r = 0;
    proposals.forEach((p, b) => {
      for (let i = 0; i < p.length / 5; i++, r++) {
        rois[r * 5] = b;
        for (let k = 0; k < 4; k++) rois[r * 5 + 1 + k] = p[i * 5 + k]!;
      }
    });
    const S = this.bboxRoiSize;
    const { data, levels } = extractRoIFeatures(
      maps,
      this.config.featStrides,
      rois,
      S,
      'nchw',
      this.config.finestScale,
    );
    const n = this.config.numClasses;
    let clsScore: Float32Array = new Float32Array(0);
    let bboxPred: Float32Array = new Float32Array(0);
    if (R > 0) {
      const [c, g] = yield tf.tidy(() => {
        const { cls, reg } = this.bbox_head.forward(tf.tensor2d(data, [R, this.bbox_head.inFeatures]));
        return [cls, reg];
      });
      clsScore = c!;
      bboxPred = g!;
    }
    const detections = metas.map((meta, b) => {
      const start = counts.slice(0, b).reduce((a, x) => a + x, 0);
      const end = start + counts[b]!;
      const boxes = new Float32Array((end - start) * 4);
      for (let i = start; i < end; i++) for (let k = 0; k < 4; k++) boxes[(i - start) * 4 + k] = rois[i * 5 + 1 + k]!;
      return rcnnDetections(
        boxes,
        clsScore.subarray(start * (n + 1), end * (n + 1)),
        bboxPred.subarray(start * 4 * n, end * 4 * n),
        n,
        meta,
        cfg,
      );
    });
    const keep = Math.min(opts.keepRoiFeats ?? 0, R);
    return {
      rois,
      levels,
      clsScore,
      bboxPred,
      detections,
      ...(keep > 0 ? { roiFeats: data.slice(0, keep * this.config.inChannels * S * S) } : {}),
    };
  }

  /**
   * Mask stage for a batch: detections per image (original coordinates) → mask RoIs (× scale factor)
   * → RoIAlign 14×14 (host) → mask head (device) → class-specific probabilities → pasted masks.
   */
  *maskSteps(
    feats: readonly HostFeatureMap[],
    dets: readonly ImageDetections[],
    metas: readonly ImageMeta[],
    cfg: RCNNTestConfig = RCNN_TEST_CFG,
    opts: { keepMaskLogits?: number } = {},
  ): Steps<MaskStageResult> {
    const head = this.mask_head;
    if (!head) throw new InvalidArgumentError('maskSteps: this RoI head has no mask head');
    const maps = this.#checkFeats('maskSteps', feats);
    if (dets.length !== metas.length)
      throw new InvalidArgumentError(`maskSteps: ${dets.length} detection sets for ${metas.length} images`);
    const counts = dets.map((d) => d.labels.length);
    const K = counts.reduce((a, b) => a + b, 0);
    const n = this.config.numClasses;
    const S = this.maskRoiSize * 2;
    // mask RoIs in network-input coordinates (det × scale factor), and the paste boxes (÷ again)
    const rois = new Float32Array(K * 5);
    const pasteBoxes: Float32Array[] = [];
    let r = 0;
    dets.forEach((d, b) => {
      const sf = metas[b]!.scaleFactor;
      const scaled = multiplyBoxes(d.bboxes, sf, 5);
      const back = new Float32Array(scaled.length);
      for (let i = 0; i < scaled.length; i++) back[i] = f32(scaled[i]! / f32(sf[i % 4]!));
      pasteBoxes.push(back);
      for (let i = 0; i < d.labels.length; i++, r++) {
        rois[r * 5] = b;
        rois.set(scaled.subarray(i * 4, i * 4 + 4), r * 5 + 1);
      }
    });
    const { data, levels } = extractRoIFeatures(
      maps,
      this.config.featStrides,
      rois,
      this.maskRoiSize,
      'nhwc',
      this.config.finestScale,
    );
    const labels = new Int32Array(K);
    let o = 0;
    for (const d of dets) for (const l of d.labels) labels[o++] = l;
    const keepPer = counts.map((c) => Math.min(opts.keepMaskLogits ?? 0, c));
    let selected: Float32Array = new Float32Array(0);
    let logitsAll: Float32Array[] = [];
    if (K > 0) {
      const host = yield tf.tidy(() => {
        const logits = head.forward(tf.tensor4d(data, [K, this.maskRoiSize, this.maskRoiSize, this.config.inChannels])); // [K,S,S,n]
        const nchw = tf.transpose(logits, [0, 3, 1, 2]); // [K,n,S,S]
        const rows = tf.reshape(nchw, [K * n, S * S]);
        const idx = tf.tensor1d(
          Int32Array.from(labels, (l, k) => k * n + l),
          'int32',
        );
        const out: tf.Tensor[] = [tf.gather(rows, idx)];
        let start = 0;
        counts.forEach((c, b) => {
          if (keepPer[b]! > 0) out.push(tf.slice(nchw, [start, 0, 0, 0], [keepPer[b]!, n, S, S]));
          start += c;
        });
        return out;
      });
      selected = host[0]!;
      logitsAll = host.slice(1);
    }
    const probs: Float32Array[] = [];
    const masks: Uint8Array[][] = [];
    const logits: Float32Array[] = [];
    let start = 0;
    let li = 0;
    counts.forEach((c, b) => {
      const p = new Float32Array(c * S * S);
      for (let i = 0; i < p.length; i++) p[i] = sigmoid32(selected[start * S * S + i]!);
      probs.push(p);
      const [h, w] = metas[b]!.oriShape;
      masks.push(
        Array.from({ length: c }, (_, k) =>
          pasteMask(p, k * S * S, S, pasteBoxes[b]!.subarray(k * 4, k * 4 + 4), h, w, cfg.maskThrBinary),
        ),
      );
      logits.push(keepPer[b]! > 0 ? logitsAll[li++]! : new Float32Array(0));
      start += c;
    });
    return { levels, probs, masks, ...(opts.keepMaskLogits ? { logits } : {}) };
  }
}
