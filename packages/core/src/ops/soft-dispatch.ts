/**
 * Soft dispatch of slots back to the pixels (GLMix step 8, glmix.md §4.1): every pixel l of image b takes
 * the slots' values weighted by the softmax, over the slots, of its column of the assignment logits:
 *
 *     out[b, l, :] = Σ_s softmax_s(logits[b, :, l])[s] · slots[b, s, :]
 *
 * logits [B, S, L] (the same logits the clustering softmaxes over L), slots [B, S, C] → [B, L, C].
 *
 * Two paths:
 * - **composite** (the reference, differentiable): transpose the logits to [B, L, S], softmax, one
 *   batched product with the slots;
 * - **fused**, `DynavitSoftDispatch` (cpu and WebGPU, inference): per pixel, the softmax over its S logits
 *   read in place (no transposed copy, no [B, L, S] weights stored) and the weighted sum of the slots. On
 *   WebGPU one WGSL invocation per pixel and 4 channels (soft-dispatch-webgpu.ts); on cpu a host loop
 *   in float64.
 *   Not on wasm: there the product runs in XNNPACK and the composite is the faster.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank, assertShape } from './assert.js';
import { useFusedKernels, writeFloat32 } from './kernel-scope.js';
import { softDispatchProgram } from './soft-dispatch-webgpu.js';
import { runWebGPUProgram } from './webgpu-program.js';

export const SOFT_DISPATCH_KERNEL = 'DynavitSoftDispatch';

export interface SoftDispatchOptions {
  /**
   * 'fused' (cpu, wasm, webgpu): one kernel; 'composite': transpose, softmax and a product (differentiable).
   * Default: fused for inference on cpu and webgpu, composite while a gradient is recorded or elsewhere.
   */
  path?: 'fused' | 'composite';
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The host loop: logits [B,S,L], slots [B,S,C] → [B,L,C]. */
function softDispatchHost({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { logits, slots } = inputs as Record<string, tf.TensorInfo>;
  const [b, s, l] = logits!.shape as [number, number, number];
  const c = slots!.shape[2]!;
  const lv = be.readSync(logits!.dataId) as Float32Array;
  const sv = be.readSync(slots!.dataId) as Float32Array;
  const out = new Float32Array(b * l * c);
  const w = new Float64Array(s);
  const acc = new Float64Array(c);
  for (let bi = 0; bi < b; bi++)
    for (let li = 0; li < l; li++) {
      let max = Number.NEGATIVE_INFINITY;
      for (let si = 0; si < s; si++) {
        const x = lv[(bi * s + si) * l + li]!;
        w[si] = x;
        if (x > max) max = x;
      }
      let sum = 0;
      for (let si = 0; si < s; si++) {
        const e = Math.exp(w[si]! - max);
        w[si] = e;
        sum += e;
      }
      acc.fill(0);
      for (let si = 0; si < s; si++) {
        const ws = w[si]! / sum;
        const so = (bi * s + si) * c;
        for (let ci = 0; ci < c; ci++) acc[ci]! += ws * sv[so + ci]!;
      }
      out.set(acc, (bi * l + li) * c);
    }
  return writeFloat32(be, out, [b, l, c]);
}

function softDispatchWebGPU({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { logits, slots } = inputs as Record<string, tf.TensorInfo>;
  const program = softDispatchProgram(logits!.shape as [number, number, number], slots!.shape[2]!);
  return runWebGPUProgram(backend, program, [logits!, slots!]);
}

const FUSED_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [SOFT_DISPATCH_KERNEL]: softDispatchHost },
  wasm: { [SOFT_DISPATCH_KERNEL]: softDispatchHost },
  webgpu: { [SOFT_DISPATCH_KERNEL]: softDispatchWebGPU },
};

/** Where inference takes the fused kernel by default (wasm's composite product runs in XNNPACK). */
const AUTO_BY_BACKEND = { cpu: FUSED_BY_BACKEND.cpu!, webgpu: FUSED_BY_BACKEND.webgpu! };

/**
 * GLMix's soft dispatch: logits [B, S, L], slots [B, S, C] → [B, L, C], each pixel's softmax over the S
 * slots of its logits times the slots (see the file comment). Differentiable on the composite path.
 */
export function softDispatch(logits: tf.Tensor3D, slots: tf.Tensor3D, options: SoftDispatchOptions = {}): tf.Tensor3D {
  const op = 'softDispatch';
  assertRank(op, 'logits', logits, 3);
  assertRank(op, 'slots', slots, 3);
  const [b, s] = logits.shape;
  assertShape(op, 'slots', slots, [b, s, null]);
  for (const [name, t] of [
    ['logits', logits],
    ['slots', slots],
  ] as const)
    if (t.dtype !== 'float32') throw new InvalidArgumentError(`${op}: ${name} must be float32, got ${t.dtype}`);
  const asked = options.path === 'fused';
  if (asked && !useFusedKernels(FUSED_BY_BACKEND, true))
    throw new InvalidArgumentError(`${op}: the fused kernel runs on cpu, wasm and webgpu, not ${tf.getBackend()}`);
  if (asked || (options.path !== 'composite' && useFusedKernels(AUTO_BY_BACKEND)))
    return tf.engine().runKernel(SOFT_DISPATCH_KERNEL, { logits, slots }, {}) as tf.Tensor3D;
  return tf.tidy(() => tf.matMul(tf.softmax(tf.transpose(logits, [0, 2, 1])), slots) as tf.Tensor3D);
}
