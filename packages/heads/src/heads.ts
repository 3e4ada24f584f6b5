/**
 * Dense-prediction heads as the papers used them (mmdetection 2.x / mmsegmentation 0.x): FPN neck,
 * Semantic FPN, UperNet (+ FCN auxiliary head), Mask R-CNN and RetinaNet. They see backbones only
 * through the feature-pyramid contract (`featureInfo`). Parameter counts below are the official mm*
 * modules instantiated for the papers' configs (heads only, backbone excluded).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type ModelFamily, type ParityModel, resizeBilinear, type Variant } from '@dynavit/core';
import { detectionParityModel } from './det-parity.js';
import { SegmentationHead } from './segmentor.js';

/** Head configuration as the official mm* config gives it (our golden metadata uses the same keys). */
export type HeadOfficialConfig = Readonly<Record<string, unknown>>;

export const variants = {
  maskrcnn_coco: {
    kind: 'head',
    params: 20_151_024,
    source: "Mask R-CNN 1x COCO, DeBiFormer / BiFormer neck (P6 = max_pool(P5,1,stride 2))",
    config: {"in_channels": [64, 128, 256, 512], "fpn_channels": 256, "num_outs": 5, "start_level": 0, "add_extra_convs": false, "rpn_feat_channels": 256, "anchor_scales": [8], "anchor_ratios": [0.5, 1.0, 2.0], "anchor_strides": [4, 8, 16, 32, 64], "roi_strides": [4, 8, 16, 32], "fc_out_channels": 1024, "mask_channels": 256, "num_classes": 80, "test_cfg": {"rpn": {"nms_pre": 1000, "max_per_img": 1000, "iou_threshold": 0.7, "min_bbox_size": 0}, "rcnn": {"score_thr": 0.05, "iou_threshold": 0.5, "max_per_img": 100, "mask_thr_binary": 0.5}}},
  },
  maskrcnn_coco_dat: {
    kind: 'head',
    params: 21_330_928,
    source: "Mask R-CNN COCO, DAT-Detection neck (add_extra_convs=on_input: P6 = conv3x3 s2 on C5 -> extra key neck.fpn_convs.4)",
    config: {"in_channels": [64, 128, 256, 512], "fpn_channels": 256, "num_outs": 5, "start_level": 0, "add_extra_convs": "on_input", "rpn_feat_channels": 256, "anchor_scales": [8], "anchor_ratios": [0.5, 1.0, 2.0], "anchor_strides": [4, 8, 16, 32, 64], "roi_strides": [4, 8, 16, 32], "fc_out_channels": 1024, "mask_channels": 256, "num_classes": 80, "test_cfg": {"rpn": {"nms_pre": 1000, "max_per_img": 1000, "iou_threshold": 0.7, "min_bbox_size": 0}, "rcnn": {"score_thr": 0.05, "iou_threshold": 0.5, "max_per_img": 100, "mask_thr_binary": 0.5}}},
  },
  retinanet_coco_dat: {
    kind: 'head',
    params: 10_233_588,
    source: "RetinaNet COCO as in DAT-Detection / BiFormer (FPN start_level 1, add_extra_convs on_input)",
    config: {"in_channels": [64, 128, 256, 512], "fpn_channels": 256, "num_outs": 5, "feat_channels": 256, "stacked_convs": 4, "num_classes": 80, "octave_base_scale": 4, "scales_per_octave": 3, "anchor_ratios": [0.5, 1.0, 2.0], "anchor_strides": [8, 16, 32, 64, 128], "test_cfg": {"nms_pre": 1000, "min_bbox_size": 0, "score_thr": 0.05, "iou_threshold": 0.5, "max_per_img": 100}, "start_level": 1, "add_extra_convs": "on_input"},
  },
  retinanet_coco_debi: {
    kind: 'head',
    params: 9_070_324,
    source: "RetinaNet 1x COCO as in DeBiFormer configs (FPN start_level 0, no extra convs, anchor strides 8..128 on P2..P6 outputs)",
    config: {"in_channels": [64, 128, 256, 512], "fpn_channels": 256, "num_outs": 5, "feat_channels": 256, "stacked_convs": 4, "num_classes": 80, "octave_base_scale": 4, "scales_per_octave": 3, "anchor_ratios": [0.5, 1.0, 2.0], "anchor_strides": [8, 16, 32, 64, 128], "test_cfg": {"nms_pre": 1000, "min_bbox_size": 0, "score_thr": 0.05, "iou_threshold": 0.5, "max_per_img": 100}, "start_level": 0, "add_extra_convs": false},
  },
  semfpn_ade20k: {
    kind: 'head',
    params: 4_250_262,
    source: "Semantic FPN 80k ADE20K (DeBiFormer fpn_512_*, DAT fpn_*); keys = neck.*, decode_head.* (checkpoint also has backbone.*)",
    config: {"in_channels": [64, 128, 256, 512], "neck_channels": 256, "channels": 128, "num_classes": 150},
  },
  upernet_ade20k: {
    kind: 'head',
    params: 30_307_628,
    source: "UperNet 160k ADE20K (DeBiFormer upernet_512_*, DAT upn_*); keys = decode_head.*, auxiliary_head.* (aux head only used in training but present in checkpoints)",
    config: {"in_channels": [64, 128, 256, 512], "channels": 512, "num_classes": 150, "aux_channels": 256, "aux_in_index": 2, "pool_scales": [1, 2, 3, 6]},
  },
} satisfies Record<string, Variant<HeadOfficialConfig>>;

