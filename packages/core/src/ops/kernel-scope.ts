/**
 * Helpers for kernels written over other kernels of the same backend (`gradient-kernels.ts`,
 * `fast-kernels.ts`): call a kernel function, keep its intermediate outputs, free them all at the end.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';

type Info = tf.TensorInfo;

export interface KernelScope {
  /** Call kernel `f` on this backend. */
  run(f: tf.KernelFunc, inputs: Record<string, Info>, attrs: Record<string, unknown>): Info;
  /** Remember `t` as an intermediate, freed by `dispose`. */
  keep(t: Info): Info;
  /** Free every kept intermediate (call in `finally`). */
  dispose(): void;
}

export function kernelScope(backend: tf.KernelBackend): KernelScope {
  const temps: Info[] = [];
  return {
    run: (f, inputs, attrs) => f({ inputs, backend, attrs: attrs as unknown as tf.NamedAttrMap }) as Info,
    keep(t) {
      temps.push(t);
      return t;
    },
    dispose() {
      for (const t of temps.splice(0)) backend.disposeData(t.dataId);
    },
  };
}

/** A float32 output written to the backend. */
export function writeFloat32(backend: tf.KernelBackend, values: Float32Array, shape: number[]): Info {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}

/** The heap access tfjs-backend-wasm's backend offers (public methods of its BackendWasm). */
export interface HeapBackend {
  typedArrayFromHeap(t: Info): tf.backend_util.TypedArray;
  makeOutput(shape: number[], dtype: 'float32'): Info;
}

/** `be` as a backend whose tensors sit in a WebAssembly heap it lets us view (wasm), else null. */
export function heapBackend(be: tf.KernelBackend): HeapBackend | null {
  const h = be as unknown as Partial<HeapBackend>;
  return typeof h.typedArrayFromHeap === 'function' && typeof h.makeOutput === 'function' ? (h as HeapBackend) : null;
}

/**
 * A host kernel's float32 output of `shape`, computed by `compute(out, inputs)` from its inputs' values.
 * On wasm `out` and the inputs are views of the backend's heap: nothing is copied in, nothing out, no
 * host array is made for the garbage collector (the output is allocated before the views are taken,
 * since an allocation may grow, and so move, the heap). Elsewhere the inputs are the backend's host
 * arrays and `out` a new array. `compute` must set every output value (the heap's is not zeroed) and
 * must not make tensors.
 */
export function computeFloat32(
  be: tf.KernelBackend,
  inputs: readonly Info[],
  shape: number[],
  compute: (out: Float32Array, inputs: tf.backend_util.TypedArray[]) => void,
): Info {
  const heap = heapBackend(be);
  if (!heap) {
    const out = new Float32Array(shape.reduce((a, d) => a * d, 1));
    compute(
      out,
      inputs.map((t) => be.readSync(t.dataId) as tf.backend_util.TypedArray),
    );
    return writeFloat32(be, out, shape);
  }
  const info = heap.makeOutput(shape, 'float32');
  try {
    compute(
      heap.typedArrayFromHeap(info) as Float32Array,
      inputs.map((t) => heap.typedArrayFromHeap(t)),
    );
  } catch (e) {
    be.disposeData(info.dataId);
    throw e;
  }
  return info;
}

/**
 * A fused kernel's switch: whether the current backend has a version of it (`byBackend`: backend →
 * kernel name → function) and no gradient is being recorded (unless `underGradient`: asked for
 * explicitly; fused kernels have no gradient, so training takes the composite). Registers the backend's
 * kernels on first use.
 */
export function useFusedKernels(
  byBackend: Readonly<Record<string, Readonly<Record<string, tf.KernelFunc>>>>,
  underGradient = false,
): boolean {
  const backend = tf.getBackend();
  const kernels = byBackend[backend];
  if (!kernels || (!underGradient && tf.engine().state.gradientDepth > 0)) return false;
  for (const [kernelName, kernelFunc] of Object.entries(kernels))
    if (!tf.getKernel(kernelName, backend)) tf.registerKernel({ kernelName, backendName: backend, kernelFunc });
  return true;
}

/** Which implementation an op with a fused kernel takes: its kernel, or the composite of tfjs ops it is tested against. */
export type KernelPath = 'fused' | 'composite';

/**
 * Check an op's `path` option: undefined (the op chooses), `'fused'` or `'composite'`; anything else is
 * a typed error naming the op, never a silent fallback to the automatic choice.
 */
export function checkKernelPath(op: string, path: unknown): KernelPath | undefined {
  if (path === undefined || path === 'fused' || path === 'composite') return path;
  throw new InvalidArgumentError(`${op}: path must be 'fused' or 'composite', got ${JSON.stringify(path)}`);
}

/**
 * A dynavit switch kept as a tfjs boolean flag that is on by default (`DYNAVIT_CONV_WINOGRAD`,
 * `DYNAVIT_FUSED_BIAS`): its value, registering it (default true) where tfjs does not know it yet, since
 * tfjs throws on an unknown flag. A module calls it once on import, so that `tf.env().set(name, false)`
 * works at once.
 */
export function switchFlag(name: string): boolean {
  try {
    return tf.env().getBool(name);
  } catch {
    tf.env().registerFlag(name, () => true);
    return tf.env().getBool(name);
  }
}
