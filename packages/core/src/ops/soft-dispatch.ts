/**
 * GLMix's two softmax-weighted products over the same assignment logits [B, S, L] (glmix.md §4.1): the soft
 * clustering of pixels into slots (`softCluster`, step 5: softmax over the L pixels of each slot's row)
 * and the soft dispatch back (`softDispatch`, step 8, below). Each has a composite (softmax and a batched
 * product: the reference, differentiable) and a fused kernel (`DynavitSoftCluster`, `DynavitSoftDispatch`)
 * on cpu, wasm and WebGPU. Inference takes the fused dispatch on cpu and WebGPU and the fused clustering on
 * cpu; on wasm the composites' products run in XNNPACK and are the faster, so they stay the default there.
 *
 * Soft dispatch of slots back to the pixels (GLMix step 8): every pixel l of image b takes
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
import { checkKernelPath, useFusedKernels, writeFloat32 } from './kernel-scope.js';
import { softClusterProgram, softDispatchProgram } from './soft-dispatch-webgpu.js';
import { runWebGPUProgram } from './webgpu-program.js';

export const SOFT_DISPATCH_KERNEL = 'DynavitSoftDispatch';
export const SOFT_CLUSTER_KERNEL = 'DynavitSoftCluster';

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

/** The clustering's host loop: logits [B,S,L], tokens [B,L,C] → [B,S,C]. */
function softClusterHost({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { logits, tokens } = inputs as Record<string, tf.TensorInfo>;
  const [b, s, l] = logits!.shape as [number, number, number];
  const c = tokens!.shape[2]!;
  const lv = be.readSync(logits!.dataId) as Float32Array;
  const tv = be.readSync(tokens!.dataId) as Float32Array;
  const out = new Float32Array(b * s * c);
  const acc = new Float64Array(c);
  for (let bi = 0; bi < b; bi++)
    for (let si = 0; si < s; si++) {
      const row = (bi * s + si) * l;
      let max = Number.NEGATIVE_INFINITY;
      for (let li = 0; li < l; li++) max = Math.max(max, lv[row + li]!);
      let sum = 0;
      acc.fill(0);
      for (let li = 0; li < l; li++) {
        const e = Math.exp(lv[row + li]! - max);
        sum += e;
        const to = (bi * l + li) * c;
        for (let ci = 0; ci < c; ci++) acc[ci]! += e * tv[to + ci]!;
      }
      const oo = (bi * s + si) * c;
      for (let ci = 0; ci < c; ci++) out[oo + ci] = acc[ci]! / sum;
    }
  return writeFloat32(be, out, [b, s, c]);
}

function softClusterWebGPU({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { logits, tokens } = inputs as Record<string, tf.TensorInfo>;
  const program = softClusterProgram(logits!.shape as [number, number, number], tokens!.shape[2]!);
  return runWebGPUProgram(backend, program, [logits!, tokens!]);
}

const FUSED_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [SOFT_DISPATCH_KERNEL]: softDispatchHost, [SOFT_CLUSTER_KERNEL]: softClusterHost },
  wasm: { [SOFT_DISPATCH_KERNEL]: softDispatchHost, [SOFT_CLUSTER_KERNEL]: softClusterHost },
  webgpu: { [SOFT_DISPATCH_KERNEL]: softDispatchWebGPU, [SOFT_CLUSTER_KERNEL]: softClusterWebGPU },
};

/** Where inference takes the fused kernel by default (wasm's composite product runs in XNNPACK). */
const AUTO_BY_BACKEND = { cpu: FUSED_BY_BACKEND.cpu!, webgpu: FUSED_BY_BACKEND.webgpu! };
/**
 * Where inference takes the fused clustering by default: cpu only. Measured, fused against composite
 * (GLNet-4G, 64 slots): cpu 38 vs 107 ms (3136 pixels × 64 channels), 11 vs 31 ms (784 × 128); WebGPU on
 * SwiftShader 165 vs 144 ms and 88 vs 114 ms — one invocation per slot and 4 channels walks all L pixels,
 * too few invocations for a GPU, so the composite stays the default there; wasm 31 vs 1.2 ms (XNNPACK).
 */
const CLUSTER_AUTO_BY_BACKEND = { cpu: FUSED_BY_BACKEND.cpu! };

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
  if (fusedPath(op, { logits, slots }, options))
    return tf.engine().runKernel(SOFT_DISPATCH_KERNEL, { logits, slots }, {}) as tf.Tensor3D;
  return tf.tidy(() => tf.matMul(tf.softmax(tf.transpose(logits, [0, 2, 1])), slots) as tf.Tensor3D);
}

/**
 * GLMix's soft clustering (glmix.md §4.1 step 5): logits [B, S, L], tokens [B, L, C] → slots [B, S, C], each
 * slot the tokens weighted by the softmax of its row of logits over the L pixels. Fused
 * (`DynavitSoftCluster`: per slot and 4 channels on WebGPU, a host loop on cpu and wasm) by default for
 * inference on cpu only (measured: see benchmarks.md, "GLMix's soft dispatch"), on WebGPU and wasm when asked with `path: 'fused'`;
 * the composite (softmax over L, one batched product) otherwise and under a gradient.
 */
export function softCluster(logits: tf.Tensor3D, tokens: tf.Tensor3D, options: SoftDispatchOptions = {}): tf.Tensor3D {
  const op = 'softCluster';
  assertRank(op, 'logits', logits, 3);
  assertRank(op, 'tokens', tokens, 3);
  const [b, , l] = logits.shape;
  assertShape(op, 'tokens', tokens, [b, l, null]);
  if (fusedPath(op, { logits, tokens }, options, CLUSTER_AUTO_BY_BACKEND))
    return tf.engine().runKernel(SOFT_CLUSTER_KERNEL, { logits, tokens }, {}) as tf.Tensor3D;
  return tf.tidy(() => tf.matMul(tf.softmax(logits), tokens) as tf.Tensor3D);
}

/** Checks the dtypes and the path; whether the fused kernel runs (asked for, or the default here). */
function fusedPath(
  op: string,
  inputs: Record<string, tf.Tensor>,
  options: SoftDispatchOptions,
  auto: Record<string, Record<string, tf.KernelFunc>> = AUTO_BY_BACKEND,
): boolean {
  for (const [name, t] of Object.entries(inputs))
    if (t.dtype !== 'float32') throw new InvalidArgumentError(`${op}: ${name} must be float32, got ${t.dtype}`);
  checkKernelPath(op, options.path);
  const asked = options.path === 'fused';
  if (asked && !useFusedKernels(FUSED_BY_BACKEND, true))
    throw new InvalidArgumentError(`${op}: the fused kernel runs on cpu, wasm and webgpu, not ${tf.getBackend()}`);
  return asked || (options.path !== 'composite' && useFusedKernels(auto));
}
