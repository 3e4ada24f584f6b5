/**
 * Released DAT++ checkpoints (ImageNet-1k classifiers, ADE20K segmentors, COCO detectors).
 *
 * Data: the result tables of the official READMEs, read at
 *   - LeapLabTHU/DAT@32173fc (classification),
 *   - LeapLabTHU/DAT-Segmentation@fdd2039 (Semantic FPN and UperNet, ADE20K),
 *   - LeapLabTHU/DAT-Detection@4d4023d (RetinaNet, Mask R-CNN, Cascade Mask R-CNN, COCO).
 * Links: each README gives a TsinghuaCloud share link (`https://cloud.tsinghua.edu.cn/f/<id>/`) and a
 * OneDrive share link per checkpoint. The direct link below is the TsinghuaCloud share link with
 * `?dl=1` appended; the OneDrive link (browser only) is kept in `notes` as a mirror.
 * Keys: the classification evaluation path (`evaluate.sh` → `main.py --resume` → `utils.load_checkpoint`)
 * reads `checkpoint['model']`; the dense checkpoints were written by mmcv and are read by
 * `mmcv.runner.load_checkpoint` from `checkpoint['state_dict']` (backbone tensors under `backbone.`).
 * No checksums are published. The original DAT (CVPR 2022, v1) weights are a different architecture and
 * are not listed; `dat_plus_tiny` has no released weights.
 */
import { fashionMnistRelease, type PretrainedCheckpoint } from '@dynavit/core';

const CLS = 'LeapLabTHU/DAT README.md';
const SEG = 'LeapLabTHU/DAT-Segmentation README.md';
const DET = 'LeapLabTHU/DAT-Detection README.md';

