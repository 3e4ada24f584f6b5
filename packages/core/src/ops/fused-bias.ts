/**
 * A convolution or a matrix product with its bias added inside the same kernel: tfjs' `tf.fused.conv2d`,
 * `tf.fused.depthwiseConv2d` and `tf.fused.matMul`, which tfjs-backend-wasm runs in XNNPACK with the
 * bias as the accumulators' start. The composite (the product, then `tf.add` of the bias) is a second
 * pass over the output: on wasm a broadcast add of ~2 ns a value, 18 of GLNet-4G's 369 ms at 224² on 2
 * threads (65 adds of [1,14,14,256] + [256] alone took 5.8 ms).
 *
 * The fused kernel starts each sum from the bias instead of adding it last, so results differ from the
 * composite by float32 rounding (tested within 1e-5·max(1,|ref|)). It runs on wasm for inference only:
 * under a gradient tape the layers take the composite, whose gradients are the reference ones, and
 * `tf.env().set('DYNAVIT_FUSED_BIAS', false)` keeps the composite everywhere.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The tfjs flag that lets `Conv2d` and `Linear` add their bias inside the product (default true). */
export const FUSED_BIAS_FLAG = 'DYNAVIT_FUSED_BIAS';

/** The flag's value, registering it (default true) where it is not yet: tfjs throws on an unknown flag. */
function fusedBiasFlag(): boolean {
  try {
    return tf.env().getBool(FUSED_BIAS_FLAG);
  } catch {
    tf.env().registerFlag(FUSED_BIAS_FLAG, () => true);
    return tf.env().getBool(FUSED_BIAS_FLAG);
  }
}
fusedBiasFlag(); // registered on import, so that tf.env().set(FUSED_BIAS_FLAG, false) works at once

/** Whether a layer's bias goes inside its product here and now: wasm, no gradient recorded, the flag on. */
export function useFusedBias(): boolean {
  return tf.getBackend() === 'wasm' && tf.engine().state.gradientDepth === 0 && fusedBiasFlag();
}

type Pad = [[number, number], [number, number], [number, number], [number, number]];

/** `tf.conv2d` (NHWC, explicit padding) plus `bias` [Cout], fused where {@link useFusedBias} says so. */
export function conv2dWithBias(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor | null,
  strides: [number, number],
  pad: Pad,
  dilations: [number, number],
): tf.Tensor4D {
  if (bias && useFusedBias())
    return tf.fused.conv2d({ x, filter, strides, pad, dataFormat: 'NHWC', dilations, bias: bias as tf.Tensor1D });
  const y = tf.conv2d(x, filter, strides, pad, 'NHWC', dilations);
  return bias ? tf.add(y, bias) : y;
}

/**
 * `tf.depthwiseConv2d` (NHWC, explicit padding) plus `bias`, fused where {@link useFusedBias} says so
 * and the padding is the same on every side (tfjs' fused depthwise op takes one number).
 */
export function depthwiseConv2dWithBias(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor | null,
  strides: [number, number],
  pad: Pad,
  dilations: [number, number],
): tf.Tensor4D {
  const p = pad[1][0];
  const even = pad[1][1] === p && pad[2][0] === p && pad[2][1] === p;
  if (bias && even && useFusedBias())
    return tf.fused.depthwiseConv2d({
      x,
      filter,
      strides,
      pad: p,
      dataFormat: 'NHWC',
      dilations,
      bias: bias as tf.Tensor1D,
    });
  const y = tf.depthwiseConv2d(x, filter, strides, pad, 'NHWC', dilations);
  return bias ? tf.add(y, bias) : y;
}

/** `a · b` plus `bias` [N] for a [M, K] and b [K, N], fused where {@link useFusedBias} says so. */
export function matMulWithBias(a: tf.Tensor2D, b: tf.Tensor2D, bias: tf.Tensor | null): tf.Tensor2D {
  if (bias && useFusedBias()) return tf.fused.matMul({ a, b, bias }) as tf.Tensor2D;
  const y = tf.matMul(a, b) as tf.Tensor2D;
  return bias ? (tf.add(y, bias) as tf.Tensor2D) : y;
}
