/** How the CLI runs a built model on images, narrowing on `model.kind` (never on its shape). */
import type * as tf from '@tensorflow/tfjs-core';
import { type BuiltModel, InvalidArgumentError } from '@dynavit/core';

/** A head runs on a backbone's feature maps, not on images. */
export function headError(name: string): InvalidArgumentError {
  return new InvalidArgumentError(`${name} is a head: compose it with a backbone`);
}

/** Images → what the model computes: a classifier's logits, a backbone's feature maps; a head is an error. */
export function imageForward(name: string, model: BuiltModel): (x: tf.Tensor4D) => tf.Tensor | tf.Tensor[] {
  switch (model.kind) {
    case 'classifier':
      return (x) => model.forward(x);
    case 'backbone':
      return (x) => model.forwardFeatures(x);
    case 'head':
      throw headError(name);
  }
}
