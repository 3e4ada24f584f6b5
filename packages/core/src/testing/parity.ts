/**
 * Parity against golden vectors from the official PyTorch code: build the model the weights' metadata
 * names (`Registry.fromReference`), load the weights strictly, run the golden inputs through a
 * `ParityModel` adapter, compare every non-debug output. Shared by the Node CLI and the browser suite.
 * Not in the main entry: import from `@dynavit/core/testing`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BuiltModel } from '../contracts.js';
import { CheckpointError, InvalidArgumentError, ShapeError } from '../errors.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { toFloat32 } from '../io/tensor-data.js';
import type { Module } from '../nn/module.js';
import { toNCHW, toNHWC } from '../ops/layout.js';
import type { CreateModelOptions, ReferenceMetadata, Registry } from '../registry.js';

/** A tensor read back to the host. */
export interface HostTensor {
  shape: number[];
  data: ArrayLike<number>;
}

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

/** A built model wired to a golden io file's names and layouts. */
export interface ParityModel {
  readonly model: Module;
  /**
   * The golden inputs (`input`, or `input.0`, `input.1`, … for heads fed with feature maps), laid out as
   * the golden stores them (NCHW) → outputs named and laid out as in the golden io file.
   */
  run(
    inputs: Readonly<Record<string, tf.Tensor>>,
    ioMetadata: Readonly<Record<string, string>>,
  ): Record<string, tf.Tensor>;
  /**
   * `run` for models that read from the device on the way (a detector's top-k and NMS), reading with
   * `data()`; `runParityAsync` prefers it. WebGPU in Node has no synchronous read.
   */
  runAsync?(
    inputs: Readonly<Record<string, tf.Tensor>>,
    ioMetadata: Readonly<Record<string, string>>,
  ): Promise<Record<string, tf.Tensor>>;
  /**
   * Compare outputs whose semantics are not plain tensors (e.g. detections matched as sets). Called
   * with the host copies of `run`'s outputs; outputs it does not return are compared element-wise.
   */
  compare?(outputs: Readonly<Record<string, HostTensor>>, io: SafetensorsFile, tolerance: number): OutputParity[];
}

/** Wires a model built from golden metadata to the golden io names; `undefined` when it does not handle this model. */
export type ParityAdapter = (model: BuiltModel, metadata: ReferenceMetadata) => ParityModel | undefined;

/**
 * The adapter of every image model (classifier or dense backbone): golden `input` (NCHW) →
 * `stage.0…` = `forwardFeatures` (NCHW) and, for classifiers, `logits` = `forwardHead` of those maps.
 */
export const imageModelParity: ParityAdapter = (model) => {
  if (model.kind === 'head') return undefined;
  return {
    model,
    run: (inputs) =>
      tf.tidy(() => {
        const feats = model.forwardFeatures(toNHWC(inputs['input']!) as tf.Tensor4D);
        const outs: Record<string, tf.Tensor> = Object.fromEntries(feats.map((f, i) => [`stage.${i}`, toNCHW(f)]));
        if (model.kind === 'classifier') outs['logits'] = model.forwardHead(feats);
        return outs;
      }),
  };
};

/**
 * Tensors still allocated after `fn` ran `runs` times, counted after one warm-up run (kernels and
 * backend caches may allocate once): 0 when everything `fn` makes is disposed.
 */
export function leakedTensors(fn: () => void, runs = 3): number {
  fn();
  const before = tf.memory().numTensors;
  for (let i = 0; i < runs; i++) fn();
  return tf.memory().numTensors - before;
}

/** 1e-4 on cpu/wasm float32, 1e-3 on GPU backends. */
export function defaultTolerance(backend: string): number {
  return backend === 'cpu' || backend === 'wasm' || backend === 'tensorflow' ? 1e-4 : 1e-3;
}

