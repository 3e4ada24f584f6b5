/**
 * Released GLNet (GLMix) checkpoints: ImageNet-1k classifiers only.
 *
 * Data: the "Model Card" table of the official README and `_glnet_ckpt_urls` in models/glnet.py, both
 * read at rayleizhu/GLMix@3c93dbf. No segmentation or detection weights (or code) have been released
 * (still an open TODO in the README), so the `glnet_*_dense` backbones have no entries.
 * Links: the direct links are the `api.onedrive.com/v1.0/shares/u!…/root/content` URLs copied from
 * models/glnet.py (scripts/convert_1drv_links.sh derives them from the README's 1drv.ms share links).
 * The README warns that a OneDrive API change stopped these links from downloading, so every entry
 * also carries `manual` with the share link to use in a browser.
 * Keys: `_load_from_url(model, ckpt_key, state_dict_key='model')` in models/glnet.py reads
 * `checkpoint['model']`; only `glnet_16g` passes `state_dict_key='model_ema'`. The token-labelling
 * builders in models/glnet_tklb.py reuse `_load_from_url` with the default key. The official cache name
 * is `<model>.pth` (`file_name=f"{ckpt_key}.pth"`). No checksums are published (`check_hash=True`
 * has no hash suffix in those file names to check against).
 */
import { fashionMnistRelease, type PretrainedCheckpoint } from '@dynavit/core';

const SRC = 'rayleizhu/GLMix README.md (Model Card), models/glnet.py';

const byHand = (share: string, file: string): string =>
  `the OneDrive API link may no longer serve the file (see the GLMix README): open ${share} in a browser and download ${file}`;

export const pretrained: readonly PretrainedCheckpoint[] = [
  {
    id: 'glnet_4g',
    model: 'glnet_4g',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 83.7 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5RzlEalNfQU1xbkpRaVgxP2U9dE9raEhQ/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCyG9DjS_AMqnJQiX1?e=tOkhHP', 'glnet_4g.pth'),
    key: 'model',
    file: 'glnet_4g.pth',
    source: SRC,
    notes: 'Standard ImageNet-1k recipe (main_cx2.py), 224².',
  },
  {
    id: 'glnet_4g_tklb',
    model: 'glnet_4g_tklb',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 84.4 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5QVdjT2RsVFVhMkozdnNYP2U9d0U0Y2gx/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCyAWcOdlTUa2J3vsX?e=wE4ch1', 'glnet_4g_tklb.pth'),
    key: 'model',
    file: 'glnet_4g_tklb.pth',
    source: SRC,
    notes: 'Trained with token labelling (main_tklb.py, models/glnet_tklb.py), 224².',
  },
  {
    id: 'glnet_9g',
    model: 'glnet_9g',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 84.5 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5RUdGUTZrZldWLXdWWmVpP2U9d1d3Ujh6/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCyEGFQ6kfWV-wVZei?e=wWwR8z', 'glnet_9g.pth'),
    key: 'model',
    file: 'glnet_9g.pth',
    source: SRC,
    notes: 'Standard ImageNet-1k recipe (main_cx2.py), 224².',
  },
  {
    id: 'glnet_9g_tklb',
    model: 'glnet_9g_tklb',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 85.3 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5blBFY2ctZkM3WkRDTUV0P2U9Ynd1ZmVS/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCynPEcg-fC7ZDCMEt?e=bwufeR', 'glnet_9g_tklb.pth'),
    key: 'model',
    file: 'glnet_9g_tklb.pth',
    source: SRC,
    notes: 'Trained with token labelling (main_tklb.py, models/glnet_tklb.py), 224².',
  },
  {
    id: 'glnet_16g',
    model: 'glnet_16g',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 85.0 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5amFCeEMzaC1COENIV01tP2U9R2ZSMGtn/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCyjaBxC3h-B8CHWMm?e=GfR0kg', 'glnet_16g.pth'),
    key: 'model_ema',
    file: 'glnet_16g.pth',
    source: SRC,
    notes:
      'Standard ImageNet-1k recipe (main_cx2.py), 224². The official loader takes the EMA weights ' +
      '(85.0); per a comment in models/glnet.py the regular weights, from a different epoch, score 84.9.',
  },
  {
    id: 'glnet_stl',
    model: 'glnet_stl',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 82.5 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5QkZhQUlMRU11X2R0YmJWP2U9OUdoaGkz/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCyBFaAILEMu_dtbbV?e=9Ghhi3', 'glnet_stl.pth'),
    key: 'model',
    file: 'glnet_stl.pth',
    source: SRC,
    notes: 'Swin-Tiny layout variant, standard ImageNet-1k recipe (main_cx2.py), 224².',
  },
  {
    id: 'glnet_stl_paramslot',
    model: 'glnet_stl_paramslot',
    task: 'image-classification',
    dataset: 'ImageNet-1k',
    resolution: '224²',
    metrics: [{ name: 'top-1', value: 82.1 }],
    urls: [
      'https://api.onedrive.com/v1.0/shares/u!aHR0cHM6Ly8xZHJ2Lm1zL3UvcyFBa0JiY3pkUmxadkN5RzBlYXQ1ekNFOXVwY1FSP2U9dm1ibW8x/root/content',
    ],
    manual: byHand('https://1drv.ms/u/s!AkBbczdRlZvCyG0eat5zCE9upcQR?e=vmbmo1', 'glnet_stl_paramslot.pth'),
    key: 'model',
    file: 'glnet_stl_paramslot.pth',
    source: SRC,
    notes: 'Swin-Tiny layout with learned (parameter) slot initialisation, standard recipe (main_cx2.py), 224².',
  },
  // ---- trained by dynavit: the weights ship in this package (weights/), `dynavit run --model glnet_fmnist` uses them ----
  fashionMnistRelease({
    model: 'glnet_fmnist',
    url: new URL('../weights/glnet_fmnist.safetensors', import.meta.url),
    sha256: 'a288fc5d4535101cafbfd9c0e8febb66f35f9d293b89720ecdd4e14dc21572c9',
    top1: 90.6,
    notes:
      'EMA weights (decay 0.998; the final weights: 90.09 %) after 2 epochs on the first 50,000 training images, batch 64, AdamW lr 2e-3 (halved for epoch 2 by the per-epoch cosine), no warm-up, no augmentation, label smoothing 0.1: `dynavit train --model glnet_fmnist --data fashion-mnist --epochs 2 --limit 50000 --lr 2e-3 --warmup-epochs 0 --no-aug --ema --ema-decay 0.998`. 86 min on one core of a 2-core AMD EPYC VM (wasm, 25.6 images/s).',
  }),
];