export type HeadVariantName = keyof typeof variants;

const nums = (cfg: HeadOfficialConfig, key: string): number[] => {
  const v = cfg[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new InvalidArgumentError(`heads config: "${key}" must be a list of numbers, got ${JSON.stringify(v)}`);
  return v as number[];
};
const num = (cfg: HeadOfficialConfig, key: string, fallback?: number): number => {
  const v = cfg[key] ?? fallback;
  if (typeof v !== 'number') throw new InvalidArgumentError(`heads config: "${key}" must be a number, got ${JSON.stringify(v)}`);
  return v;
};

/** Which head a config describes (the golden/official configs differ in their keys). */
export function headKind(cfg: HeadOfficialConfig): 'semantic_fpn' | 'upernet' | 'mask_rcnn' | 'retinanet' {
  if ('pool_scales' in cfg) return 'upernet';
  if ('rpn_feat_channels' in cfg) return 'mask_rcnn';
  if ('stacked_convs' in cfg) return 'retinanet';
  if ('neck_channels' in cfg || 'channels' in cfg) return 'semantic_fpn';
  throw new InvalidArgumentError(`heads config: cannot tell which head ${JSON.stringify(cfg)} describes`);
}

/** A segmentation head built from an official config (backbone strides 4, 8, 16, 32). */
export function segmentationHeadFromConfig(cfg: HeadOfficialConfig): SegmentationHead {
  const inChannels = nums(cfg, 'in_channels');
  const strides = inChannels.map((_, i) => 4 << i);
  const kind = headKind(cfg);
  if (kind === 'semantic_fpn')
    return new SegmentationHead(inChannels, strides, { kind, numClasses: num(cfg, 'num_classes'), channels: num(cfg, 'channels', 128), neckChannels: num(cfg, 'neck_channels', 256) });
  if (kind === 'upernet')
    return new SegmentationHead(inChannels, strides, {
      kind,
      numClasses: num(cfg, 'num_classes'),
      channels: num(cfg, 'channels', 512),
      auxChannels: num(cfg, 'aux_channels', 256),
      auxInIndex: num(cfg, 'aux_in_index', 2),
      poolScales: nums(cfg, 'pool_scales'),
    });
  throw new InvalidArgumentError(`heads config describes a ${kind} head, not a segmentation head`);
}

const nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
const jsonMeta = <T>(md: Readonly<Record<string, string>>, key: string): T => {
  const v = md[key];
  if (v === undefined) throw new InvalidArgumentError(`golden io metadata lacks "${key}"`);
  return JSON.parse(v) as T;
};

/**
 * Golden cases feed the backbone features `input.0..3` (NCHW) to the head alone. Detection heads
 * produce every non-debug golden output and compare proposals / detections as sets (det-parity.ts).
 */
export function headsFromReference(metadata: Readonly<Record<string, string>>): ParityModel {
  const cfg = JSON.parse(metadata['config'] ?? '{}') as HeadOfficialConfig;
  const kind = headKind(cfg);
  if (kind === 'mask_rcnn' || kind === 'retinanet') return detectionParityModel(cfg);
  const head = segmentationHeadFromConfig(cfg);
  return {
    model: head,
    run: (inputs, io) =>
      tf.tidy(() => {
        const feats = Object.keys(inputs)
          .filter((k) => k.startsWith('input.'))
          .sort()
          .map((k) => nhwc(inputs[k]!));
        const outs: Record<string, tf.Tensor> = {};
        let logits: tf.Tensor4D;
        if (head.neck) {
          const neck = head.neck.forward(feats);
          for (const [i, n] of neck.entries()) outs[`neck.${i}`] = nchw(n);
          logits = head.decode_head.forward(neck);
        } else {
          logits = head.decode_head.forward(feats);
          if (head.auxiliary_head) outs['aux_logits'] = nchw(head.auxiliary_head.forward(feats));
        }
        outs['logits'] = nchw(logits);
        const seg = resizeBilinear(resizeBilinear(logits, jsonMeta<[number, number]>(io, 'img_hw')), jsonMeta<[number, number]>(io, 'ori_hw'));
        outs['seg_logit'] = nchw(seg);
        outs['seg_pred'] = tf.argMax(seg, 3);
        return outs;
      }),
  };
}

export const heads: ModelFamily<HeadOfficialConfig, HeadVariantName> = {
  name: 'heads',
  packageName: '@dynavit/heads',
  references: ['open-mmlab/mmdetection', 'open-mmlab/mmsegmentation'],
  implemented: true,
  variants,
  create(name) {
    throw new InvalidArgumentError(`"${name}" is a head: compose it with a backbone through createSegmentor / createDetector`);
  },
  fromReference: headsFromReference,
};
