/**
 * mmsegmentation / mmdetection checkpoints: which registered head a file holds, read from its keys and
 * shapes alone, and the split of its state dict into the backbone's part (`backbone.` stripped) and the
 * head's part (neck, decode/auxiliary heads, RPN, RoI heads, as the head modules name them).
 *
 * | keys present                                   | head                                       |
 * |------------------------------------------------|--------------------------------------------|
 * | `decode_head.psp_modules.*`                    | `upernet_ade20k` (UperNet, + auxiliary FCN) |
 * | `decode_head.scale_heads.*`                    | `semfpn_ade20k` (Semantic FPN)              |
 * | `roi_head.mask_head.*`, `neck.fpn_convs.4.*`   | `maskrcnn_coco_dat` (P6 = conv on C5)       |
 * | `roi_head.mask_head.*`                         | `maskrcnn_coco` (P6 = max-pool of P5)        |
 * | `bbox_head.retina_cls.*`, `neck.lateral_convs.3.*` | `retinanet_coco_debi` (FPN from C2)     |
 * | `bbox_head.retina_cls.*`                       | `retinanet_coco_dat` (FPN from C3, extra convs) |
 *
 * The number of classes comes from the classifier's shape (`conv_seg` rows; `fc_cls` rows − 1 for the
 * background; `retina_cls` rows / anchors per position).
 */
import { CheckpointError, type StateDict } from '@dynavit/core';
import { type HeadVariantName, variants } from './heads.js';

export interface CheckpointHead {
  /** the registered head the file's head keys belong to */
  head: HeadVariantName;
  /** classes of the file's classifier */
  numClasses: number;
  /** the mmseg/mmdet model type, for messages ("UperNet", "Mask R-CNN", …) */
  description: string;
}

const rows = (sd: StateDict, key: string): number | undefined => sd.get(key)?.shape[0];
const hasPrefix = (sd: StateDict, prefix: string): boolean => {
  for (const k of sd.keys()) if (k.startsWith(prefix)) return true;
  return false;
};

/**
 * The head an mmseg/mmdet state dict holds, or null when it has no head keys (a classification or
 * bare backbone file). A file with head keys that fit no registered head is a `CheckpointError`.
 */
export function headForCheckpoint(sd: StateDict): CheckpointHead | null {
  if (hasPrefix(sd, 'decode_head.')) {
    const classes = rows(sd, 'decode_head.conv_seg.weight');
    if (classes === undefined)
      throw new CheckpointError('the checkpoint has decode_head.* keys but no decode_head.conv_seg.weight');
    if (hasPrefix(sd, 'decode_head.psp_modules.'))
      return { head: 'upernet_ade20k', numClasses: classes, description: 'UperNet (mmseg)' };
    if (hasPrefix(sd, 'decode_head.scale_heads.'))
      return { head: 'semfpn_ade20k', numClasses: classes, description: 'Semantic FPN (mmseg)' };
    throw new CheckpointError(
      'the checkpoint has a decode head that is neither UperNet (decode_head.psp_modules) nor Semantic FPN (decode_head.scale_heads)',
    );
  }
  if (hasPrefix(sd, 'roi_head.')) {
    if (!hasPrefix(sd, 'roi_head.mask_head.'))
      throw new CheckpointError(
        'the checkpoint has an RoI head without a mask head (Faster R-CNN or Cascade R-CNN): only Mask R-CNN is supported',
      );
    if (hasPrefix(sd, 'roi_head.bbox_head.0.') || hasPrefix(sd, 'roi_head.bbox_head.1.'))
      throw new CheckpointError('the checkpoint is a Cascade Mask R-CNN (roi_head.bbox_head.0/1/2): not supported');
    const cls = rows(sd, 'roi_head.bbox_head.fc_cls.weight');
    if (cls === undefined)
      throw new CheckpointError('the Mask R-CNN checkpoint has no roi_head.bbox_head.fc_cls.weight');
    const head: HeadVariantName = sd.has('neck.fpn_convs.4.conv.weight') ? 'maskrcnn_coco_dat' : 'maskrcnn_coco';
    return { head, numClasses: cls - 1, description: 'Mask R-CNN (mmdet)' };
  }
  if (hasPrefix(sd, 'bbox_head.')) {
    const cls = rows(sd, 'bbox_head.retina_cls.weight');
    if (cls === undefined)
      throw new CheckpointError('the checkpoint has a bbox_head without retina_cls: only RetinaNet is supported');
    const head: HeadVariantName = sd.has('neck.lateral_convs.3.conv.weight')
      ? 'retinanet_coco_debi'
      : 'retinanet_coco_dat';
    const cfg = variants[head].config;
    const anchors = cfg.scales_per_octave * cfg.anchor_ratios.length;
    if (cls % anchors !== 0)
      throw new CheckpointError(
        `bbox_head.retina_cls.weight has ${cls} rows, not a multiple of the ${anchors} anchors per position`,
      );
    return { head, numClasses: cls / anchors, description: 'RetinaNet (mmdet)' };
  }
  return null;
}

/** Whether a state dict is an mmseg/mmdet composition (its backbone under `backbone.`). */
export function isDenseCheckpoint(sd: StateDict): boolean {
  return hasPrefix(sd, 'backbone.');
}

/** An mmseg/mmdet state dict split into the backbone's tensors (`backbone.` stripped) and the rest (neck and heads). */
export function splitDenseCheckpoint(sd: StateDict): { backbone: StateDict; head: StateDict } {
  const backbone: StateDict = new Map();
  const head: StateDict = new Map();
  for (const [k, t] of sd) {
    if (k.startsWith('backbone.')) backbone.set(k.slice('backbone.'.length), t);
    else head.set(k, t);
  }
  return { backbone, head };
}
