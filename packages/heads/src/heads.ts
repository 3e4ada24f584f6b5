/**
 * Dense-prediction heads as the papers used them (mmdetection 2.x / mmsegmentation 0.x): Semantic FPN,
 * UperNet, Mask R-CNN, RetinaNet. They see backbones only through the feature-pyramid contract.
 *
 * This file currently declares the released head configurations (parameter counts measured by
 * instantiating the official mm* code); the heads themselves land with the heads issue.
 */
import { declaredFamily, type ModelFamily, type Variant } from '@dynavit/core';

/** Head configuration as the official mm* config gives it. */
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

export const heads: ModelFamily<HeadOfficialConfig, HeadVariantName> = declaredFamily<HeadOfficialConfig, HeadVariantName>({
  name: 'heads',
  packageName: '@dynavit/heads',
  references: ['open-mmlab/mmdetection', 'open-mmlab/mmsegmentation'],
  variants,
});
