/**
 * Semantic segmentation: any dense backbone + a decode head, composed through the feature-pyramid
 * contract alone (`featureInfo` gives the channels; nothing is typed twice). The module tree is
 * `backbone`, `neck`, `decode_head`, `auxiliary_head`, so an official mmseg checkpoint's
 * `state_dict` loads by name.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type FeatureExtractor,
  type DenseHead,
  InvalidArgumentError,
  Module,
  resizeBilinear,
  ShapeError,
} from '@dynavit/core';
import { FPN } from './fpn.js';
import { prepareImage, type PrepareOptions } from './preprocess.js';
import { FCNHead, FPNHead, UPerHead } from './seg-heads.js';

export type SegHeadKind = 'semantic_fpn' | 'upernet';

export interface SegHeadOptions {
  kind: SegHeadKind;
  numClasses?: number;
  /** decode-head channels (Semantic FPN 128, UperNet 512) */
  channels?: number;
  /** Semantic FPN neck width (256) */
  neckChannels?: number;
  /** UperNet auxiliary FCN head channels (256); 0 = no auxiliary head */
  auxChannels?: number;
  auxInIndex?: number;
  poolScales?: readonly number[];
}

/**
 * The head part of a segmentor: `neck` + `decode_head` (Semantic FPN) or `decode_head` +
 * `auxiliary_head` (UperNet).
 */
export class SegmentationHead extends Module implements DenseHead {
  readonly kind = 'head' as const;
  readonly task = 'segmentation' as const;
  readonly headType: SegHeadKind;
  readonly inChannels: readonly number[];
  readonly neck: FPN | null = null;
  readonly decode_head: FPNHead | UPerHead;
  readonly auxiliary_head: FCNHead | null = null;
  readonly numClasses: number;
  /**
   * @param inChannels channels of the backbone levels, finest first (`featureInfo` channels)
   * @param strides their reductions (`featureInfo` reductions, e.g. 4, 8, 16, 32)
   */
  constructor(
    inChannels: readonly number[],
    strides: readonly number[],
    readonly options: SegHeadOptions,
  ) {
    super();
    if (inChannels.length === 0 || strides.length !== inChannels.length)
      throw new InvalidArgumentError(`segmentation head: ${inChannels.length} input levels, ${strides.length} strides`);
    this.inChannels = [...inChannels];
    this.headType = options.kind;
    const numClasses = options.numClasses ?? 150;
    this.numClasses = numClasses;
    if (options.kind === 'semantic_fpn') {
      const F = options.neckChannels ?? 256;
      this.neck = this.child('neck', new FPN({ inChannels, outChannels: F, numOuts: inChannels.length }));
      const decode = new FPNHead({
        inChannels: inChannels.map(() => F),
        featureStrides: strides,
        channels: options.channels ?? 128,
        numClasses,
      });
      this.decode_head = this.child('decode_head', decode);
    } else if (options.kind === 'upernet') {
      const aux = options.auxChannels ?? 256;
      const idx = options.auxInIndex ?? 2;
      const auxIn = inChannels[idx];
      if (aux > 0 && auxIn === undefined)
        throw new InvalidArgumentError(`UperNet: aux_in_index ${idx} is not one of ${inChannels.length} levels`);
      const poolScales = options.poolScales ?? [1, 2, 3, 6];
      const decode = new UPerHead({ inChannels, channels: options.channels ?? 512, numClasses, poolScales });
      this.decode_head = this.child('decode_head', decode);
      if (aux > 0) {
        const auxHead = new FCNHead({ inChannels: auxIn!, inIndex: idx, channels: aux, numClasses });
        this.auxiliary_head = this.child('auxiliary_head', auxHead);
      }
    } else
      throw new InvalidArgumentError(
        `unknown segmentation head "${String((options as { kind: unknown }).kind)}"; use 'semantic_fpn' or 'upernet'`,
      );
  }

  /** backbone features (NHWC, finest first) → logits at the finest stride. */
  forward(features: readonly tf.Tensor4D[]): tf.Tensor4D {
    return tf.tidy(() => this.decode_head.forward(this.neck ? this.neck.forward(features) : features));
  }
}

export interface SegmentationResult {
  width: number;
  height: number;
  numClasses: number;
  /** class index per pixel, row-major [height·width] (ADE20K: dataset label = index + 1) */
  classMap: Int32Array;
}

export class Segmentor extends Module {
  readonly backbone: FeatureExtractor;
  readonly head: SegmentationHead;
  constructor(backbone: FeatureExtractor, head: SegmentationHead) {
    super();
    this.backbone = this.child('backbone', backbone);
    this.head = head;
    for (const [name, m] of head.children()) this.child(name, m);
  }

  /** x [B,H,W,3] normalised → logits [B, ⌈H/4⌉, ⌈W/4⌉, numClasses] */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const feats = this.backbone.forwardFeatures(x);
      return this.head.forward(feats);
    });
  }

  /**
   * Whole-image inference as mmseg's test: keep-ratio rescale (ADE20K scale 2048×512, optionally
   * aligned to 32 as DeBiFormer does), logits resized to the network input then to the original size,
   * argmax. image [H,W,3] RGB 0–255.
   */
  async segment(image: tf.Tensor3D, opts: Partial<PrepareOptions> = {}): Promise<SegmentationResult> {
    if (image.rank !== 3 || image.shape[2] !== 3)
      throw new ShapeError('segment', 'image', '[H,W,3] RGB', `[${image.shape.join(',')}]`);
    const prep = prepareImage(image, { scale: opts.scale ?? [2048, 512], ...opts });
    const pred = tf.tidy(() => {
      const logits = this.forward(prep.input);
      const atInput = resizeBilinear(logits, [prep.input.shape[1], prep.input.shape[2]]);
      return tf.argMax(resizeBilinear(atInput, prep.oriHw), 3);
    });
    prep.input.dispose();
    const classMap = new Int32Array(await pred.data());
    pred.dispose();
    return { width: image.shape[1], height: image.shape[0], numClasses: this.head.numClasses, classMap };
  }
}

/** Compose a segmentor from any registered dense backbone and a head kind (channels from `featureInfo`). */
export function createSegmentor(opts: { backbone: FeatureExtractor; head: SegHeadKind | SegHeadOptions }): Segmentor {
  const headOpts: SegHeadOptions = typeof opts.head === 'string' ? { kind: opts.head } : opts.head;
  const info = opts.backbone.featureInfo;
  const head = new SegmentationHead(
    info.map((f) => f.channels),
    info.map((f) => f.reduction),
    headOpts,
  );
  return new Segmentor(opts.backbone, head);
}