export function compareArrays(
  name: string,
  shape: number[],
  out: ArrayLike<number>,
  ref: ArrayLike<number>,
  tolerance: number,
): OutputParity {
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

export interface ParityOptions {
  tolerance?: number;
  /**
   * Adapters tried in order before `imageModelParity` (heads need theirs:
   * `headsParity` from `@dynavit/heads/testing`).
   */
  adapters?: readonly ParityAdapter[];
  /**
   * Build this registered variant (by name, with its create options) instead of the model the golden
   * metadata describes: checks that a variant is exactly a golden case (same tensors, same outputs).
   */
  variant?: { name: string; options?: CreateModelOptions };
}

type HostOutputs = Record<string, HostTensor>;

/** The golden case's model, built and wired; a model no adapter handles is a typed error. */
function parityModel(
  registry: Registry,
  weights: SafetensorsFile,
  opts: ParityOptions,
): { pm: ParityModel; family: string } {
  const reference = weights.metadata['reference'];
  if (!reference) throw new CheckpointError('weights file has no "reference" metadata: not a dynavit golden case');
  const family = registry.familyForReference(reference)?.name ?? '?';
  const model = opts.variant
    ? registry.createModel(opts.variant.name, opts.variant.options)
    : registry.fromReference(weights.metadata);
  for (const adapt of [...(opts.adapters ?? []), imageModelParity]) {
    const pm = adapt(model, weights.metadata);
    if (pm) return { pm, family };
  }
  model.dispose();
  throw new InvalidArgumentError(
    `no parity adapter for a ${model.kind} of the ${family} family (${reference}); pass the family's adapter in \`adapters\``,
  );
}

/** A golden case set up: its model built and loaded, its inputs on the backend. */
interface Prepared {
  pm: ParityModel;
  family: string;
  backend: string;
  tolerance: number;
  inputs: Record<string, tf.Tensor>;
  t0: number;
}

/** Build, load strictly, put the inputs on the backend; nothing stays allocated when it throws. */
function prepare(registry: Registry, weights: SafetensorsFile, io: SafetensorsFile, opts: ParityOptions): Prepared {
  const backend = tf.getBackend();
  const tolerance = opts.tolerance ?? defaultTolerance(backend);
  const inputNames = [...io.tensors.keys()].filter(isInput);
  if (inputNames.length === 0) throw new CheckpointError('io file has no "input" tensor');
  const { pm, family } = parityModel(registry, weights, opts);
  try {
    pm.model.loadStateDict(weights.tensors, { strict: true, source: 'golden weights' });
    const t0 = performance.now();
    const inputs = Object.fromEntries(
      inputNames.map((k) => [k, tf.tensor(toFloat32(io.tensors.get(k)!), io.tensors.get(k)!.shape)]),
    );
    return { pm, family, backend, tolerance, inputs, t0 };
  } catch (e) {
    pm.model.dispose();
    throw e;
  }
}

/** Compare the host copies of the outputs with the golden ones (the adapter's own comparison first). */
function report(p: Prepared, io: SafetensorsFile, host: HostOutputs): ParityReport {
  const millis = performance.now() - p.t0;
  const custom = p.pm.compare?.(host, io, p.tolerance) ?? [];
  const done = new Set(custom.map((o) => o.name));
  const outputs = goldenOutputNames(io)
    .filter((n) => !done.has(n))
    .map((name) => {
      const ref = io.tensors.get(name)!;
      const got = host[name];
      if (!got)
        return {
          name,
          shape: ref.shape,
          maxAbs: Number.POSITIVE_INFINITY,
          maxRef: 0,
          relL2: Number.POSITIVE_INFINITY,
          ok: false,
        };
      if (got.shape.join() !== ref.shape.join())
        throw new ShapeError('parity', name, `[${ref.shape.join(',')}] (golden)`, `[${got.shape.join(',')}]`);
      return compareArrays(name, ref.shape, got.data, toFloat32(ref), p.tolerance);
    });
  outputs.push(...custom);
  return {
    ok: outputs.every((o) => o.ok),
    backend: p.backend,
    family: p.family,
    tolerance: p.tolerance,
    outputs,
    millis,
  };
}

/** Parity with synchronous readback (cpu, wasm, webgl, tfjs-node). */
export function runParity(
  registry: Registry,
  weights: SafetensorsFile,
  io: SafetensorsFile,
  opts: ParityOptions = {},
): ParityReport {
  const p = prepare(registry, weights, io, opts);
  let outs: Record<string, tf.Tensor> = {};
  try {
    try {
      outs = p.pm.run(p.inputs, io.metadata);
    } finally {
      tf.dispose(Object.values(p.inputs));
    }
    const host: HostOutputs = Object.fromEntries(
      Object.entries(outs).map(([k, t]) => [k, { shape: t.shape, data: t.dataSync() }]),
    );
    return report(p, io, host);
  } finally {
    tf.dispose(Object.values(outs));
    p.pm.model.dispose();
  }
}

/**
 * Parity with asynchronous readback (`data()`), and the adapter's `runAsync` where it has one: works on
 * every backend, and is the one to use on WebGPU, whose synchronous read needs a canvas Node lacks.
 */
export async function runParityAsync(
  registry: Registry,
  weights: SafetensorsFile,
  io: SafetensorsFile,
  opts: ParityOptions = {},
): Promise<ParityReport> {
  const p = prepare(registry, weights, io, opts);
  let outs: Record<string, tf.Tensor> = {};
  try {
    try {
      outs = p.pm.runAsync ? await p.pm.runAsync(p.inputs, io.metadata) : p.pm.run(p.inputs, io.metadata);
    } finally {
      tf.dispose(Object.values(p.inputs));
    }
    const host: HostOutputs = Object.fromEntries(
      await Promise.all(
        Object.entries(outs).map(async ([k, t]) => [k, { shape: t.shape, data: await t.data() }] as const),
      ),
    );
    return report(p, io, host);
  } finally {
    tf.dispose(Object.values(outs));
    p.pm.model.dispose();
  }
}