export const pretrained: readonly PretrainedCheckpoint[] = [
  // ---- ImageNet-1k classification ----
  {
    id: 'dat_pp_tiny',
    model: 'dat_pp_tiny',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 83.9 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/14c5ddae10b642e68089/?dl=1'],
    key: 'model',
    file: 'dat_pp_tiny_in1k_224.pth',
    source: CLS,
    notes:
      'DAT-T++, trained on ImageNet-1k at 224², config configs/dat_tiny.yaml. ' +
      'Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgrl-pI8MPFoll-ueNQ?e=bpdieu',
  },
  {
    id: 'dat_pp_small',
    model: 'dat_pp_small',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 84.6 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/4c2a76360c964fbd81d5/?dl=1'],
    key: 'model',
    file: 'dat_pp_small_in1k_224.pth',
    source: CLS,
    notes:
      'DAT-S++, trained on ImageNet-1k at 224², config configs/dat_small.yaml. ' +
      'Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroB0ESeknbTsksWAg?e=Jbh0BS',
  },
  {
    id: 'dat_pp_base',
    model: 'dat_pp_base',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 84.9 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/8e30492404d348d89f25/?dl=1'],
    key: 'model',
    file: 'dat_pp_base_in1k_224.pth',
    source: CLS,
    notes:
      'DAT-B++, trained on ImageNet-1k at 224², config configs/dat_base.yaml. ' +
      'Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgrl_P46QOehhgA0-wg?e=DJRAfw',
  },
  {
    id: 'dat_pp_base_384',
    model: 'dat_pp_base_384',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '384²',
    metrics: [{ name: 'top-1', value: 85.9 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/032dc804cdf44bf18bb5/?dl=1'],
    key: 'model',
    file: 'dat_pp_base_in1k_384.pth',
    source: CLS,
    notes:
      'DAT-B++ fine-tuned at 384² from the 224² DAT-B++ weights (configs/dat_base_384.yaml). ' +
      'Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroAI7cLAoj17khZNw?e=7yzxAg',
  },

  // ---- ADE20K semantic segmentation: UperNet, 160k iterations ----
  {
    id: 'dat_pp_tiny_dense.upernet_ade20k',
    model: 'dat_pp_tiny_dense',
    head: 'upernet_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 49.4 },
      { name: 'mIoU (MS)', value: 50.3 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/de75c7e1622847268f4f/?dl=1'],
    key: 'state_dict',
    file: 'dat_upn_tiny_160k_dp03_lr6.pth',
    source: SEG,
    notes:
      'UperNet, 160k iterations, 512×512 crops, backbone initialised from the ImageNet-1k DAT-T++; ' +
      'config configs/dat/upn_tiny_160k_dp03_lr6.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroSjoSXmkw32WulGQ?e=xtELZ9',
  },
  {
    id: 'dat_pp_small_dense.upernet_ade20k',
    model: 'dat_pp_small_dense',
    head: 'upernet_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 50.5 },
      { name: 'mIoU (MS)', value: 51.2 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/2f4a2be90a08477fa4b3/?dl=1'],
    key: 'state_dict',
    file: 'dat_upn_small_160k_dp05_lr6.pth',
    source: SEG,
    notes:
      'UperNet, 160k iterations, 512×512 crops, backbone initialised from the ImageNet-1k DAT-S++; ' +
      'config configs/dat/upn_small_160k_dp05_lr6.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroU0mRYDsSLan5LPA?e=MvQ9rr',
  },
  {
    id: 'dat_pp_base_dense.upernet_ade20k',
    model: 'dat_pp_base_dense',
    head: 'upernet_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 51.0 },
      { name: 'mIoU (MS)', value: 51.5 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/7c442d4371c4433aa428/?dl=1'],
    key: 'state_dict',
    file: 'dat_upn_base_160k_dp07_lr6.pth',
    source: SEG,
    notes:
      'UperNet, 160k iterations, 512×512 crops, backbone initialised from the ImageNet-1k DAT-B++; ' +
      'config configs/dat/upn_base_160k_dp07_lr6.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroVYhIIowSbZOFXFw?e=uNShfl',
  },

  // ---- ADE20K semantic segmentation: Semantic FPN, 80k iterations ----
  {
    id: 'dat_pp_tiny_dense.semfpn_ade20k',
    model: 'dat_pp_tiny_dense',
    head: 'semfpn_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 48.4 },
      { name: 'mIoU (MS)', value: 48.8 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/9a9df06dec1440a39bcb/?dl=1'],
    key: 'state_dict',
    file: 'dat_fpn_tiny_80k_dp04_lr2.pth',
    source: SEG,
    notes:
      'Semantic FPN, 80k iterations, 512×512 crops, backbone initialised from the ImageNet-1k DAT-T++; ' +
      'config configs/dat/fpn_tiny_80k_dp04_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroQipc3erCDV2MGng?e=5CiCVE',
  },
  {
    id: 'dat_pp_small_dense.semfpn_ade20k',
    model: 'dat_pp_small_dense',
    head: 'semfpn_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 49.9 },
      { name: 'mIoU (MS)', value: 50.7 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/f4333e084ef74ca3b8f6/?dl=1'],
    key: 'state_dict',
    file: 'dat_fpn_small_80k_dp04_lr2.pth',
    source: SEG,
    notes:
      'Semantic FPN, 80k iterations, 512×512 crops, backbone initialised from the ImageNet-1k DAT-S++; ' +
      'config configs/dat/fpn_small_80k_dp04_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroTm5q7mwZFRvqKnw?e=RzLZgu',
  },
  {
    id: 'dat_pp_base_dense.semfpn_ade20k',
    model: 'dat_pp_base_dense',
    head: 'semfpn_ade20k',
    task: 'semantic-segmentation',
    dataset: 'ADE20K',
    resolution: '512×512',
    metrics: [
      { name: 'mIoU', value: 50.4 },
      { name: 'mIoU (MS)', value: 51.1 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/9df9eb212f154168aab7/?dl=1'],
    key: 'state_dict',
    file: 'dat_fpn_base_80k_dp07_lr2.pth',
    source: SEG,
    notes:
      'Semantic FPN, 80k iterations, 512×512 crops, backbone initialised from the ImageNet-1k DAT-B++; ' +
      'config configs/dat/fpn_base_80k_dp07_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroRSpGKqGHBCD77MA?e=NK3Jsw',
  },

  // ---- COCO object detection: RetinaNet (tiny and small only) ----
  {
    id: 'dat_pp_tiny_dense.retinanet_coco_dat.1x',
    model: 'dat_pp_tiny_dense',
    head: 'retinanet_coco_dat',
    task: 'object-detection',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [{ name: 'box AP', value: 46.8 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/8e49b993adf242829ee1/?dl=1'],
    key: 'state_dict',
    file: 'dat_rtn_tiny_1x_4n_dp00_lr2.pth',
    source: DET,
    notes:
      'RetinaNet, 1x schedule (12 epochs), multi-scale training as in the config, DAT-T++ ImageNet-1k init; ' +
      'config configs/dat/rtn_tiny_1x_4n_dp00_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroLKGEtPqZe5vVKgA?e=l61dNf',
  },
  {
    id: 'dat_pp_tiny_dense.retinanet_coco_dat.3x',
    model: 'dat_pp_tiny_dense',
    head: 'retinanet_coco_dat',
    task: 'object-detection',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [{ name: 'box AP', value: 49.2 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/ff4e48c036cb4d9badca/?dl=1'],
    key: 'state_dict',
    file: 'dat_rtn_tiny_3x_4n_dp02_lr2.pth',
    source: DET,
    notes:
      'RetinaNet, 3x schedule (36 epochs), multi-scale training, DAT-T++ ImageNet-1k init; ' +
      'config configs/dat/rtn_tiny_3x_4n_dp02_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroDwb1rL_Fb3ZFBWg?e=SB0b4R',
  },
  {
    id: 'dat_pp_small_dense.retinanet_coco_dat.1x',
    model: 'dat_pp_small_dense',
    head: 'retinanet_coco_dat',
    task: 'object-detection',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [{ name: 'box AP', value: 48.3 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/c1585651b3ec41fa9eb5/?dl=1'],
    key: 'state_dict',
    file: 'dat_rtn_small_1x_4n_dp01_lr2.pth',
    source: DET,
    notes:
      'RetinaNet, 1x schedule (12 epochs), multi-scale training as in the config, DAT-S++ ImageNet-1k init; ' +
      'config configs/dat/rtn_small_1x_4n_dp01_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroKRvxYPXTxsaaLUg?e=9Ty1zb',
  },
  {
    id: 'dat_pp_small_dense.retinanet_coco_dat.3x',
    model: 'dat_pp_small_dense',
    head: 'retinanet_coco_dat',
    task: 'object-detection',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [{ name: 'box AP', value: 50.2 }],
    urls: ['https://cloud.tsinghua.edu.cn/f/3687b77098a647adb54f/?dl=1'],
    key: 'state_dict',
    file: 'dat_rtn_small_3x_4n_dp05_lr2.pth',
    source: DET,
    notes:
      'RetinaNet, 3x schedule (36 epochs), multi-scale training, DAT-S++ ImageNet-1k init; ' +
      'config configs/dat/rtn_small_3x_4n_dp05_lr2.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroOnfDaAaodgfU9og?e=DuLtLB',
  },

  // ---- COCO instance segmentation: Mask R-CNN (tiny and small only) ----
  {
    id: 'dat_pp_tiny_dense.maskrcnn_coco_dat.1x',
    model: 'dat_pp_tiny_dense',
    head: 'maskrcnn_coco_dat',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 48.7 },
      { name: 'mask AP', value: 43.7 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/2b61106279ae488bbb45/?dl=1'],
    key: 'state_dict',
    file: 'dat_mrcn_tiny_1x_4n_dp00_lr4.pth',
    source: DET,
    notes:
      'Mask R-CNN, 1x schedule (12 epochs), multi-scale training as in the config, DAT-T++ ImageNet-1k init; ' +
      'config configs/dat/mrcn_tiny_1x_4n_dp00_lr4.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroIh3FpJJ1JezkAdw?e=ripLe0',
  },
  {
    id: 'dat_pp_tiny_dense.maskrcnn_coco_dat.3x',
    model: 'dat_pp_tiny_dense',
    head: 'maskrcnn_coco_dat',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 50.5 },
      { name: 'mask AP', value: 45.1 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/a7db396a372449779347/?dl=1'],
    key: 'state_dict',
    file: 'dat_mrcn_tiny_3x_4n_dp03_lr4.pth',
    source: DET,
    notes:
      'Mask R-CNN, 3x schedule (36 epochs), multi-scale training, DAT-T++ ImageNet-1k init; ' +
      'config configs/dat/mrcn_tiny_3x_4n_dp03_lr4.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroMWHVicveA4DjkFQ?e=b76PGk',
  },
  {
    id: 'dat_pp_small_dense.maskrcnn_coco_dat.1x',
    model: 'dat_pp_small_dense',
    head: 'maskrcnn_coco_dat',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 49.8 },
      { name: 'mask AP', value: 44.5 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/8f3653c027974136a74a/?dl=1'],
    key: 'state_dict',
    file: 'dat_mrcn_small_1x_4n_dp01_lr4.pth',
    source: DET,
    notes:
      'Mask R-CNN, 1x schedule (12 epochs), multi-scale training as in the config, DAT-S++ ImageNet-1k init; ' +
      'config configs/dat/mrcn_small_1x_4n_dp01_lr4.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroFCpEZ1rCavI2xFg?e=O9w2ff',
  },
  {
    id: 'dat_pp_small_dense.maskrcnn_coco_dat.3x',
    model: 'dat_pp_small_dense',
    head: 'maskrcnn_coco_dat',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 51.2 },
      { name: 'mask AP', value: 45.7 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/3bde5a98a0ca46d8b2ee/?dl=1'],
    key: 'state_dict',
    file: 'dat_mrcn_small_3x_4n_dp05_lr4.pth',
    source: DET,
    notes:
      'Mask R-CNN, 3x schedule (36 epochs), multi-scale training, DAT-S++ ImageNet-1k init; ' +
      'config configs/dat/mrcn_small_3x_4n_dp05_lr4.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroH1ZALwoxhcO37MQ?e=2aZeBj',
  },

  // ---- COCO instance segmentation: Cascade Mask R-CNN (no dynavit head; listed for the docs) ----
  {
    id: 'dat_pp_tiny_dense.cascade_maskrcnn.1x',
    model: 'dat_pp_tiny_dense',
    head: 'unsupported:cascade_maskrcnn',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 52.2 },
      { name: 'mask AP', value: 45.0 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/35be35faa96044ee8561/?dl=1'],
    key: 'state_dict',
    file: 'dat_cmrcn_tiny_1x_4n_dp00_lr4.pth',
    source: DET,
    notes:
      'Cascade Mask R-CNN, 1x schedule (12 epochs), multi-scale training as in the config, DAT-T++ ImageNet-1k init; ' +
      'config configs/dat/cmrcn_tiny_1x_4n_dp00_lr4.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroGo2oubInWIwrnWg?e=o9aJlK',
  },
  {
    id: 'dat_pp_tiny_dense.cascade_maskrcnn.3x',
    model: 'dat_pp_tiny_dense',
    head: 'unsupported:cascade_maskrcnn',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 53.0 },
      { name: 'mask AP', value: 46.0 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/1aa96891dda24451bbf8/?dl=1'],
    key: 'state_dict',
    file: 'dat_cmrcn_tiny_3x_4n_dp01_lr4.pth',
    source: DET,
    notes:
      'Cascade Mask R-CNN, 3x schedule (36 epochs), multi-scale training, DAT-T++ ImageNet-1k init; ' +
      'config configs/dat/cmrcn_tiny_3x_4n_dp01_lr4.py. Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroEOC8rgHFWAnO2yw?e=2BLK8g',
  },
  {
    id: 'dat_pp_small_dense.cascade_maskrcnn',
    model: 'dat_pp_small_dense',
    head: 'unsupported:cascade_maskrcnn',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 54.2 },
      { name: 'mask AP', value: 46.9 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/17d84d4f5ae2457285af/?dl=1'],
    key: 'state_dict',
    file: 'dat_cmrcn_small_3x_4n_dp05_lr4.pth',
    source: DET,
    notes:
      'Cascade Mask R-CNN, 3x schedule (36 epochs; the only released schedule for this size), multi-scale ' +
      'training, DAT-S++ ImageNet-1k init; config configs/dat/cmrcn_small_3x_4n_dp05_lr4.py. ' +
      'Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroJ0--lDvJw90u2_g?e=293ING',
  },
  {
    id: 'dat_pp_base_dense.cascade_maskrcnn',
    model: 'dat_pp_base_dense',
    head: 'unsupported:cascade_maskrcnn',
    task: 'instance-segmentation',
    dataset: 'COCO',
    resolution: '1333×800',
    metrics: [
      { name: 'box AP', value: 54.5 },
      { name: 'mask AP', value: 47.0 },
    ],
    urls: ['https://cloud.tsinghua.edu.cn/f/9ea06105dd394b8d97ac/?dl=1'],
    key: 'state_dict',
    file: 'dat_cmrcn_base_3x_8n_dp08_lr4.pth',
    source: DET,
    notes:
      'Cascade Mask R-CNN, 3x schedule (36 epochs; the only DAT-B++ detection release), multi-scale ' +
      'training, DAT-B++ ImageNet-1k init; config configs/dat/cmrcn_base_3x_8n_dp08_lr4.py. ' +
      'Mirror: https://1drv.ms/u/s!ApI0vb6wPqmtgroNdQXStfHGPbzkpw?e=fWJT5O',
  },
  // ---- trained by dynavit: the weights ship in this package (weights/), `dynavit run --model dat_fmnist` uses them ----
  fashionMnistRelease({
    model: 'dat_fmnist',
    url: new URL('../weights/dat_fmnist.safetensors', import.meta.url),
    sha256: 'eb24ca9cbca541cac5058ca9cd1be3d83145dafb06e5d000b488e6f7b2894421',
    top1: 90.51,
    notes:
      'EMA weights (the final ones: 89.71 %), trained in two runs, batch 64, no warm-up, no augmentation, label smoothing 0.1, EMA decay 0.998. ' +
      'Run 1: 2 epochs on the first 40,000 training images, AdamW lr 1e-3 (halved for epoch 2 by the per-epoch cosine), 88.38 %: ' +
      '`dynavit train --model dat_fmnist --data fashion-mnist --epochs 2 --limit 40000 --lr 1e-3 --warmup-epochs 0 --no-aug --ema --ema-decay 0.998`. ' +
      'Run 2: from its final weights, 1 epoch on all 60,000, lr 4e-4: ' +
      '`dynavit train --model dat_fmnist --data fashion-mnist --weights RUN1/model.safetensors --epochs 1 --lr 4e-4 --min-lr 1e-6 --warmup-epochs 0 --no-aug --ema --ema-decay 0.998`. ' +
      '119 min in all (81 + 38) on one core of a 2-core AMD EPYC VM (wasm, 22.5 and 26.4 images/s).',
  }),
];
