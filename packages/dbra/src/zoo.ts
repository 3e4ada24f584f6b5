/**
 * Released DeBiFormer checkpoints (ImageNet-1k classifiers, ADE20K segmentors, COCO detectors).
 *
 * Data: the result tables of the official READMEs in maclong01/DeBiFormer@1ceb090: README.md
 * (classification), segmentation/README.md and detection/README.md.
 * Links: every release is a Google Drive *folder* link; there is no direct file link, so `urls` is
 * empty and `manual` says which folder to open and which file to save. The segmentation releases share
 * one folder, and so do all four detection releases. File names are the ones the READMEs use in their
 * evaluation examples where given, otherwise the same pattern.
 * Keys: `classification/main.py --resume` loads `checkpoint['model']` (falling back to the whole dict
 * when that key is absent), and the dense backbones' `init_weights` read `['model']` from the same
 * classification files; the dense checkpoints were written by mmcv and are read by
 * `mmcv.runner.load_checkpoint` (segmentation/test.py, detection/test.py) from `checkpoint['state_dict']`.
 * No checksums are published. Only DeBiFormer-B has segmentation weights and only DeBiFormer-S/B have
 * detection weights; tiny/small segmentors and tiny detectors were not released.
 */
import { fashionMnistRelease, type PretrainedCheckpoint } from '@dynavit/core';

const CLS = 'maclong01/DeBiFormer README.md';
const SEG = 'maclong01/DeBiFormer segmentation/README.md';
const DET = 'maclong01/DeBiFormer detection/README.md';

const SEG_FOLDER = 'https://drive.google.com/drive/folders/1Rko-MtpX52t5zZSwcQUfFrAvJIlMDHUl';
const DET_FOLDER = 'https://drive.google.com/drive/folders/1hiTS_Xq1EfCOpgIBLb08lKMS30SBslRt';

const byHand = (folder: string, what: string, file: string): string =>
  `no direct link (a Google Drive folder): open ${folder} in a browser and download the ${what} checkpoint ${file}`;

