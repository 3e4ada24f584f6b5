/**
 * Dense-prediction heads as the papers used them (mmdetection 2.x / mmsegmentation 0.x): FPN neck,
 * Semantic FPN, UperNet (+ FCN auxiliary head), Mask R-CNN and RetinaNet. They see backbones only
 * through the feature-pyramid contract (`featureInfo`). Parameter counts below are the official mm*
 * modules instantiated for the papers' configs (heads only, backbone excluded).
 */
import {
  type CreateModelOptions,
  configReader,
  InvalidArgumentError,
  type ModelFamily,
  type OfficialConfig,
  type ReferenceMetadata,
  referenceJson,
  UnknownModelError,
  type Variant,
} from '@dynavit/core';
import { type DetHeadKind, type DetectionHead, detectionHeadFromConfig } from './detector.js';
import { type SegHeadKind, SegmentationHead } from './segmentor.js';

/** Head configuration as the official mm* config gives it (our golden metadata uses the same keys). */
export type HeadOfficialConfig = OfficialConfig;

export const variants = {
  maskrcnn_coco: {
    kind: 'head',
    params: 20_151_024,
    source: 'Mask R-CNN 1x COCO, DeBiFormer / BiFormer neck (P6 = max_pool(P5,1,stride 2))',
    config: {
      in_channels: [64, 128, 256, 512],
      fpn_channels: 256,
      num_outs: 5,
      start_level: 0,
      add_extra_convs: false,
      rpn_feat_channels: 256,
      anchor_scales: [8],
      anchor_ratios: [0.5, 1.0, 2.0],
      anchor_strides: [4, 8, 16, 32, 64],
      roi_strides: [4, 8, 16, 32],
      fc_out_channels: 1024,
      mask_channels: 256,
      num_classes: 80,
      test_cfg: {
        rpn: { nms_pre: 1000, max_per_img: 1000, iou_threshold: 0.7, min_bbox_size: 0 },
        rcnn: { score_thr: 0.05, iou_threshold: 0.5, max_per_img: 100, mask_thr_binary: 0.5 },
      },
    },
  },
  maskrcnn_coco_dat: {
    kind: 'head',
    params: 21_330_928,
    source:
      'Mask R-CNN COCO, DAT-Detection neck ' +
      '(add_extra_convs=on_input: P6 = conv3x3 s2 on C5 -> extra key neck.fpn_convs.4)',
    config: {
      in_channels: [64, 128, 256, 512],
      fpn_channels: 256,
      num_outs: 5,
      start_level: 0,
      add_extra_convs: 'on_input',
      rpn_feat_channels: 256,
      anchor_scales: [8],
      anchor_ratios: [0.5, 1.0, 2.0],
      anchor_strides: [4, 8, 16, 32, 64],
      roi_strides: [4, 8, 16, 32],
      fc_out_channels: 1024,
      mask_channels: 256,
      num_classes: 80,
      test_cfg: {
        rpn: { nms_pre: 1000, max_per_img: 1000, iou_threshold: 0.7, min_bbox_size: 0 },
        rcnn: { score_thr: 0.05, iou_threshold: 0.5, max_per_img: 100, mask_thr_binary: 0.5 },
      },
    },
  },
  retinanet_coco_dat: {
    kind: 'head',
    params: 10_233_588,
    source: 'RetinaNet COCO as in DAT-Detection / BiFormer (FPN start_level 1, add_extra_convs on_input)',
    config: {
      in_channels: [64, 128, 256, 512],
      fpn_channels: 256,
      num_outs: 5,
      feat_channels: 256,
      stacked_convs: 4,
      num_classes: 80,
      octave_base_scale: 4,
      scales_per_octave: 3,
      anchor_ratios: [0.5, 1.0, 2.0],
      anchor_strides: [8, 16, 32, 64, 128],
      test_cfg: { nms_pre: 1000, min_bbox_size: 0, score_thr: 0.05, iou_threshold: 0.5, max_per_img: 100 },
      start_level: 1,
      add_extra_convs: 'on_input',
    },
  },
  retinanet_coco_debi: {
    kind: 'head',
    params: 9_070_324,
    source:
      'RetinaNet 1x COCO as in DeBiFormer configs ' +
      '(FPN start_level 0, no extra convs, anchor strides 8..128 on P2..P6 outputs)',
    config: {
      in_channels: [64, 128, 256, 512],
      fpn_channels: 256,
      num_outs: 5,
      feat_channels: 256,
      stacked_convs: 4,
      num_classes: 80,
      octave_base_scale: 4,
      scales_per_octave: 3,
      anchor_ratios: [0.5, 1.0, 2.0],
      anchor_strides: [8, 16, 32, 64, 128],
      test_cfg: { nms_pre: 1000, min_bbox_size: 0, score_thr: 0.05, iou_threshold: 0.5, max_per_img: 100 },
      start_level: 0,
      add_extra_convs: false,
    },
  },
  semfpn_ade20k: {
    kind: 'head',
    params: 4_250_262,
    source:
      'Semantic FPN 80k ADE20K (DeBiFormer fpn_512_*, DAT fpn_*); keys = neck.*, decode_head.* ' +
      '(checkpoint also has backbone.*)',
    config: { in_channels: [64, 128, 256, 512], neck_channels: 256, channels: 128, num_classes: 150 },
  },
  upernet_ade20k: {
    kind: 'head',
    params: 30_307_628,
    source:
      'UperNet 160k ADE20K (DeBiFormer upernet_512_*, DAT upn_*); keys = decode_head.*, auxiliary_head.* ' +
      '(aux head only used in training but present in checkpoints)',
    config: {
      in_channels: [64, 128, 256, 512],
      channels: 512,
      num_classes: 150,
      aux_channels: 256,
      aux_in_index: 2,
      pool_scales: [1, 2, 3, 6],
    },
  },
} satisfies Record<string, Variant<HeadOfficialConfig>>;

