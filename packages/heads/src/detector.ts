/**
 * Object detection / instance segmentation: any dense backbone + a detection head (Mask R-CNN or
 * RetinaNet), composed through the feature-pyramid contract alone (`featureInfo` gives the channels).
 * The module tree is `backbone`, `neck`, `rpn_head`, `roi_head` (Mask R-CNN) or `backbone`, `neck`,
 * `bbox_head` (RetinaNet), so an official mmdet checkpoint's `state_dict` loads by name.
 * Pre/post-processing as mmdet evaluated the papers' models: keep-ratio resize to (1333, 800),
 * normalise, pad to 32; boxes back in original-image coordinates (÷ per-axis scale factor), masks
 * pasted at the original size.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  configReader,
  type FeatureExtractor,
  InvalidArgumentError,
  Module,
  type OfficialConfig,
  ShapeError,
} from '@dynavit/core';
import type { DetHeadKind } from './detection-head.js';
import type { ExtraConvs } from './fpn.js';
import { type MaskRCNNConfig, MaskRCNNHead } from './mask-rcnn.js';
import { prepareImage, type PrepareOptions } from './preprocess.js';
import { type RetinaNetConfig, RetinaNetHead } from './retinanet.js';
import type { ImageMeta } from './roi-heads.js';
import { runAsync } from './steps.js';

export type { DetHeadKind };
export type DetectionHead = MaskRCNNHead | RetinaNetHead;

/** Head options without the backbone channels (those come from `featureInfo`). */
export type DetHeadOptions =
  | ({ kind: 'mask_rcnn' } & Omit<MaskRCNNConfig, 'inChannels'>)
  | ({ kind: 'retinanet' } & Omit<RetinaNetConfig, 'inChannels'>);

export interface Detection {
  /** [x1, y1, x2, y2] in original-image pixels */
  box: [number, number, number, number];
  score: number;
  /** class index (COCO: 0..79 in mmdet's order) */
  label: number;
  /** Mask R-CNN: binary mask at the original size, row-major [height·width] (1 = object) */
  mask?: Uint8Array;
}

export interface DetectionResult {
  width: number;
  height: number;
  numClasses: number;
  /** descending score */
  detections: Detection[];
}

export class Detector extends Module {
  readonly backbone: FeatureExtractor;
  readonly head: DetectionHead;
  constructor(backbone: FeatureExtractor, head: DetectionHead) {
    super();
    const info = backbone.featureInfo.map((f) => f.channels);
    const want = head.inChannels;
    if (info.length !== want.length || info.some((c, i) => c !== want[i]))
      throw new ShapeError(
        'Detector',
        'backbone.featureInfo',
        `channels [${want.join(', ')}] (the head's in_channels)`,
        `[${info.join(', ')}]`,
      );
    this.backbone = this.child('backbone', backbone);
    this.head = head;
    for (const [name, m] of head.children()) this.child(name, m);
  }

  get numClasses(): number {
    return this.head.numClasses;
  }

