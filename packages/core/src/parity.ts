/**
 * Parity against golden vectors from the official PyTorch code: build the model from the weights'
 * metadata, load the weights strictly, run the golden `input`, compare every non-debug output.
 * Shared by the Node CLI and the browser test suite.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, NotImplementedError, ShapeError } from './errors.js';
import type { SafetensorsFile } from './io/safetensors.js';
import { toFloat32 } from './io/tensor-data.js';
import type { Registry } from './registry.js';

export interface OutputParity {
  name: string;
  shape: number[];
  /** max |out − ref| */
  maxAbs: number;
  /** max |ref| */
  maxRef: number;
  /** ‖out − ref‖₂ / ‖ref‖₂ */
  relL2: number;
  ok: boolean;
}

export interface ParityReport {
  ok: boolean;
  backend: string;
  family: string;
  /** relative tolerance used: max|out − ref| ≤ tol · max(1, max|ref|) */
  tolerance: number;
  outputs: OutputParity[];
  millis: number;
}

/** 1e-4 on cpu/wasm float32, 1e-3 on GPU backends. */
export function defaultTolerance(backend: string): number {
  return backend === 'cpu' || backend === 'wasm' || backend === 'tensorflow' ? 1e-4 : 1e-3;
}

export function compareArrays(name: string, shape: number[], out: ArrayLike<number>, ref: ArrayLike<number>, tolerance: number): OutputParity {
  let maxAbs = 0;
  let maxRef = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i]!;
    const d = out[i]! - r;
    const a = Math.abs(d);
    maxAbs = a > maxAbs || Number.isNaN(a) ? (Number.isNaN(a) ? Number.POSITIVE_INFINITY : a) : maxAbs;
    maxRef = Math.max(maxRef, Math.abs(r));
    num += d * d;
    den += r * r;
  }
  const relL2 = den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
  return { name, shape, maxAbs, maxRef, relL2, ok: maxAbs <= tolerance * Math.max(1, maxRef) };
}

const isInput = (k: string) => k === 'input' || k.startsWith('input.');

/** The golden outputs a parity run compares: everything but the inputs and `debug.*`. */
export function goldenOutputNames(io: SafetensorsFile): string[] {
  return [...io.tensors.keys()].filter((k) => !isInput(k) && !k.startsWith('debug.'));
}

type HostOutputs = Record<string, { shape: number[]; data: ArrayLike<number> }>;

/**
 * Build, load strictly, run; `readback` turns the output tensors into host arrays (synchronously with
 * `dataSync`, or asynchronously with `data()` as WebGPU needs), then compare.
 */
function parity<R>(
  registry: Registry,
  weights: SafetensorsFile,
  io: SafetensorsFile,
  opts: { tolerance?: number },
  readback: (outs: Record<string, tf.Tensor>) => R,
  finish: (r: R, compare: (host: HostOutputs) => ParityReport) => R extends Promise<unknown> ? Promise<ParityReport> : ParityReport,
): R extends Promise<unknown> ? Promise<ParityReport> : ParityReport {
  const reference = weights.metadata['reference'];
  if (!reference) throw new CheckpointError('weights file has no "reference" metadata: not a dynavit golden case');
  const family = registry.familyForReference(reference);
  if (!family) throw new NotImplementedError(`no registered family reads configs from ${reference}`);
  if (!family.implemented) throw new NotImplementedError(`the ${family.name} family (${family.packageName}) is not implemented yet, so ${reference} cases cannot be checked`);
  const backend = tf.getBackend();
  const tolerance = opts.tolerance ?? defaultTolerance(backend);
  const inputNames = [...io.tensors.keys()].filter(isInput);
  if (inputNames.length === 0) throw new CheckpointError('io file has no "input" tensor');
  const pm = family.fromReference(weights.metadata);
  let outs: Record<string, tf.Tensor> = {};
  const cleanup = () => {
    tf.dispose(Object.values(outs));
    pm.model.dispose();
  };
  let t0 = 0;
  let r: R;
  try {
    pm.model.loadStateDict(weights.tensors, { strict: true, source: 'golden weights' });
    t0 = performance.now();
    const inputs = Object.fromEntries(inputNames.map((k) => [k, tf.tensor(toFloat32(io.tensors.get(k)!), io.tensors.get(k)!.shape)]));
    try {
      outs = pm.run(inputs, io.metadata);
    } finally {
      tf.dispose(Object.values(inputs));
    }
    r = readback(outs);
  } catch (e) {
    cleanup();
    throw e;
  }
  const compare = (host: HostOutputs): ParityReport => {
    const millis = performance.now() - t0;
    try {
      const custom = pm.compare?.(host, io, tolerance) ?? [];
      const done = new Set(custom.map((o) => o.name));
      const outputs = goldenOutputNames(io)
        .filter((n) => !done.has(n))
        .map((name) => {
          const ref = io.tensors.get(name)!;
          const got = host[name];
          if (!got) return { name, shape: ref.shape, maxAbs: Number.POSITIVE_INFINITY, maxRef: 0, relL2: Number.POSITIVE_INFINITY, ok: false };
          if (got.shape.join() !== ref.shape.join()) throw new ShapeError('parity', name, `[${ref.shape.join(',')}] (golden)`, `[${got.shape.join(',')}]`);
          return compareArrays(name, ref.shape, got.data, toFloat32(ref), tolerance);
        });
      outputs.push(...custom);
      return { ok: outputs.every((o) => o.ok), backend, family: family.name, tolerance, outputs, millis };
    } finally {
      cleanup();
    }
  };
  return finish(r, compare);
}

/** Parity with synchronous readback (cpu, wasm, webgl, tfjs-node). */
export function runParity(registry: Registry, weights: SafetensorsFile, io: SafetensorsFile, opts: { tolerance?: number } = {}): ParityReport {
  return parity(
    registry,
    weights,
    io,
    opts,
    (outs) => Object.fromEntries(Object.entries(outs).map(([k, t]) => [k, { shape: t.shape, data: t.dataSync() }])) as HostOutputs,
    (host, compare) => compare(host),
  );
}

/** Parity with asynchronous readback: works on every backend, and is the one to use on WebGPU. */
export function runParityAsync(registry: Registry, weights: SafetensorsFile, io: SafetensorsFile, opts: { tolerance?: number } = {}): Promise<ParityReport> {
  return parity(
    registry,
    weights,
    io,
    opts,
    async (outs) => Object.fromEntries(await Promise.all(Object.entries(outs).map(async ([k, t]) => [k, { shape: t.shape, data: await t.data() }] as const))) as HostOutputs,
    async (host, compare) => compare(await host),
  );
}
