/**
 * Mask R-CNN (He et al., ICCV 2017) head part as mmdet 2.x tests it (`TwoStageDetector.simple_test`,
 * rescale=True; heads.md §1.3, §6): FPN neck (P6 by subsampling, or DAT's 'on_input' conv), RPN with
 * per-level proposal selection and NMS, RoI box head and FCN mask head. Module tree `neck`,
 * `rpn_head`, `roi_head` (mmdet keys). The pipeline is staged so each stage can be fed from outside
 * (e.g. golden proposals into the RoI heads).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '@dynavit/core';
import { type DetectionNeckConfig, FPNDetectionHead, NUM_NECK_OUTS } from './detection-head.js';
import { readMaps } from './host.js';
import type { HostFeatureMap } from './roi-align.js';
import {
  type BBoxStageResult,
  type ImageDetections,
  type ImageMeta,
  type MaskStageResult,
  RCNN_TEST_CFG,
  type RCNNTestConfig,
  StandardRoIHead,
} from './roi-heads.js';
import { type DenseOutputs, RPN_TEST_CFG, RPNHead, type RPNTestConfig, rpnProposals } from './rpn-head.js';
import type { Steps } from './steps.js';

export interface MaskRCNNConfig extends DetectionNeckConfig {
  rpnFeatChannels?: number;
  anchorScales?: readonly number[];
  anchorRatios?: readonly number[];
  /** one per neck output (4, 8, 16, 32, 64) */
  anchorStrides?: readonly number[];
  /** strides of the neck outputs the RoIs are pooled from (4, 8, 16, 32) */
  roiStrides?: readonly number[];
  fcOutChannels?: number;
  /** 0 = no mask head */
  maskChannels?: number;
  numClasses?: number;
  testCfg?: { rpn?: Partial<RPNTestConfig>; rcnn?: Partial<RCNNTestConfig> };
}

export interface MaskRCNNOutput {
  /** per image, original-image coordinates */
  detections: Array<ImageDetections & { numCandidates: number }>;
  /** per image, one binary mask [h·w] per detection at the original size (empty without mask head) */
  masks: Uint8Array[][];
  /** NHWC neck outputs read back (P2..P5; all levels when traced) */
  neck: HostFeatureMap[];
  rpnCls: HostFeatureMap[];
  rpnReg: HostFeatureMap[];
  /** per image [N·5] (x1, y1, x2, y2, score), network-input coordinates */
  proposals: Float32Array[];
  bbox: BBoxStageResult;
  mask: MaskStageResult | null;
}

export interface MaskRCNNTestOptions {
  /** read every neck level back (for parity) */
  trace?: boolean;
  /** keep the pooled features of the first k RoIs (golden `debug.bbox_roi_feats`) */
  keepRoiFeats?: number;
  /** keep all-class mask logits of the first k detections per image (golden `mask_pred`) */
  keepMaskLogits?: number;
}

/** The head part of a Mask R-CNN detector: `neck`, `rpn_head`, `roi_head` (mmdet keys). */
export class MaskRCNNHead extends FPNDetectionHead {
  readonly headType = 'mask_rcnn' as const;
  readonly rpn_head: RPNHead;
  readonly roi_head: StandardRoIHead;
  readonly rpnCfg: RPNTestConfig;
  readonly rcnnCfg: RCNNTestConfig;
  readonly roiStrides: readonly number[];
  constructor(readonly config: MaskRCNNConfig) {
    const roiStrides = config.roiStrides ?? [4, 8, 16, 32];
    const numOuts = config.numOuts ?? NUM_NECK_OUTS;
    if (roiStrides.length > numOuts)
      throw new InvalidArgumentError(`Mask R-CNN: ${roiStrides.length} RoI levels but only ${numOuts} neck outputs`);
    super(
      'Mask R-CNN',
      config,
      { startLevel: 0, addExtraConvs: false },
      {
        strides: config.anchorStrides ?? [4, 8, 16, 32, 64],
        ratios: config.anchorRatios ?? [0.5, 1, 2],
        scales: config.anchorScales ?? [8],
      },
      config.numClasses ?? 80,
    );
    this.roiStrides = roiStrides;
    const F = this.fpnChannels;
    this.rpn_head = this.child('rpn_head', new RPNHead(F, config.rpnFeatChannels ?? 256, this.anchors.numAnchors));
    this.roi_head = this.child(
      'roi_head',
      new StandardRoIHead({
        inChannels: F,
        featStrides: this.roiStrides,
        numClasses: this.numClasses,
        fcOutChannels: config.fcOutChannels ?? 1024,
        maskChannels: config.maskChannels ?? 256,
      }),
    );
    this.rpnCfg = { ...RPN_TEST_CFG, ...config.testCfg?.rpn };
    this.rcnnCfg = { ...RCNN_TEST_CFG, ...config.testCfg?.rcnn };
  }

  protected denseForward(neck: readonly tf.Tensor4D[]): DenseOutputs {
    return this.rpn_head.forward(neck);
  }

  /** RPN stage on host outputs: proposals per image. */
  proposals(
    rpnCls: readonly HostFeatureMap[],
    rpnReg: readonly HostFeatureMap[],
    metas: readonly ImageMeta[],
  ): Float32Array[] {
    return metas.map((m, b) => rpnProposals(rpnCls, rpnReg, b, this.anchors, m.imgShape, this.rpnCfg));
  }

  /** RoI stages from given neck maps (host) and proposals: boxes, then masks of the detections. */
  *roiSteps(
    neck: readonly HostFeatureMap[],
    proposals: readonly Float32Array[],
    metas: readonly ImageMeta[],
    opts: MaskRCNNTestOptions = {},
  ): Steps<{ bbox: BBoxStageResult; mask: MaskStageResult | null }> {
    const bbox = yield* this.roi_head.bboxSteps(neck, proposals, metas, this.rcnnCfg, opts);
    const mask = this.roi_head.mask_head
      ? yield* this.roi_head.maskSteps(neck, bbox.detections, metas, this.rcnnCfg, opts)
      : null;
    return { bbox, mask };
  }

  /** The whole test path for a batch of backbone maps. */
  *testSteps(
    feats: readonly tf.Tensor4D[],
    metas: readonly ImageMeta[],
    opts: MaskRCNNTestOptions = {},
  ): Steps<MaskRCNNOutput> {
    const out = this.forwardBatch(feats, metas);
    const nNeck = opts.trace ? out.neck.length : this.roiStrides.length;
    for (const t of out.neck.slice(nNeck)) t.dispose();
    const maps = yield* readMaps([...out.neck.slice(0, nNeck), ...out.cls, ...out.reg]);
    const L = out.cls.length;
    const neck = maps.slice(0, nNeck);
    const rpnCls = maps.slice(nNeck, nNeck + L);
    const rpnReg = maps.slice(nNeck + L);
    const proposals = this.proposals(rpnCls, rpnReg, metas);
    const { bbox, mask } = yield* this.roiSteps(neck, proposals, metas, opts);
    return {
      detections: bbox.detections,
      masks: mask ? mask.masks : metas.map(() => []),
      neck,
      rpnCls,
      rpnReg,
      proposals,
      bbox,
      mask,
    };
  }
}