  /**
   * Detect objects in one image [H,W,3] RGB 0–255, as mmdet's test: keep-ratio resize to
   * `scale` (default (1333, 800)), normalise, zero-pad to multiples of `padTo` (32), run, map boxes
   * back to the original image, paste masks at the original size.
   */
  async detect(image: tf.Tensor3D, opts: Partial<PrepareOptions> = {}): Promise<DetectionResult> {
    if (image.rank !== 3 || image.shape[2] !== 3)
      throw new ShapeError('detect', 'image', '[H,W,3] RGB', `[${image.shape.join(',')}]`);
    const prep = prepareImage(image, { ...opts, scale: opts.scale ?? [1333, 800], padTo: opts.padTo ?? 32 });
    const [sx, sy] = prep.scale;
    const meta: ImageMeta = { oriShape: prep.oriHw, imgShape: prep.imgHw, scaleFactor: [sx, sy, sx, sy] };
    let feats: tf.Tensor4D[];
    try {
      feats = tf.tidy(() => this.backbone.forwardFeatures(prep.input));
    } finally {
      prep.input.dispose();
    }
    let dets: { bboxes: Float32Array; labels: Int32Array };
    let masks: Uint8Array[] | null = null;
    try {
      if (this.head instanceof MaskRCNNHead) {
        const out = await runAsync(this.head.testSteps(feats, [meta]));
        dets = out.detections[0]!;
        if (out.mask) masks = out.masks[0]!;
      } else {
        dets = (await runAsync(this.head.testSteps(feats, [meta]))).detections[0]!;
      }
    } finally {
      tf.dispose(feats);
    }
    const [height, width] = prep.oriHw;
    const detections: Detection[] = Array.from(dets.labels, (label, k) => {
      const b = dets.bboxes;
      const d: Detection = {
        box: [b[k * 5]!, b[k * 5 + 1]!, b[k * 5 + 2]!, b[k * 5 + 3]!],
        score: b[k * 5 + 4]!,
        label,
      };
      if (masks) d.mask = masks[k]!;
      return d;
    });
    return { width, height, numClasses: this.head.numClasses, detections };
  }
}

/** Build the head part for backbone channels `inChannels`. */
export function createDetectionHead(inChannels: readonly number[], opts: DetHeadOptions): DetectionHead {
  const { kind, ...rest } = opts;
  if (kind === 'mask_rcnn') return new MaskRCNNHead({ ...(rest as Omit<MaskRCNNConfig, 'inChannels'>), inChannels });
  if (kind === 'retinanet') return new RetinaNetHead({ ...(rest as Omit<RetinaNetConfig, 'inChannels'>), inChannels });
  throw new InvalidArgumentError(`unknown detection head "${String(kind)}"; use 'mask_rcnn' or 'retinanet'`);
}

/**
 * Compose a detector from any dense backbone and a head kind (channels from `featureInfo`; Mask
 * R-CNN pools RoIs at the backbone's first four reductions unless `roiStrides` is given).
 */
export function createDetector(opts: { backbone: FeatureExtractor; head: DetHeadKind | DetHeadOptions }): Detector {
  const headOpts: DetHeadOptions = typeof opts.head === 'string' ? ({ kind: opts.head } as DetHeadOptions) : opts.head;
  const info = opts.backbone.featureInfo;
  if (headOpts.kind === 'mask_rcnn' && !headOpts.roiStrides && (headOpts.startLevel ?? 0) === 0)
    return new Detector(
      opts.backbone,
      createDetectionHead(
        info.map((f) => f.channels),
        { ...headOpts, roiStrides: info.slice(0, 4).map((f) => f.reduction) },
      ),
    );
  return new Detector(
    opts.backbone,
    createDetectionHead(
      info.map((f) => f.channels),
      headOpts,
    ),
  );
}

// ---- official configs ------------------------------------------------------------------------------

const WHAT = 'detection head config';

/** A nested object of the config (`test_cfg`, `test_cfg.rpn`), `{}` when absent. */
const sub = (cfg: OfficialConfig, key: string): OfficialConfig => {
  const v = cfg[key];
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new InvalidArgumentError(`${WHAT}: "${key}" must be an object`);
  return v as OfficialConfig;
};

function extraConvs(cfg: OfficialConfig): ExtraConvs {
  const v = cfg['add_extra_convs'] ?? false;
  if (v === true) return 'on_input'; // mmdet: True means 'on_input'
  if (v === false || v === 'on_input' || v === 'on_lateral' || v === 'on_output') return v;
  throw new InvalidArgumentError(
    `${WHAT}: "add_extra_convs" must be false, true, 'on_input', 'on_lateral' or 'on_output', got ${JSON.stringify(v)}`,
  );
}

