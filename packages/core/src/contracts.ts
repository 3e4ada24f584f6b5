/**
 * The contracts that make modules swappable across packages: one model surface for every family
 * (timm's `forward_features` / `forward_head` / `forward`), discriminated by `kind`.
 *
 * Layout: every public API takes and returns NHWC tensors ([batch, height, width, channels]), the tfjs
 * convention. PyTorch's NCHW appears only in checkpoints (handled by the weight layouts) and in the
 * golden files (converted by the parity harness, `@dynavit/core/testing`).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Module } from './nn/module.js';

/** One level of a feature pyramid, derived from the model itself (timm's `feature_info`). */
export interface FeatureInfo {
  /** channels of this map */
  channels: number;
  /** total stride (input size / map size), e.g. 4, 8, 16, 32 */
  reduction: number;
  /** the official module path that produces it, e.g. "stages.2" */
  module: string;
}

/** What a registered model is: the discriminant of {@link BuiltModel}. */
export type ModelKind = 'classifier' | 'backbone' | 'head';

/**
 * An attention (token mixer) over a 2-D map: NHWC in, same shape out. DAT's deformable and
 * neighbourhood attention, BRA/DBRA and the GLMix mixer implement it.
 */
export interface Attention2d extends Module {
  /** channels it expects */
  readonly dim: number;
  forward(x: tf.Tensor4D): tf.Tensor4D;
}

/** What every image model has: a feature pyramid described by `featureInfo`. */
export interface FeatureExtractor extends Module {
  readonly featureInfo: readonly FeatureInfo[];
  /** smallest input side (px) the model takes */
  readonly minInputSize: number;
  /** Spatial side of each feature map for an input side (the model's own rounding). */
  featureSizes(side: number): number[];
  /** x [B,H,W,3] → one map per `featureInfo` entry, [B, H/r, W/r, channels] (rounding per model). */
  forwardFeatures(x: tf.Tensor4D): tf.Tensor4D[];
}

/** A backbone that yields a feature pyramid for dense heads; heads see backbones only through this. */
export interface DenseBackbone extends FeatureExtractor {
  readonly kind: 'backbone';
}

/** A classifier: `forward(x) = forwardHead(forwardFeatures(x))`. */
export interface Classifier extends FeatureExtractor {
  readonly kind: 'classifier';
  readonly numClasses: number;
  /** The classifier head on `forwardFeatures`' maps (it reads the last) → logits [B, numClasses]. */
  forwardHead(features: readonly tf.Tensor4D[]): tf.Tensor2D;
  /** x [B,H,W,3] → logits [B, numClasses] */
  forward(x: tf.Tensor4D): tf.Tensor2D;
}

/** A dense-prediction head (segmentation or detection) fed with a backbone's feature pyramid. */
export interface DenseHead extends Module {
  readonly kind: 'head';
  readonly task: 'segmentation' | 'detection';
  /** channels of the pyramid levels it takes (a backbone's `featureInfo` channels) */
  readonly inChannels: readonly number[];
  readonly numClasses: number;
}

/** Every model the registry builds, discriminated by `kind`. */
export type BuiltModel = Classifier | DenseBackbone | DenseHead;

export type RGB = readonly [number, number, number];

/** How the official evaluation prepared inputs for a released model. */
export interface InputConfig {
  /** [height, width] the model was evaluated at */
  size: readonly [number, number];
  mean: RGB;
  std: RGB;
  /** classification eval: resize to size/cropPct then centre-crop `size` (1 = no crop) */
  cropPct: number;
  interpolation: 'bicubic' | 'bilinear';
  /**
   * How the eval resize treats the aspect ratio (timm's `crop_mode`): `center` (default) resizes the
   * shorter side to size/cropPct keeping the aspect; `squash` resizes both sides to size/cropPct,
   * aspect not kept (DAT's `data/build.py`: `Resize((256, 256))`, or straight to 384×384 at 384).
   */
  cropMode?: 'center' | 'squash';
}

/** A dense task's test pipeline (mmseg/mmdet) for one backbone: keep-ratio resize, then stretch or pad. */
export interface DenseTestConfig {
  /** (long, short) keep-ratio test scale: ADE20K (2048, 512), COCO (1333, 800) */
  scale: readonly [number, number];
  /** stretch the rescaled image to multiples of this (DeBiFormer's `AlignResize`) */
  alignTo?: number;
  /** zero-pad bottom/right to multiples of this (mmdet `Pad size_divisor`) */
  padTo?: number;
}

/** The official test pipelines of a dense backbone, per task (absent: the mmseg/mmdet defaults). */
export interface DenseEvalConfig {
  segmentation?: DenseTestConfig;
  detection?: DenseTestConfig;
}

export const IMAGENET_MEAN: RGB = [0.485, 0.456, 0.406];
export const IMAGENET_STD: RGB = [0.229, 0.224, 0.225];

/** The ImageNet evaluation most released classifiers use: `size`² bicubic, ImageNet mean/std, `cropPct`. */
export function imagenetInput(cropPct: number, size = 224): InputConfig {
  return { size: [size, size], mean: IMAGENET_MEAN, std: IMAGENET_STD, cropPct, interpolation: 'bicubic' };
}

/** One backend's availability, as Node's and the browser's backend choosers report it. */
export interface BackendProbe<B extends string = string> {
  backend: B;
  available: boolean;
  /** why it is (not) available */
  reason: string;
}

/** The backend a chooser activated (Node: `@dynavit/backend-node`, browser: `@dynavit/backend-web`). */
export interface BackendChoice<B extends string = string> {
  backend: B;
  /** the tfjs backend name now active (`tf.getBackend()`) */
  tfjsName: string;
  /** why it was chosen */
  reason: string;
  /** every backend that was considered before it, with why it was passed over */
  skipped: BackendProbe<B>[];
  /** the GPU adapter, when the choice runs on one (e.g. "google / swiftshader") */
  adapter?: string;
  /** the threads a CPU backend computes on, when it can use more than one (Node's wasm: `--threads`) */
  threads?: number;
}
