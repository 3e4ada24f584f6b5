/** Golden io files of the heads: the backbone features they are fed. */
import type * as tf from '@tensorflow/tfjs-core';
import { toNHWC } from '@dynavit/core';

/** The backbone features a golden case feeds the head, `input.0`, `input.1`, … (NCHW) → NHWC, finest first. */
export const goldenFeatures = (inputs: Readonly<Record<string, tf.Tensor>>): tf.Tensor4D[] =>
  Object.keys(inputs)
    .filter((k) => k.startsWith('input.'))
    .sort((a, b) => Number(a.slice('input.'.length)) - Number(b.slice('input.'.length)))
    .map((k) => toNHWC(inputs[k]! as tf.Tensor4D));
