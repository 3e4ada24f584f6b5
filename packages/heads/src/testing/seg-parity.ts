/** Parity of the segmentation heads against golden io files of mmseg. */
import * as tf from '@tensorflow/tfjs-core';
import { referenceJson, resizeBilinear, toNCHW } from '@dynavit/core';
import type { ParityModel } from '@dynavit/core/testing';
import type { SegmentationHead } from '../segmentor.js';
import { goldenFeatures } from './golden.js';

/**
 * The parity model of a golden segmentation case: `neck.i` (Semantic FPN), `logits` (decode head),
 * `aux_logits` (UperNet's auxiliary head), `seg_logit` (logits resized to the network input `img_hw`,
 * then to the original image `ori_hw`, as mmseg's whole-image test) and `seg_pred` (its argmax).
 */
export function segmentationParityModel(head: SegmentationHead): ParityModel {
  return {
    model: head,
    run: (inputs, io) =>
      tf.tidy(() => {
        const feats = goldenFeatures(inputs);
        const outs: Record<string, tf.Tensor> = {};
        let logits: tf.Tensor4D;
        if (head.neck) {
          const neck = head.neck.forward(feats);
          for (const [i, n] of neck.entries()) outs[`neck.${i}`] = toNCHW(n);
          logits = head.decode_head.forward(neck);
        } else {
          logits = head.decode_head.forward(feats);
          if (head.auxiliary_head) outs['aux_logits'] = toNCHW(head.auxiliary_head.forward(feats));
        }
        outs['logits'] = toNCHW(logits);
        const imgHw = referenceJson<[number, number]>(io, 'img_hw', 'golden io');
        const oriHw = referenceJson<[number, number]>(io, 'ori_hw', 'golden io');
        const seg = resizeBilinear(resizeBilinear(logits, imgHw), oriHw);
        outs['seg_logit'] = toNCHW(seg);
        outs['seg_pred'] = tf.argMax(seg, 3);
        return outs;
      }),
  };
}
