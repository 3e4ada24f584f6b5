/**
 * The contracts that make modules swappable across packages.
 *
 * Layout: every public API takes and returns NHWC tensors ([batch, height, width, channels]), the tfjs
 * convention. PyTorch's NCHW appears only in checkpoints (handled by the weight layouts) and in the
 * golden files (converted by the parity harness).
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

/**
 * An attention (token mixer) over a 2-D map: NHWC in, same shape out. DAT's deformable attention,
 * DBRA and the GLMix mixer all implement it, so any one can be placed in another package's blocks.
 */
export interface Attention2d extends Module {
  /** channels it expects */
  readonly dim: number;
  forward(x: tf.Tensor4D): tf.Tensor4D;
}

/** A backbone that yields a feature pyramid; heads see backbones only through this. */
export interface DenseBackbone extends Module {
  readonly featureInfo: readonly FeatureInfo[];
  /** x [B,H,W,3] → one map per `featureInfo` entry, [B, H/r, W/r, channels] (rounding per model). */
  forwardFeatures(x: tf.Tensor4D): tf.Tensor4D[];
}

/** A classifier: the pyramid plus a head. */
export interface Classifier extends DenseBackbone {
  readonly numClasses: number;
  /** x [B,H,W,3] → logits [B, numClasses] */
  forward(x: tf.Tensor4D): tf.Tensor2D;
}

export type RGB = readonly [number, number, number];

/** How the official evaluation prepared inputs for a released model. */
export interface InputConfig {
  /** [height, width] the model was evaluated at */
  size: readonly [number, number];
  mean: RGB;
  std: RGB;
  /** classification eval: resize the short side to size/cropPct then centre-crop (1 = no crop) */
  cropPct: number;
  interpolation: 'bicubic' | 'bilinear';
}

export const IMAGENET_MEAN: RGB = [0.485, 0.456, 0.406];
export const IMAGENET_STD: RGB = [0.229, 0.224, 0.225];
