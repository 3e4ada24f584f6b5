/** Test support (not published): a tiny stand-in dense backbone for composing heads in tests. */
import type * as tf from '@tensorflow/tfjs-core';
import { tidy } from '@tensorflow/tfjs-core';
import { Conv2d, type DenseBackbone, type FeatureInfo, Module, ModuleList } from '@dynavit/core';

/** Stride of each stage relative to the one before (unpadded convs with kernel = stride). */
const STAGE_STRIDES = [4, 2, 2, 2];
const CHANNELS = [8, 16, 24, 32];

/** Strided convs (strides 4, 8, 16, 32; 8/16/24/32 channels), featureInfo derived from the real layers. */
export class TinyBackbone extends Module implements DenseBackbone {
  readonly kind = 'backbone' as const;
  /** the last stage needs one pixel */
  readonly minInputSize = 32;
  readonly stages = this.child(
    'stages',
    new ModuleList(STAGE_STRIDES.map((s, i) => new Conv2d(CHANNELS[i - 1] ?? 3, CHANNELS[i]!, s, { stride: s }))),
  );
  readonly featureInfo: FeatureInfo[] = CHANNELS.map((channels, i) => ({
    channels,
    reduction: 4 << i,
    module: `stages.${i}`,
  }));

  featureSizes(side: number): number[] {
    let s = side;
    return STAGE_STRIDES.map((r) => {
      s = Math.floor(s / r);
      return s;
    });
  }

  forwardFeatures(x: tf.Tensor4D): tf.Tensor4D[] {
    return tidy(() => {
      const outs: tf.Tensor4D[] = [];
      let h: tf.Tensor4D = x;
      for (const s of this.stages.items) {
        h = s.forward(h) as tf.Tensor4D;
        outs.push(h);
      }
      return outs;
    });
  }
}
