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
