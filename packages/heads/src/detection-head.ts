/**
 * What the Mask R-CNN and RetinaNet heads share (an mmdet 2.x detector without its backbone): the
 * `neck` (FPN) on the backbone's maps, a dense head on every neck level (RPN / RetinaHead) with its
 * anchors, and the model contract of every head (`DenseHead`: kind 'head', task 'detection').
 */
import * as tf from '@tensorflow/tfjs-core';
import { type DenseHead, InvalidArgumentError, Module } from '@dynavit/core';
import { AnchorGenerator, type AnchorGeneratorConfig } from './anchors.js';
import { type ExtraConvs, FPN, type FPNConfig } from './fpn.js';
import type { ImageMeta } from './roi-heads.js';
import type { DenseOutputs } from './rpn-head.js';

export type DetHeadKind = 'mask_rcnn' | 'retinanet';

/** The FPN neck of a detection head (mmdet `neck=dict(type='FPN', …)`). */
export interface DetectionNeckConfig {
  /** backbone channels, finest first (C2..C5) */
  inChannels: readonly number[];
  /** neck width (256) */
  fpnChannels?: number;
  /** neck outputs (5), one per anchor stride */
  numOuts?: number;
  /** first backbone level used (Mask R-CNN: 0; RetinaNet: DAT/BiFormer 1 (C3..C5), DeBiFormer 0) */
  startLevel?: number;
  /**
   * Levels beyond the backbone's (Mask R-CNN: DeBiFormer/BiFormer false = P5 subsampled, DAT 'on_input'
   * = conv on C5; RetinaNet: DAT/BiFormer 'on_input', DeBiFormer false)
   */
  addExtraConvs?: ExtraConvs;
}

/** The neck outputs of mmdet's detector configs. */
export const NUM_NECK_OUTS = 5;

/** What a detection head computes on the device: the neck maps and the dense head's raw outputs (NHWC). */
export type DetectionForward = { neck: tf.Tensor4D[] } & DenseOutputs;

export abstract class FPNDetectionHead extends Module implements DenseHead {
  readonly kind = 'head' as const;
  readonly task = 'detection' as const;
  /** which detector head this is */
  abstract readonly headType: DetHeadKind;
  readonly neck: FPN;
  readonly anchors: AnchorGenerator;

  /**
   * Registers `neck` (first, as in mmdet's state dicts); the subclass then registers its heads.
   * @param detector the detector's name, for error messages
   * @param defaults the detector's neck defaults (`startLevel`, `addExtraConvs`)
   */
  protected constructor(
    protected readonly detector: string,
    neck: DetectionNeckConfig,
    defaults: Required<Pick<FPNConfig, 'startLevel' | 'addExtraConvs'>>,
    anchors: AnchorGeneratorConfig,
    readonly numClasses: number,
  ) {
    const numOuts = neck.numOuts ?? NUM_NECK_OUTS;
    const nStrides = anchors.strides.length;
    if (nStrides !== numOuts)
      throw new InvalidArgumentError(`${detector}: ${nStrides} anchor strides for ${numOuts} neck outputs`);
    super();
    this.anchors = new AnchorGenerator(anchors);
    const fpn = new FPN({
      inChannels: neck.inChannels,
      outChannels: neck.fpnChannels ?? 256,
      numOuts,
      startLevel: neck.startLevel ?? defaults.startLevel,
      addExtraConvs: neck.addExtraConvs ?? defaults.addExtraConvs,
    });
    this.neck = this.child('neck', fpn);
  }

  /** neck width: the channels of every neck output */
  get fpnChannels(): number {
    return this.neck.config.outChannels;
  }

  /** backbone channels, finest first (the neck's `in_channels`) */
  get inChannels(): readonly number[] {
    return this.neck.config.inChannels;
  }

  /** The dense head on the neck levels: RPN (Mask R-CNN) or RetinaHead. */
  protected abstract denseForward(neck: readonly tf.Tensor4D[]): DenseOutputs;

  /** backbone maps (NHWC) → neck maps and the dense head's raw outputs, on the device. */
  forward(feats: readonly tf.Tensor4D[]): DetectionForward {
    return tf.tidy(() => {
      const neck = this.neck.forward(feats);
      return { neck, ...this.denseForward(neck) };
    });
  }

  /** `forward` on a batch after checking that there is one image meta per image. */
  protected forwardBatch(feats: readonly tf.Tensor4D[], metas: readonly ImageMeta[]): DetectionForward {
    const B = feats[0]?.shape[0] ?? 0;
    if (metas.length !== B)
      throw new InvalidArgumentError(`${this.detector}: ${metas.length} image metas for a batch of ${B}`);
    return this.forward(feats);
  }
}