export const pretrained: readonly PretrainedCheckpoint[] = [
  // ---- ImageNet-1k classification ----
  {
    id: 'debi_tiny',
    model: 'debi_tiny',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 81.9 }],
    urls: [],
    manual: byHand(
      'https://drive.google.com/drive/folders/1K_Zk5Etx2oh3yVccr71m1R3bTqWAI2bg',
      'DeBiFormer-T',
      'debiformer_tiny_in1k_224.pth',
    ),
    key: 'model',
    file: 'debiformer_tiny_in1k_224.pth',
    source: CLS,
    notes: 'DeBiFormer-T, trained on ImageNet-1k at 224² (timm model name debi_tiny).',
  },
  {
    id: 'debi_small',
    model: 'debi_small',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 83.9 }],
    urls: [],
    manual: byHand(
      'https://drive.google.com/drive/folders/1OmWKob1ECHgVMs5wSvZs3XF665zFJdHg',
      'DeBiFormer-S',
      'debiformer_small_in1k_224.pth',
    ),
    key: 'model',
    file: 'debiformer_small_in1k_224.pth',
    source: CLS,
    notes: 'DeBiFormer-S, trained on ImageNet-1k at 224² (timm model name debi_small).',
  },
  {
    id: 'debi_base',
    model: 'debi_base',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 84.4 }],
    urls: [],
    manual: byHand(
      'https://drive.google.com/drive/folders/1Ae3l2Q9nPbpOgSiTtX_HWyvSXIPQ9jce',
      'DeBiFormer-B',
      'debiformer_base_in1k_224.pth',
    ),
    key: 'model',
    file: 'debiformer_base_in1k_224.pth',
    source: CLS,
    notes: 'DeBiFormer-B, trained on ImageNet-1k at 224² (timm model name debi_base).',
  },

  // ---- ADE20K semantic segmentation (DeBiFormer-B only) ----
  {
    id: 'debi_base_seg.upernet_ade20k',
    model: 'debi_base_seg',
    head: 'upernet_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 51.4 },
      { name: 'mIoU (MS)', value: 52.0 },
    ],
    urls: [],
    manual: byHand(SEG_FOLDER, 'UperNet 160k DeBiFormer-B', 'upernet_160k_debi_base.pth'),
    key: 'state_dict',
    file: 'upernet_160k_debi_base.pth',
    source: SEG,
    notes:
      'UperNet, 160k iterations, 512×512 crops, ImageNet-1k DeBiFormer-B init; config ' +
      'segmentation/configs/upernet_512_debi_base_160k.py. The MS value is multi-scale + flip. The Drive ' +
      'folder also holds the Semantic FPN release.',
  },
  {
    id: 'debi_base_seg.semfpn_ade20k',
    model: 'debi_base_seg',
    head: 'semfpn_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [{ name: 'mIoU', value: 50.6 }],
    urls: [],
    manual: byHand(SEG_FOLDER, 'Semantic FPN 80k DeBiFormer-B', 'fpn_80k_debi_base.pth'),
    key: 'state_dict',
    file: 'fpn_80k_debi_base.pth',
    source: SEG,
    notes:
      'Semantic FPN, 80k iterations, 512×512 crops, ImageNet-1k DeBiFormer-B init; config ' +
      'segmentation/configs/fpn_512_debi_base_80k.py. No multi-scale result published. The Drive folder ' +
      'also holds the UperNet release.',
  },

  // ---- COCO instance segmentation: Mask R-CNN 1x (DeBiFormer-S/B) ----
  {
    id: 'debi_small_det.maskrcnn_coco',
    model: 'debi_small_det',
    head: 'maskrcnn_coco',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 47.5 },
      { name: 'mask AP', value: 42.5 },
    ],
    urls: [],
    manual: byHand(DET_FOLDER, 'Mask R-CNN 1x DeBiFormer-S', 'mask_rcnn_1x_debi_small.pth'),
    key: 'state_dict',
    file: 'mask_rcnn_1x_debi_small.pth',
    source: DET,
    notes:
      'Mask R-CNN, 1x schedule (12 epochs), ImageNet-1k DeBiFormer-S init; config ' +
      'detection/configs/mask_rcnn_debi_small_1x.py. One Drive folder holds all four detection releases.',
  },
  {
    id: 'debi_base_det.maskrcnn_coco',
    model: 'debi_base_det',
    head: 'maskrcnn_coco',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 48.5 },
      { name: 'mask AP', value: 43.2 },
    ],
    urls: [],
    manual: byHand(DET_FOLDER, 'Mask R-CNN 1x DeBiFormer-B', 'mask_rcnn_1x_debi_base.pth'),
    key: 'state_dict',
    file: 'mask_rcnn_1x_debi_base.pth',
    source: DET,
    notes:
      'Mask R-CNN, 1x schedule (12 epochs), ImageNet-1k DeBiFormer-B init; config ' +
      'detection/configs/mask_rcnn_debi_base_1x.py. One Drive folder holds all four detection releases.',
  },

  // ---- COCO object detection: RetinaNet 1x (DeBiFormer-S/B) ----
  {
    id: 'debi_small_det.retinanet_coco_debi',
    model: 'debi_small_det',
    head: 'retinanet_coco_debi',
    task: 'object-detection',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [{ name: 'box AP', value: 45.6 }],
    urls: [],
    manual: byHand(DET_FOLDER, 'RetinaNet 1x DeBiFormer-S', 'retinanet_1x_debi_small.pth'),
    key: 'state_dict',
    file: 'retinanet_1x_debi_small.pth',
    source: DET,
    notes:
      'RetinaNet, 1x schedule (12 epochs), ImageNet-1k DeBiFormer-S init; config ' +
      'detection/configs/retinanet_debi_small_1x.py. The README column "mAP_mask/AP_M" shows 49.3 ' +
      'here; RetinaNet predicts no masks, so this is read as box AP on medium objects and not listed.',
  },
  {
    id: 'debi_base_det.retinanet_coco_debi',
    model: 'debi_base_det',
    head: 'retinanet_coco_debi',
    task: 'object-detection',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [{ name: 'box AP', value: 47.1 }],
    urls: [],
    manual: byHand(DET_FOLDER, 'RetinaNet 1x DeBiFormer-B', 'retinanet_1x_debi_base.pth'),
    key: 'state_dict',
    file: 'retinanet_1x_debi_base.pth',
    source: DET,
    notes:
      'RetinaNet, 1x schedule (12 epochs), ImageNet-1k DeBiFormer-B init; config ' +
      'detection/configs/retinanet_debi_base_1x.py. The README column "mAP_mask/AP_M" shows 51.1 ' +
      'here; RetinaNet predicts no masks, so this is read as box AP on medium objects and not listed.',
  },
  // ---- trained by dynavit: the weights ship in this package (weights/), `dynavit run --model debi_fmnist` uses them ----
  fashionMnistRelease({
    model: 'debi_fmnist',
    url: new URL('../weights/debi_fmnist.safetensors', import.meta.url),
    sha256: '83199b45638ad60cb6f505ebad2ef370ac715b8b1bc015e4d73f8c88ae016f8c',
    top1: 90.75,
    notes:
      'Two runs, batch 64, AdamW, no augmentation, label smoothing 0.1, EMA decay 0.998. First ' +
      '`dynavit train --model debi_fmnist --data fashion-mnist --epochs 2 --limit 35000 --lr 2e-3 --warmup-epochs 0 --no-aug --ema --ema-decay 0.998 --clip-grad 5 --checkpoint-steps 100`, ' +
      'stopped at update 900 (57,600 images; its EMA weights: 87.16 %); then one epoch of all 60,000 training images from those ' +
      'weights with the rate set at every update: `--weights … --epochs 1 --lr 8e-4 --min-lr 1e-6 --warmup-epochs 0 --sched-on-updates --no-aug --ema --ema-decay 0.998 --clip-grad 5 --seed 43`. ' +
      'These are its final weights (its EMA weights: 90.32 %). ' +
      '~98 + 79 min on a 2-core AMD EPYC VM (wasm, one thread, with other work on the machine: ~10 and 12.7 images/s).',
  }),
];
