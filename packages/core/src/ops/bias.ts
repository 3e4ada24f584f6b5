/**
 * A layer's bias added inside its product, for inference: `tf.fused.conv2d`, `tf.fused.depthwiseConv2d`
 * and `tf.fused.matMul` take the bias as an input, so XNNPACK (wasm) starts each output's sum from it and
 * WebGPU dispatches one shader instead of two; tfjs-cpu adds it after the product, as the composite does.
 * The composite, a product then `tf.add`, is what `Conv2d` and `Linear` run under a gradient and with the
 * flag off, and what the fused path is tested against (`nn/layers.test.ts`).
 *
 * Not fused, as before: the Winograd path and grouped (not depthwise) convolutions, which add the bias
 * after their products. Measured on wasm, 2 threads, 2026-12-04 (conv then add → fused, median of 30):
 * 56²×64 → 256 1×1 5.35 → 4.82 ms, 28²×128 → 512 4.14 → 3.83 ms, 14²×256 → 1024 3.68 → 3.53 ms.
 *
 * The sum starts from the bias instead of ending with it, so the two paths differ by float32 rounding of
 * the sum's order (within 1e-5·max(1, |ref|) on the tested layers).
 */
import * as tf from '@tensorflow/tfjs-core';
import { switchFlag } from './kernel-scope.js';

/**
 * The tfjs flag that lets `Conv2d` and `Linear` add their bias inside the product (default true):
 * `tf.env().set('DYNAVIT_FUSED_BIAS', false)` keeps the product and the addition apart.
 */
export const FUSED_BIAS_FLAG = 'DYNAVIT_FUSED_BIAS';

switchFlag(FUSED_BIAS_FLAG); // registered on import, so that tf.env().set(FUSED_BIAS_FLAG, false) works at once

/**
 * Whether a layer adds its bias inside the product now: the flag on and no gradient being recorded
 * (training keeps the composite, whose gradient is tfjs' own add).
 */
export function fuseBias(): boolean {
  return tf.engine().state.gradientDepth === 0 && switchFlag(FUSED_BIAS_FLAG);
}
