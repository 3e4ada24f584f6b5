declare const img: HTMLImageElement; // a decoded <img> of the page
// #region segment
import type { DenseBackbone } from '@dynavit/core';
import { createDetector, createModel, createSegmentor, imageToTensor, loadWeights } from '@dynavit/backend-web';
import { detectionOptionsFromConfig, variants } from '@dynavit/heads'; // the papers' head configs

const seg = createSegmentor({ backbone: createModel('dat_pp_tiny_dense') as DenseBackbone, head: 'upernet' });
seg.loadStateDict((await loadWeights('/weights/upernet_dat_pp_tiny_ade20k.safetensors')).tensors);

const pixels = imageToTensor(img); // int32 [H, W, 3]
const { classMap, width, height, numClasses } = await seg.segment(pixels); // ADE20K: label = index + 1
// #endregion segment
console.log(classMap.length, width, height, numClasses);

// #region detect
const det = createDetector({
  backbone: createModel('dat_pp_tiny_dense') as DenseBackbone,
  head: detectionOptionsFromConfig(variants.maskrcnn_coco_dat.config),
});
const { tensors } = await loadWeights('/weights/mask_rcnn_dat_pp_tiny_coco.safetensors');
det.loadStateDict(tensors); // an mmdet checkpoint: backbone.*, neck.*, rpn_head.*, roi_head.*
const { detections } = await det.detect(pixels); // [{ box: [x1, y1, x2, y2], score, label, mask? }]
pixels.dispose();
// #endregion detect
console.log(detections.length);
