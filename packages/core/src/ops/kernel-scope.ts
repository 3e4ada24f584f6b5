/**
 * Helpers for kernels written over other kernels of the same backend (`gradient-kernels.ts`,
 * `fast-kernels.ts`): call a kernel function, keep its intermediate outputs, free them all at the end.
 */
import type * as tf from '@tensorflow/tfjs-core';

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