export type HeadVariantName = keyof typeof variants;

/** Which head a config describes (`headType` of the head it builds). */
export type HeadType = SegHeadKind | DetHeadKind;

/** A head this package builds: the model of kind 'head' the `heads` family returns. */
export type HeadModel = SegmentationHead | DetectionHead;

const WHAT = 'heads config';

/** Which head a config describes (the golden/official configs differ in their keys). */
export function headTypeOf(cfg: HeadOfficialConfig): HeadType {
  if ('pool_scales' in cfg) return 'upernet';
  if ('rpn_feat_channels' in cfg) return 'mask_rcnn';
  if ('stacked_convs' in cfg) return 'retinanet';
  if ('neck_channels' in cfg || 'channels' in cfg) return 'semantic_fpn';
  throw new InvalidArgumentError(`${WHAT}: cannot tell which head ${JSON.stringify(cfg)} describes`);
}

/** A segmentation head built from an official config (backbone strides 4, 8, 16, 32, …). */
export function segmentationHeadFromConfig(cfg: HeadOfficialConfig): SegmentationHead {
  const c = configReader(WHAT, cfg);
  const inChannels = c.numbers('in_channels');
  const strides = inChannels.map((_, i) => 4 << i);
  const kind = headTypeOf(cfg);
  if (kind === 'semantic_fpn')
    return new SegmentationHead(inChannels, strides, {
      kind,
      numClasses: c.num('num_classes'),
      channels: c.num('channels', 128),
      neckChannels: c.num('neck_channels', 256),
    });
  if (kind === 'upernet')
    return new SegmentationHead(inChannels, strides, {
      kind,
      numClasses: c.num('num_classes'),
      channels: c.num('channels', 512),
      auxChannels: c.num('aux_channels', 256),
      auxInIndex: c.num('aux_in_index', 2),
      poolScales: c.numbers('pool_scales'),
    });
  throw new InvalidArgumentError(`${WHAT} describes a ${kind} head, not a segmentation head`);
}

/** The head (segmentation or detection) an official config describes, for backbone channels `in_channels`. */
export function headFromConfig(cfg: HeadOfficialConfig): HeadModel {
  if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg))
    throw new InvalidArgumentError(`${WHAT} must be an object of the official kwargs, got ${JSON.stringify(cfg)}`);
  const type = headTypeOf(cfg);
  return type === 'mask_rcnn' || type === 'retinanet' ? detectionHeadFromConfig(cfg) : segmentationHeadFromConfig(cfg);
}

const isCount = (n: number) => Number.isInteger(n) && n > 0;

/** An official config with `createModel`'s overrides: the backbone's channels and the number of classes. */
function withOverrides(cfg: HeadOfficialConfig, { inChannels, numClasses }: CreateModelOptions): HeadOfficialConfig {
  if (inChannels !== undefined && (inChannels.length === 0 || !inChannels.every(isCount)))
    throw new InvalidArgumentError(`heads: inChannels must be positive integers, got [${inChannels.join(', ')}]`);
  if (numClasses !== undefined && !isCount(numClasses))
    throw new InvalidArgumentError(`heads: numClasses must be a positive integer, got ${numClasses}`);
  return {
    ...cfg,
    ...(inChannels !== undefined && { in_channels: [...inChannels] }),
    ...(numClasses !== undefined && { num_classes: numClasses }),
  };
}

/**
 * The `heads` family: `create` and `fromReference` build the head alone (kind 'head'; compose it
 * with a backbone through `createSegmentor` / `createDetector`, or feed it `forwardFeatures` maps).
 */
export interface HeadsFamily extends ModelFamily<HeadOfficialConfig, HeadVariantName> {
  /**
   * The variant's official head; `inChannels` (a backbone's `featureInfo` channels, finest first)
   * and `numClasses` override the config's `in_channels` / `num_classes`.
   */
  create(name: HeadVariantName, options?: CreateModelOptions): HeadModel;
  /** The head `metadata.config` (official kwargs as JSON) describes. */
  fromReference(metadata: ReferenceMetadata): HeadModel;
}

export const heads: HeadsFamily = {
  name: 'heads',
  packageName: '@dynavit/heads',
  references: ['open-mmlab/mmdetection', 'open-mmlab/mmsegmentation'],
  variants,
  create(name, options = {}) {
    if (!Object.hasOwn(variants, name)) throw new UnknownModelError(name, Object.keys(variants));
    return headFromConfig(withOverrides(variants[name].config, options));
  },
  fromReference(metadata) {
    return headFromConfig(referenceJson<HeadOfficialConfig>(metadata, 'config', 'heads'));
  },
};
