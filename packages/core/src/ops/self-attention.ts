/**
 * Multi-head scaled dot-product self-attention from a packed qkv projection, as torch
 * `nn.MultiheadAttention` computes it after its in-projection (GLMix's local branch, glmix.md §4.4):
 * `qkv` [B, N, 3·C] holds q, k and v side by side (channels (3, heads, hd)); per head,
 * softmax((q·scale)·kᵀ)·v; the heads go back side by side → [B, N, C].
 *
 * The composite (`path: 'composite'`) is six tfjs ops and three layout copies: a transpose of the packed
 * projection to heads-first, an unstack, the scaling, a transposed k, the two batched products and the
 * softmax, a transpose back. It is the reference and the path under a gradient.
 *
 * The fused kernel, `DynavitSelfAttentionQKV` (cpu and wasm, inference, float32, hd a multiple of 4),
 * reads the packed rows where they are and writes the merged heads in place, one query row at a time
 * in 128-bit WebAssembly SIMD (`wasm/self-attention.wat`): the scores, their softmax, the weighted sum of
 * values, with no [B·heads, N, N] tensor and no layout copy. Its products sum in the composite's order;
 * its exponential is a polynomial within a few float32 ulps of the backend's (`self-attention.test.ts`).
 * One image at a time goes through the module's own memory, which holds it with its output and one
 * head's kᵀ; an image larger than {@link WASM_WORKING_BYTES} takes the composite.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank } from './assert.js';
import { checkKernelPath, computeFloat32, type KernelPath, useFusedKernels } from './kernel-scope.js';
import { selfAttentionWasm } from './wasm/self-attention-wasm.js';
import { WASM_WORKING_BYTES, wasmExports, wasmFloats } from './wasm-module.js';

export const SELF_ATTENTION_QKV_KERNEL = 'DynavitSelfAttentionQKV';

interface Exports {
  memory: WebAssembly.Memory;
  attendHead(
    qkv: number,
    out: number,
    kt: number,
    s: number,
    n: number,
    n4: number,
    row: number,
    orow: number,
    qOff: number,
    kOff: number,
    vOff: number,
    hd: number,
    scale: number,
  ): void;
}

function selfAttentionModule(): Exports | null {
  return wasmExports<Exports>(selfAttentionWasm);
}

export interface SelfAttentionOptions {
  /** The factor q is multiplied by before q·kᵀ; default hd^−½. */
  scale?: number;
  /** `'fused'` (the kernel, or a typed error where it cannot run) or `'composite'`; default: the kernel where it can run, for inference. */
  path?: KernelPath;
}

/** The module's memory for one image, in bytes: qkv, out, kᵀ of one head, one row of scores (16-byte aligned). */
function layout(n: number, c: number, hd: number) {
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const n4 = Math.ceil(n / 4) * 4;
  const outAt = align(n * 3 * c * 4);
  const ktAt = outAt + align(n * c * 4);
  const sAt = ktAt + hd * n4 * 4;
  return { n4, outAt, ktAt, sAt, bytes: sAt + n4 * 4 };
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** qkv [B, N, 3C]; attrs numHeads, scale → [B, N, C]. */
function selfAttentionHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { qkv } = inputs as { qkv: tf.TensorInfo };
  const { numHeads, scale } = attrs as unknown as { numHeads: number; scale: number };
  const [b, n, c3] = qkv.shape as [number, number, number];
  const c = c3 / 3;
  const hd = c / numHeads;
  return computeFloat32(be, [qkv], [b, n, c], (out, [values]) => {
    if (n === 0 || c === 0) return;
    const mod = selfAttentionModule()!;
    const { n4, outAt, ktAt, sAt, bytes } = layout(n, c, hd);
    const mem = wasmFloats(mod.memory, bytes);
    for (let i = 0; i < b; i++) {
      mem.set(values!.subarray(i * n * c3, (i + 1) * n * c3), 0);
      for (let h = 0; h < numHeads; h++)
        mod.attendHead(
          0,
          outAt,
          ktAt,
          sAt,
          n,
          n4,
          c3 * 4,
          c * 4,
          h * hd * 4,
          (c + h * hd) * 4,
          (2 * c + h * hd) * 4,
          hd,
          scale,
        );
      out.set(mem.subarray(outAt / 4, outAt / 4 + n * c), i * n * c);
    }
  });
}

/** The kernel per backend (cpu and wasm both run the module). */
export const SELF_ATTENTION_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [SELF_ATTENTION_QKV_KERNEL]: selfAttentionHost },
  wasm: { [SELF_ATTENTION_QKV_KERNEL]: selfAttentionHost },
};

/**
 * softmax((q·scale)·kᵀ)·v per head from `qkv` [B, N, 3·C] (channels (3, numHeads, C/numHeads), torch
 * `nn.MultiheadAttention`'s packed in-projection) → [B, N, C], the heads side by side in order.
 */
export function selfAttentionFromQKV(
  qkv: tf.Tensor3D,
  numHeads: number,
  options: SelfAttentionOptions = {},
): tf.Tensor3D {
  const op = 'selfAttentionFromQKV';
  assertRank(op, 'qkv', qkv, 3);
  const [b, n, c3] = qkv.shape;
  if (!Number.isInteger(numHeads) || numHeads < 1 || c3 % (3 * numHeads) !== 0 || c3 === 0)
    throw new InvalidArgumentError(
      `${op}: qkv's ${c3} channels are not 3 × ${numHeads} heads × a head width (numHeads must be a positive integer)`,
    );
  const c = c3 / 3;
  const hd = c / numHeads;
  const scale = options.scale ?? hd ** -0.5;
  if (typeof scale !== 'number' || !Number.isFinite(scale))
    throw new InvalidArgumentError(`${op}: scale must be a finite number, got ${String(scale)}`);
  const path = checkKernelPath(op, options.path);
  const fusable =
    qkv.dtype === 'float32' &&
    hd % 4 === 0 &&
    layout(n, c, hd).bytes <= WASM_WORKING_BYTES &&
    selfAttentionModule() !== null;
  if (path === 'fused' && !(fusable && useFusedKernels(SELF_ATTENTION_BY_BACKEND, true)))
    throw new InvalidArgumentError(
      `${op}: the fused kernel takes float32 with a head width that is a multiple of 4 (got ${hd}) and an image within ${WASM_WORKING_BYTES / 2 ** 20} MiB, on cpu and wasm with WebAssembly SIMD (backend ${tf.getBackend()})`,
    );
  if (path === 'fused' || (path !== 'composite' && fusable && useFusedKernels(SELF_ATTENTION_BY_BACKEND)))
    return tf.engine().runKernel(SELF_ATTENTION_QKV_KERNEL, { qkv }, {
      numHeads,
      scale,
    } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
  return tf.tidy(() => {
    // [B, N, 3, heads, hd] → [3, B, heads, N, hd] → [3, B·heads, N, hd]
    const heads = tf.reshape(tf.transpose(tf.reshape(qkv, [b, n, 3, numHeads, hd]), [2, 0, 3, 1, 4]), [
      3,
      b * numHeads,
      n,
      hd,
    ]);
    const [q, k, v] = tf.unstack(heads, 0) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    const attn = tf.softmax(tf.matMul(tf.mul(q, scale) as tf.Tensor3D, tf.transpose(k, [0, 2, 1]))); // over keys
    const o = tf.matMul(attn, v); // [B·heads, N, hd]
    // [B, heads, N, hd] → [B, N, heads, hd] → [B, N, C]
    return tf.reshape(tf.transpose(tf.reshape(o, [b, numHeads, n, hd]), [0, 2, 1, 3]), [b, n, c]);
  });
}
