import type { Tensor4D } from '@tensorflow/tfjs-core';
import type { DenseBackbone as CoreDenseBackbone, FeatureInfo, Module } from '@dynavit/core';

// #region contract
interface DenseBackbone extends Module {
  readonly featureInfo: readonly FeatureInfo[]; // { channels, reduction, module } per pyramid level
  forwardFeatures(x: Tensor4D): Tensor4D[]; // NHWC maps, strides 4, 8, 16, 32
}
// #endregion contract

// what the page shows is the real contract: every core DenseBackbone satisfies the excerpt
export function excerptOf(b: CoreDenseBackbone): DenseBackbone {
  return b;
}
