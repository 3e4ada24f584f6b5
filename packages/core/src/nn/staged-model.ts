/**
 * The shape every dynavit image model shares (DAT, DeBiFormer, GLNet): down-sampling i, then stage i,
 * for i = 0 … 3; a classifier puts a head on the last raw stage map, a dense backbone puts an output
 * norm on each. The stage loop, the input checks and the classifier/backbone split live here once;
 * a family's model class says what its down-sampling, stages, norms and head are.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Classifier, DenseBackbone, FeatureInfo } from '../contracts.js';
import { InputSizeError, InvalidArgumentError, ShapeError } from '../errors.js';
import { applyOutputNorms } from './blocks.js';
import type { Layer } from './layers.js';
import { Module, type ModuleList } from './module.js';

/**
 * Side of each stage map for an input side. `overlapping`: a stride-2 conv stem twice then stride-2
 * convs (⌈·/2⌉ each); otherwise a 4×4 patchify then 2×2 patch merging (floors).
 */
export function stageSizes(side: number, overlapping: boolean, stages = 4): number[] {
  const step = overlapping ? (n: number) => Math.ceil(n / 2) : (n: number) => Math.floor(n / 2);
  const out: number[] = [];
  let h = step(step(side));
  for (let i = 0; i < stages; i++) {
    out.push(h);
    h = step(h);
  }
  return out;
}

/** `tf.tidy` for a function returning a plain object of tensors. */
export const tidyObj = <T>(fn: () => T): T => tf.tidy(fn as () => tf.TensorContainer) as T;

export abstract class StagedModel extends Module {
  /** `classifier` (a head on the last stage) or `backbone` (output norms on every stage) */
  abstract readonly kind: 'classifier' | 'backbone';
  abstract readonly featureInfo: readonly FeatureInfo[];
  /** 0 for dense backbones */
  abstract readonly numClasses: number;
  /** input channels (3: RGB) */
  readonly inChannels: number = 3;
  #minInputSize: number | undefined;

  /** @param modelName used in error messages ("DAT", "DeBiFormer", …) */
  protected constructor(readonly modelName: string) {
    super();
  }

  /** Side of each stage map for an input side (the model's own rounding). */
  abstract featureSizes(side: number): number[];
  /** Down-sampling before stage i (i = 0: the stem). */
  protected abstract downsample(i: number, x: tf.Tensor4D): tf.Tensor4D;
  /** Stage i. */
  protected abstract stage(i: number, x: tf.Tensor4D): tf.Tensor4D;
  /** The dense backbone's output norms (null for classifiers). */
  protected abstract get outputNorms(): ModuleList<Module & Layer> | null;
  /** Classifier head on the last raw stage map [B,h,w,C] → logits [B, numClasses]. */
  protected abstract applyHead(last: tf.Tensor4D): tf.Tensor2D;
  /** Whether stage sizes `sizes` (for an input side) can run; the default: every map at least 1×1. */
  protected sizesOk(sizes: readonly number[]): boolean {
    return sizes.every((h) => h >= 1);
  }
  /** Why an input side is too small, for the error message (names the stage and the constraint). */
  protected tooSmallReason(side: number): string {
    const i = this.featureSizes(side).findIndex((h) => h < 1);
    return `stage ${i} would be empty`;
  }

  /** Smallest input side the model takes. */
  get minInputSize(): number {
    this.#minInputSize ??=
      Array.from({ length: 512 }, (_, s) => s + 1).find((s) => this.sizesOk(this.featureSizes(s))) ?? 512;
    return this.#minInputSize;
  }

  /** A typed error for anything but [B,H,W,inChannels] with H, W ≥ `minInputSize`. */
  protected checkInput(x: tf.Tensor): void {
    const C = this.inChannels;
    const name = this.modelName;
    if (x.rank !== 4)
      throw new ShapeError(name, 'x', `rank 4 [B,H,W,${C}] (NHWC)`, `rank ${x.rank} [${x.shape.join(',')}]`);
    if (x.shape[3] !== C)
      throw new ShapeError(
        name,
        'x',
        `${C} channels${C === 3 ? ' (RGB)' : ''} on the last axis (NHWC)`,
        `${x.shape[3]} channels in [${x.shape.join(',')}]`,
      );
    const [, H, W] = x.shape as [number, number, number, number];
    if (H < this.minInputSize || W < this.minInputSize)
      throw new InputSizeError(
        `${name}: input ${H}×${W} is too small: the smallest side this model takes is ${this.minInputSize} px (${this.tooSmallReason(Math.min(H, W))})`,
      );
  }

  /** The raw (un-normalised) output of every stage. */
  forwardStages(x: tf.Tensor4D): tf.Tensor4D[] {
    this.checkInput(x);
    return tf.tidy(() => this.runStages(x));
  }

  /**
   * The stage loop on a checked input (call inside a tidy): down-sampling i then stage i; with
   * `stageInputs`, each stage's input (the down-sampling output) is pushed to it.
   */
  protected runStages(x: tf.Tensor4D, stageInputs?: tf.Tensor4D[]): tf.Tensor4D[] {
    const outs: tf.Tensor4D[] = [];
    let h = x;
    for (let i = 0; i < this.featureInfo.length; i++) {
      h = this.downsample(i, h);
      stageInputs?.push(h);
      h = this.stage(i, h);
      outs.push(h);
    }
    return outs;
  }

  /** x [B,H,W,C] → one map per `featureInfo` entry (classifiers: the raw stage maps; backbones: after the output norms). */
  forwardFeatures(x: tf.Tensor4D): tf.Tensor4D[] {
    return tf.tidy(() => applyOutputNorms(this.forwardStages(x), this.outputNorms));
  }

  /** The classifier head on `forwardFeatures`' maps (it reads the last) → logits [B, numClasses]. */
  forwardHead(features: readonly tf.Tensor4D[]): tf.Tensor2D {
    if (this.kind !== 'classifier')
      throw new InvalidArgumentError(
        `${this.modelName}: this is a dense backbone (no classifier); use forwardFeatures`,
      );
    const last = features[features.length - 1];
    if (!last)
      throw new InvalidArgumentError(`${this.modelName}: forwardHead needs the feature maps of forwardFeatures`);
    return tf.tidy(() => this.applyHead(last));
  }

  /** x [B,H,W,C] → logits [B, numClasses]. */
  forward(x: tf.Tensor4D): tf.Tensor2D {
    if (this.kind !== 'classifier')
      throw new InvalidArgumentError(
        `${this.modelName}: this is a dense backbone (no classifier); use forwardFeatures`,
      );
    return tf.tidy(() => this.forwardHead(this.forwardStages(x)));
  }
}

/**
 * A staged model as the registry's union, discriminated by its `kind`. One class serves both kinds
 * (the official code builds classifier and dense backbone from the same blocks); its `forward` and
 * `forwardHead` refuse a backbone with a typed error, so each view of the union holds.
 */
export function asBuiltModel(model: StagedModel): Classifier | DenseBackbone {
  return model as unknown as Classifier | DenseBackbone;
}