/**
 * Head options from an official config as in `variants` / the golden metadata (Mask R-CNN:
 * `rpn_feat_channels` …, RetinaNet: `stacked_convs` …), without the backbone channels — ready for
 * `createDetector({ backbone, head: detectionOptionsFromConfig(variants.maskrcnn_coco_dat.config) })`.
 */
export function detectionOptionsFromConfig(cfg: OfficialConfig): DetHeadOptions {
  const c = configReader(WHAT, cfg);
  const test = sub(cfg, 'test_cfg');
  if ('rpn_feat_channels' in cfg) {
    const rpn = configReader(`${WHAT} (test_cfg.rpn)`, sub(test, 'rpn'));
    const rcnn = configReader(`${WHAT} (test_cfg.rcnn)`, sub(test, 'rcnn'));
    return {
      kind: 'mask_rcnn',
      fpnChannels: c.num('fpn_channels', 256),
      numOuts: c.num('num_outs', 5),
      startLevel: c.num('start_level', 0),
      addExtraConvs: extraConvs(cfg),
      rpnFeatChannels: c.num('rpn_feat_channels'),
      anchorScales: c.numbers('anchor_scales', [8]),
      anchorRatios: c.numbers('anchor_ratios', [0.5, 1, 2]),
      anchorStrides: c.numbers('anchor_strides', [4, 8, 16, 32, 64]),
      roiStrides: c.numbers('roi_strides', [4, 8, 16, 32]),
      fcOutChannels: c.num('fc_out_channels', 1024),
      maskChannels: c.num('mask_channels', 256),
      numClasses: c.num('num_classes', 80),
      testCfg: {
        rpn: {
          nmsPre: rpn.num('nms_pre', 1000),
          maxPerImg: rpn.num('max_per_img', 1000),
          iouThreshold: rpn.num('iou_threshold', 0.7),
          minBboxSize: rpn.num('min_bbox_size', 0),
        },
        rcnn: {
          scoreThr: rcnn.num('score_thr', 0.05),
          iouThreshold: rcnn.num('iou_threshold', 0.5),
          maxPerImg: rcnn.num('max_per_img', 100),
          maskThrBinary: rcnn.num('mask_thr_binary', 0.5),
        },
      },
    };
  }
  if ('stacked_convs' in cfg) {
    const t = configReader(`${WHAT} (test_cfg)`, test);
    return {
      kind: 'retinanet',
      fpnChannels: c.num('fpn_channels', 256),
      numOuts: c.num('num_outs', 5),
      startLevel: c.num('start_level', 1),
      addExtraConvs: extraConvs(cfg),
      featChannels: c.num('feat_channels', 256),
      stackedConvs: c.num('stacked_convs'),
      numClasses: c.num('num_classes', 80),
      octaveBaseScale: c.num('octave_base_scale', 4),
      scalesPerOctave: c.num('scales_per_octave', 3),
      anchorRatios: c.numbers('anchor_ratios', [0.5, 1, 2]),
      anchorStrides: c.numbers('anchor_strides', [8, 16, 32, 64, 128]),
      testCfg: {
        nmsPre: t.num('nms_pre', 1000),
        scoreThr: t.num('score_thr', 0.05),
        iouThreshold: t.num('iou_threshold', 0.5),
        maxPerImg: t.num('max_per_img', 100),
      },
    };
  }
  throw new InvalidArgumentError(
    `${WHAT} describes neither Mask R-CNN (rpn_feat_channels) nor RetinaNet (stacked_convs): ${JSON.stringify(cfg)}`,
  );
}

/**
 * The head part (neck + detection heads, no backbone) from an official config, for backbone
 * channels `in_channels` (like `segmentationHeadFromConfig`).
 */
export function detectionHeadFromConfig(cfg: OfficialConfig): DetectionHead {
  return createDetectionHead(configReader(WHAT, cfg).numbers('in_channels'), detectionOptionsFromConfig(cfg));
}
