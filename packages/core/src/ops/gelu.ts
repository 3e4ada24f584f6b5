/**
 * Exact GELU as one kernel, `DynavitGelu` (cpu, wasm and webgpu, inference): 0.5·x·(1 + erf(x/√2)) in
 * 128-bit WebAssembly SIMD (`wasm/gelu.wat`; WebGPU: `gelu-webgpu.ts`), where the composite runs five kernels over the tensor (two
 * multiplications, erf, an addition, a multiplication). Every MLP of the three families applies it to
 * its widest tensor (the hidden layer, 2–4× the channels): DAT-T++ 41 times a forward, GLNet-4G 31.
 *
 * The composite in `nn/layers.ts` (`gelu` with `path: 'composite'`) stays the reference and the path
 * under a gradient; the kernel's erf is the same approximation as tfjs-cpu's (Abramowitz–Stegun 7.1.26),
 * evaluated in float32 (`gelu.test.ts`). The module has its own memory: values are copied in and out in
 * chunks of at most {@link WASM_WORKING_BYTES}, computed in place.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { geluProgram } from './gelu-webgpu.js';
import { computeFloat32 } from './kernel-scope.js';
import { geluWasm } from './wasm/gelu-wasm.js';
import { WASM_WORKING_BYTES, wasmExports, wasmFloats } from './wasm-module.js';
import { runWebGPUProgram } from './webgpu-program.js';

export const GELU_KERNEL = 'DynavitGelu';

interface Exports {
  memory: WebAssembly.Memory;
  gelu(x: number, out: number, n: number): void;
}

/** The compiled module, or null where this WebAssembly has no SIMD. */
export function geluModule(): Exports | null {
  return wasmExports<Exports>(geluWasm);
}

/** Values per chunk: a multiple of 4 (the module takes four lanes at a time). */
const CHUNK = Math.floor(WASM_WORKING_BYTES / 16) * 4;

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** x (float32, any shape) → GELU(x). */
function geluHost({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { x } = inputs as Record<string, tf.TensorInfo>;
  const mod = geluModule()!;
  return computeFloat32(be, [x!], [...x!.shape], (out, [values]) => {
    const size = values!.length;
    const mem = wasmFloats(mod.memory, Math.min(CHUNK, Math.ceil(size / 4) * 4) * 4);
    for (let i0 = 0; i0 < size; i0 += CHUNK) {
      const n = Math.min(CHUNK, size - i0);
      mem.set(values!.subarray(i0, i0 + n), 0);
      mod.gelu(0, 0, Math.ceil(n / 4) * 4);
      out.set(mem.subarray(0, n), i0);
    }
  });
}

/** The WGSL program (gelu-webgpu.ts). */
function geluWebGPU({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as Record<string, tf.TensorInfo>;
  return runWebGPUProgram(backend, geluProgram(x!.shape), [x!]);
}

/** The kernel per backend (cpu and wasm both run the module; webgpu a WGSL shader). */
export const GELU_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [GELU_KERNEL]: geluHost },
  wasm: { [GELU_KERNEL]: geluHost },
  webgpu: { [GELU_KERNEL]: geluWebGPU },
};
