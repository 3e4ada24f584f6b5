/**
 * LayerNorm over the last axis as one kernel, `DynavitLayerNorm` (cpu and wasm, inference): the rows are
 * normalised in 128-bit WebAssembly SIMD (`wasm/layer-norm.wat`) — the mean, the variance about it (the
 * two passes of `tf.moments`), then (x − mean)/√(var + eps)·weight + bias — where the composite runs ten
 * kernels over the tensor (a cast, two means, a subtraction, a square, …). Every family normalises
 * channels-last maps this way before each attention and MLP (DAT-T++ 72 times a forward, GLNet-4G 60).
 *
 * The composite in `nn/layers.ts` (`layerNorm` with `path: 'composite'`) stays the reference and the
 * path under a gradient; the kernel sums in float32 in another order, within float32 rounding of it
 * (`layer-norm.test.ts`). The module has its own memory: rows are copied in and out in chunks of at most
 * {@link WASM_WORKING_BYTES}.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { computeFloat32 } from './kernel-scope.js';
import { layerNormWasm } from './wasm/layer-norm-wasm.js';
import { WASM_WORKING_BYTES, wasmExports, wasmFloats } from './wasm-module.js';

export const LAYER_NORM_KERNEL = 'DynavitLayerNorm';

interface Exports {
  memory: WebAssembly.Memory;
  layerNorm(x: number, out: number, rows: number, c: number, weight: number, bias: number, eps: number): void;
}

/** The compiled module, or null where this WebAssembly has no SIMD. */
export function layerNormModule(): Exports | null {
  return wasmExports<Exports>(layerNormWasm);
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** x [..., C], weight? [C], bias? [C]; attrs eps → [..., C]. */
function layerNormHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { x, weight, bias } = inputs as Record<string, tf.TensorInfo | undefined>;
  const { eps } = attrs as unknown as { eps: number };
  const mod = layerNormModule()!;
  const c = x!.shape[x!.shape.length - 1]!;
  const ins = [x!, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return computeFloat32(be, ins, [...x!.shape], (out, [values, ...affine]) => {
    const w = weight ? affine[0]! : null;
    const b = bias ? affine[weight ? 1 : 0]! : null;
    const rows = c === 0 ? 0 : values!.length / c;
    // module memory: weight, bias (from byte 16: the module reads pointer 0 as "none"), then a chunk of
    // rows in and out
    const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
    const wAt = 16;
    const bAt = wAt + align(c * 4);
    const xAt = bAt + align(c * 4);
    const chunk = Math.max(1, Math.floor(WASM_WORKING_BYTES / (8 * Math.max(c, 1))));
    const outAt = xAt + align(Math.min(chunk, rows) * c * 4);
    const mem = wasmFloats(mod.memory, outAt + Math.min(chunk, rows) * c * 4);
    if (w) mem.set(w, wAt / 4);
    if (b) mem.set(b, bAt / 4);
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0);
      mem.set(values!.subarray(r0 * c, (r0 + n) * c), xAt / 4);
      mod.layerNorm(xAt, outAt, n, c, w ? wAt : 0, b ? bAt : 0, eps);
      out.set(mem.subarray(outAt / 4, outAt / 4 + n * c), r0 * c);
    }
  });
}

/** The kernel per backend (cpu and wasm both run the module). */
export const LAYER_NORM_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [LAYER_NORM_KERNEL]: layerNormHost },
  wasm: { [LAYER_NORM_KERNEL]: layerNormHost },
};
