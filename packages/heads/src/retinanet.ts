/**
 * RetinaNet (Lin et al., ICCV 2017) test path as mmdet 2.x runs it (heads.md §1.4, §7): FPN neck
 * (DAT/BiFormer: C3..C5 + two stride-2 convs 'on_input'; DeBiFormer: P2..P6 with anchor strides
 * 8..128 as configured, never inferred from the map sizes), `RetinaHead` (4 × (3×3 conv + ReLU) per
 * branch, 3×3 `retina_cls` with 9·n sigmoid logits (channel a·n + c), `retina_reg` 9·4 deltas), and
 * `BaseDenseHead._get_bboxes_single`: per level keep (anchor, class) pairs with score > score_thr,
 * the `nms_pre` best, decode (stds 1) clipped to the unpadded image; then ÷ scale factor,
 * class-aware NMS (IoU > 0.5), first `max_per_img`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Module, ModuleList, ShapeError } from '@dynavit/core';
import type { AnchorGenerator } from './anchors.js';
import { decodeDelta, UNIT_CODER } from './bbox.js';
import { ConvModule } from './conv-module.js';
import { type DetectionNeckConfig, FPNDetectionHead } from './detection-head.js';
import { argsortDescending, nmsDetections, topKDescending } from './nms.js';
import type { ImageDetections, ImageMeta } from './roi-heads.js';
import type { HostFeatureMap } from './roi-align.js';
import { type DenseOutputs, sigmoid32 } from './rpn-head.js';
import type { Steps } from './steps.js';
import { readMaps } from './host.js';

const f32 = Math.fround;

export interface RetinaTestConfig {
  /** (anchor, class) pairs kept per level after the score filter (1000) */
  nmsPre: number;
  /** scores must be strictly above this (0.05) */
  scoreThr: number;
  iouThreshold: number;
  maxPerImg: number;
}

export const RETINA_TEST_CFG: RetinaTestConfig = { nmsPre: 1000, scoreThr: 0.05, iouThreshold: 0.5, maxPerImg: 100 };

export class RetinaHead extends Module {
  readonly cls_convs: ModuleList<ConvModule>;
  readonly reg_convs: ModuleList<ConvModule>;
  readonly retina_cls: Conv2d;
  readonly retina_reg: Conv2d;
  constructor(
    readonly inChannels: number,
    readonly featChannels: number,
    readonly numClasses: number,
    readonly numAnchors: number,
    stackedConvs = 4,
  ) {
    super();
    const tower = () =>
      new ModuleList(
        Array.from(
          { length: stackedConvs },
          (_, i) => new ConvModule(i === 0 ? inChannels : featChannels, featChannels, 3, { padding: 1, act: true }),
        ),
      );
    this.cls_convs = this.child('cls_convs', tower());
    this.reg_convs = this.child('reg_convs', tower());
    const last = stackedConvs > 0 ? featChannels : inChannels;
    this.retina_cls = this.child('retina_cls', new Conv2d(last, numAnchors * numClasses, 3, { padding: 1 }));
    this.retina_reg = this.child('retina_reg', new Conv2d(last, numAnchors * 4, 3, { padding: 1 }));
  }

  /** pyramid maps (NHWC) → class logits [B,H,W,A·n] and deltas [B,H,W,A·4] per level. */
  forward(feats: readonly tf.Tensor4D[]): DenseOutputs {
    return tf.tidy(() => {
      const cls: tf.Tensor4D[] = [];
      const reg: tf.Tensor4D[] = [];
      for (const [i, p] of feats.entries()) {
        if (p.rank !== 4 || p.shape[3] !== this.inChannels)
          throw new ShapeError('RetinaHead', `feats[${i}]`, `[B,H,W,${this.inChannels}]`, `[${p.shape.join(',')}]`);
        cls.push(this.retina_cls.forward(this.cls_convs.items.reduce((h, c) => c.forward(h), p)));
        reg.push(this.retina_reg.forward(this.reg_convs.items.reduce((h, c) => c.forward(h), p)));
      }
      return { cls, reg };
    });
  }
}

/**
 * Detections of batch image `b` from the RetinaNet outputs on the host: [K·5] (x1, y1, x2, y2, score)
 * in original-image coordinates and labels, descending score.
 */
