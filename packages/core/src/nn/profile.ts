/**
 * Where a forward pass spends its time: by tfjs kernel (`tf.profile`'s kernel timings) and by module (each
 * module instance's `forward` timed for one pass, its self time = its time minus its children's). Module
 * times are wall-clock, so they are exact on backends that run kernels synchronously (wasm, cpu,
 * tfjs-node); on WebGPU they measure dispatch, not the GPU. The model is not changed: the instance methods
 * are patched for one pass and restored.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from './module.js';

export interface ProfileEntry {
  /** kernel name (`BatchMatMul`), or module class (`DAttentionBaseline`) */
  name: string;
  /** self time in milliseconds, summed over calls */
  ms: number;
  calls: number;
}

export interface ForwardProfile {
  /** wall time of the profiled pass (module timing), ms */
  totalMs: number;
  /** by kernel, most time first */
  kernels: ProfileEntry[];
  /** by module class, self time, most time first */
  modules: ProfileEntry[];
}

type Forward = (...args: unknown[]) => unknown;

function sorted(map: Map<string, { ms: number; calls: number }>): ProfileEntry[] {
  return [...map].map(([name, v]) => ({ name, ...v })).sort((a, b) => b.ms - a.ms);
}

/**
 * Wait until every tensor in `container` has its values (the backend has finished computing them), then
 * dispose them, also when a read fails. On WebGPU this reads with `data()`, never synchronously.
 */
export async function settleTensors(container: tf.TensorContainer): Promise<void> {
  const tensors = tf.tensor_util.getTensorsInContainer(container);
  try {
    await Promise.all(tensors.map((t) => t.data()));
  } finally {
    tf.dispose(tensors);
  }
}

/** Run once, wait for every output tensor's data (the backend has finished), dispose; returns the wall time. */
async function settle(run: () => unknown): Promise<number> {
  const t0 = performance.now();
  const r: unknown = await run();
  await Promise.all(
    [r]
      .flat()
      .filter((t): t is tf.Tensor => t instanceof tf.Tensor)
      .map((t) => t.data()),
  );
  const ms = performance.now() - t0;
  tf.dispose(r as tf.TensorContainer);
  return ms;
}

/**
 * Profile `run()` (one forward of `model`, or a promise of it; its result is disposed): first a pass under
 * `tf.profile` for the kernels, then a pass with every module's `forward` timed. Warm the model up first.
 */
export async function profileForward(model: Module, run: () => unknown): Promise<ForwardProfile> {
  const info = await tf.profile(async () => {
    await settle(run);
    return [] as tf.Tensor[];
  });
  const kernels = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    // an op with its own gradient (tf.fused.*: `fusedConv2d__op`) is recorded around the kernel it runs,
    // which is recorded too: counting both would count that time twice
    if (k.name.endsWith('__op')) continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const e = kernels.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    kernels.set(k.name, e);
  }

  const modules = new Map<string, { ms: number; calls: number }>();
  const stack: number[] = []; // children's time accumulated per open frame
  const patched: [Module & { forward: Forward }, Forward, boolean][] = [];
  for (const [, m] of model.namedModules()) {
    const target = m as Module & { forward?: Forward };
    if (typeof target.forward !== 'function') continue;
    const original = target.forward;
    const own = Object.hasOwn(target, 'forward');
    const name = m.constructor.name;
    target.forward = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      stack.push(0);
      try {
        return original.apply(this, args);
      } finally {
        const total = performance.now() - t0;
        const children = stack.pop()!;
        if (stack.length) stack[stack.length - 1]! += total;
        const e = modules.get(name) ?? { ms: 0, calls: 0 };
        e.ms += total - children;
        e.calls++;
        modules.set(name, e);
      }
    };
    patched.push([target as Module & { forward: Forward }, original, own]);
  }
  let totalMs: number;
  try {
    totalMs = await settle(run);
  } finally {
    for (const [m, original, own] of patched)
      if (own) m.forward = original;
      else delete (m as { forward?: Forward }).forward; // back to the prototype's
  }
  return { totalMs, kernels: sorted(kernels), modules: sorted(modules) };
}
