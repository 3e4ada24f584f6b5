/** Gradient barrier (torch `.detach()`), needed wherever integer indices are derived from differentiable values. */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Returns a tensor with the values, shape and dtype of `x` that the gradient tape does not connect to
 * `x`: gradients stop here, as with torch `.detach()` / TF `stop_gradient`. Shape: same as `x`.
 *
 * Why it exists: tfjs's GatherV2 gradient returns the (int32) indices themselves as the "gradient" of
 * the indices input, and the engine rejects any non-float32 gradient. So when gather indices are
 * computed from a tensor that is being differentiated (grid_sample corners are `floor(coord)`), the
 * backward pass throws unless the index path is cut.
 *
 * How: a `tf.customGrad` op that declares no tensor inputs and closes over `x`. Ops run inside a
 * custom op's forward function are not recorded on the tape, and the op itself has no inputs, so
 * its output is a constant as far as `tf.grad` is concerned. Without a gradient tape this is just
 * `tf.clone` (an Identity kernel: no copy of the data).
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const detached = tf.customGrad(() => ({ value: tf.clone(x), gradFunc: () => [] }));
  return detached() as T;
}
