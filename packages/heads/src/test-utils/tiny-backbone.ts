/** Test support (not published): a tiny stand-in dense backbone for composing heads in tests. */
import type * as tf from '@tensorflow/tfjs-core';
import { tidy } from '@tensorflow/tfjs-core';
import { Conv2d, type DenseBackbone, type FeatureInfo, Module, ModuleList } from '@dynavit/core';

/** Strided convs (strides 4, 8, 16, 32; 8/16/24/32 channels), featureInfo derived from the real layers. */
export class TinyBackbone extends Module implements DenseBackbone {
  readonly stages = this.child('stages', new ModuleList([new Conv2d(3, 8, 4, { stride: 4 }), new Conv2d(8, 16, 2, { stride: 2 }), new Conv2d(16, 24, 2, { stride: 2 }), new Conv2d(24, 32, 2, { stride: 2 })]));
  readonly featureInfo: FeatureInfo[] = [8, 16, 24, 32].map((channels, i) => ({ channels, reduction: 4 << i, module: `stages.${i}` }));
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
