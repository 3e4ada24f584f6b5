/**
 * `@dynavit/heads/testing` — parity of the heads against golden files of the official mm* code:
 * `headsParity`, the adapter core's parity harness needs for models of kind 'head'
 * (`runParity(new Registry([heads]), weights, io, { adapters: [headsParity] })` from
 * `@dynavit/core/testing`), and the detection checks (set matching, staged parity). Kept out of the
 * main entry so that applications never load it.
 */
import type { ParityAdapter } from '@dynavit/core/testing';
import { MaskRCNNHead } from '../mask-rcnn.js';
import { RetinaNetHead } from '../retinanet.js';
import { SegmentationHead } from '../segmentor.js';
import { detectionParityModel } from './det-parity.js';
import { segmentationParityModel } from './seg-parity.js';

/**
 * The parity adapter of this package's heads: golden backbone features `input.0…` (NCHW) in, every
 * golden output out (segmentation: `neck.i`, `logits`, `aux_logits`, `seg_logit`, `seg_pred`;
 * detection: neck, dense-head, anchor, R-CNN and mask outputs, proposals and detections compared as
 * sets). `undefined` for anything but a head of this package.
 */
export const headsParity: ParityAdapter = (model) => {
  if (model.kind !== 'head') return undefined;
  if (model instanceof SegmentationHead) return segmentationParityModel(model);
  if (model instanceof MaskRCNNHead || model instanceof RetinaNetHead) return detectionParityModel(model);
  return undefined;
};

export {
  compareDetections,
  detectionParityModel,
  goldenMasks,
  imageMetasFromGolden,
  MATCH_TOLERANCE,
  matchRows,
  type RowMatch,
  runDetectionHead,
  runDetectionHeadAsync,
  stagedDetectionParity,
} from './det-parity.js';
export { goldenFeatures } from './golden.js';
export { segmentationParityModel } from './seg-parity.js';