export function retinaDetections(
  cls: readonly HostFeatureMap[],
  reg: readonly HostFeatureMap[],
  b: number,
  anchors: AnchorGenerator,
  numClasses: number,
  meta: Pick<ImageMeta, 'imgShape' | 'scaleFactor'>,
  cfg: RetinaTestConfig = RETINA_TEST_CFG,
): ImageDetections & { numCandidates: number } {
  const A = anchors.numAnchors;
  if (cls.length !== anchors.numLevels || reg.length !== anchors.numLevels)
    throw new ShapeError(
      'retinaDetections',
      'levels',
      `${anchors.numLevels} levels (one per anchor stride)`,
      `${cls.length} score / ${reg.length} delta maps`,
    );
  const thr = f32(cfg.scoreThr);
  // sigmoid(x) > thr only if x > logit(thr); a small margin keeps the exact float32 test authoritative
  const logitThr = Math.log(cfg.scoreThr / (1 - cfg.scoreThr)) - 1e-3;
  const sf = meta.scaleFactor.map(f32);
  const boxes: number[] = [];
  const scores: number[] = [];
  const labels: number[] = [];
  const box = new Float32Array(4);
  for (let l = 0; l < cls.length; l++) {
    const c = cls[l]!;
    const r = reg[l]!;
    if (c.channels !== A * numClasses || r.channels !== A * 4 || r.height !== c.height || r.width !== c.width)
      throw new ShapeError(
        'retinaDetections',
        `level ${l}`,
        `${A * numClasses} score and ${A * 4} delta channels on one grid`,
        `${c.channels} and ${r.channels}`,
      );
    const n = c.height * c.width * c.channels; // (anchor row, class) pairs, row-major
    const off = b * n;
    const idx: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < n; i++) {
      const x = c.data[off + i]!;
      if (!(x > logitThr)) continue;
      const s = sigmoid32(x);
      if (s > thr) {
        idx.push(i);
        val.push(s);
      }
    }
    const order = cfg.nmsPre > 0 ? topKDescending(val, cfg.nmsPre) : argsortDescending(val);
    const grid = anchors.gridAnchors(l, c.height, c.width);
    const roff = b * c.height * c.width * A * 4;
    for (const k of order) {
      const row = Math.floor(idx[k]! / numClasses);
      decodeDelta(grid, row * 4, r.data, roff + row * 4, UNIT_CODER, meta.imgShape, box, 0);
      for (let q = 0; q < 4; q++) boxes.push(f32(box[q]! / sf[q]!));
      scores.push(val[k]!);
      labels.push(idx[k]! % numClasses);
    }
  }
  return nmsDetections(boxes, scores, labels, cfg.iouThreshold, cfg.maxPerImg);
}

export interface RetinaNetConfig extends DetectionNeckConfig {
  featChannels?: number;
  stackedConvs?: number;
  numClasses?: number;
  octaveBaseScale?: number;
  scalesPerOctave?: number;
  anchorRatios?: readonly number[];
  /** one per neck output (8, 16, 32, 64, 128) */
  anchorStrides?: readonly number[];
  testCfg?: Partial<RetinaTestConfig>;
}

export interface RetinaNetOutput {
  /** per image, original-image coordinates */
  detections: Array<ImageDetections & { numCandidates: number }>;
  /** NHWC neck outputs (only read when traced) */
  neck: HostFeatureMap[];
  cls: HostFeatureMap[];
  reg: HostFeatureMap[];
}

/** The head part of a RetinaNet detector: `neck` + `bbox_head` (mmdet keys). */
export class RetinaNetHead extends FPNDetectionHead {
  readonly headType = 'retinanet' as const;
  readonly bbox_head: RetinaHead;
  readonly testCfg: RetinaTestConfig;
  constructor(readonly config: RetinaNetConfig) {
    super(
      'RetinaNet',
      config,
      { startLevel: 1, addExtraConvs: 'on_input' },
      {
        strides: config.anchorStrides ?? [8, 16, 32, 64, 128],
        ratios: config.anchorRatios ?? [0.5, 1, 2],
        octaveBaseScale: config.octaveBaseScale ?? 4,
        scalesPerOctave: config.scalesPerOctave ?? 3,
      },
      config.numClasses ?? 80,
    );
    const { featChannels = 256, stackedConvs = 4 } = config;
    const head = new RetinaHead(this.fpnChannels, featChannels, this.numClasses, this.anchors.numAnchors, stackedConvs);
    this.bbox_head = this.child('bbox_head', head);
    this.testCfg = { ...RETINA_TEST_CFG, ...config.testCfg };
  }

  protected denseForward(neck: readonly tf.Tensor4D[]): DenseOutputs {
    return this.bbox_head.forward(neck);
  }

  /** The whole test path for a batch; `trace` also reads the neck maps back. */
  *testSteps(
    feats: readonly tf.Tensor4D[],
    metas: readonly ImageMeta[],
    opts: { trace?: boolean } = {},
  ): Steps<RetinaNetOutput> {
    const out = this.forwardBatch(feats, metas);
    if (!opts.trace) tf.dispose(out.neck);
    const maps = yield* readMaps([...(opts.trace ? out.neck : []), ...out.cls, ...out.reg]);
    const L = out.cls.length;
    const neck = opts.trace ? maps.slice(0, L) : [];
    const cls = maps.slice(neck.length, neck.length + L);
    const reg = maps.slice(neck.length + L);
    const detections = metas.map((m, b) =>
      retinaDetections(cls, reg, b, this.anchors, this.numClasses, m, this.testCfg),
    );
    return { detections, neck, cls, reg };
  }
}
