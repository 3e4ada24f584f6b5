/**
 * Gradient parity against the official code's autograd: a golden `CASE.grad.safetensors` holds a seeded
 * `cotangent` of the logits' shape, `loss` = sum(logits · cotangent) and, from PyTorch's backward in eval
 * mode, `grad.input` (NCHW) and `grad.NAME` for every parameter (PyTorch layout). Here the same loss is
 * differentiated with `tf.variableGrads` through the model's own parameter variables (and the input,
 * held as a variable), each gradient mapped back to PyTorch layout exactly as `stateDict()` maps the
 * parameter, and compared per tensor: max|g − ref| ≤ rel · max|ref| + abs (1e-3, 1e-6 by default).
 *
 * Needs gradient functions registered (tfjs-core's Node bundle has none: import `@tensorflow/tfjs`);
 * registers core's `registerGradientKernels` for wasm. Reads back asynchronously (any backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, InvalidArgumentError, ShapeError } from '../errors.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { toFloat32 } from '../io/tensor-data.js';
import { torchLayoutTensor } from '../nn/module.js';
import { hasGradientFunctions, registerGradientKernels } from '../ops/gradient-kernels.js';
import { toNHWC } from '../ops/layout.js';
import type { Registry } from '../registry.js';
import { compareArrays, type OutputParity, type ParityReport } from './parity.js';

/** One compared tensor (`loss`, `grad.input`, `grad.NAME`) with the limit it was held to. */
export interface GradientOutputParity extends OutputParity {
  /** rel · max|ref| + abs */
  limit: number;
}

export interface GradientParityReport extends ParityReport {
  kind: 'gradient';
  /** `tolerance` is the relative part of the limit, this the absolute one */
  absTolerance: number;
  outputs: GradientOutputParity[];
}

export interface GradientParityOptions {
  /** relative tolerance (default 1e-3) */
  tolerance?: number;
  /** absolute tolerance (default 1e-6) */
  absTolerance?: number;
}

const missing = (name: string, shape: number[], maxRef = 0): GradientOutputParity => ({
  name,
  shape,
  maxAbs: Number.POSITIVE_INFINITY,
  maxRef,
  relL2: Number.POSITIVE_INFINITY,
  limit: 0,
  ok: false,
});

/**
 * Build the classifier the weights' metadata names, load it strictly, switch it to eval mode, take the
 * gradients of sum(logits · cotangent) with respect to the input and every parameter, compare with the
 * golden `grad` file.
 */
export async function runGradientParity(
  registry: Registry,
  weights: SafetensorsFile,
  io: SafetensorsFile,
  grad: SafetensorsFile,
  opts: GradientParityOptions = {},
): Promise<GradientParityReport> {
  if (!hasGradientFunctions())
    throw new InvalidArgumentError(
      "no gradient functions are registered: tfjs-core's Node bundle has none; import '@tensorflow/tfjs' once",
    );
  registerGradientKernels();
  const backend = tf.getBackend();
  const rel = opts.tolerance ?? 1e-3;
  const abs = opts.absTolerance ?? 1e-6;
  const reference = weights.metadata['reference'];
  if (!reference) throw new CheckpointError('weights file has no "reference" metadata: not a dynavit golden case');
  for (const k of ['cotangent', 'loss', 'grad.input'])
    if (!grad.tensors.has(k)) throw new CheckpointError(`gradient file has no "${k}" tensor`);
  const input = io.tensors.get('input');
  if (!input) throw new CheckpointError('io file has no "input" tensor');
  const family = registry.familyForReference(reference)?.name ?? '?';
  const model = registry.fromReference(weights.metadata);
  const keep: tf.Tensor[] = [];
  try {
    if (model.kind !== 'classifier')
      throw new InvalidArgumentError(
        `gradient parity needs a classifier (logits); ${reference} builds a ${model.kind}`,
      );
    model.loadStateDict(weights.tensors, { strict: true, source: 'golden weights' });
    model.eval();
    const params = [...model.namedParameters()];
    const cot = grad.tensors.get('cotangent')!;
    const cotangent = tf.tensor(toFloat32(cot), cot.shape);
    keep.push(cotangent);
    // tidy frees the initial tensor once the variable holds its data
    const x = tf.tidy(() => tf.variable(tf.tensor(toFloat32(input), input.shape), true));
    keep.push(x);
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.forward(toNHWC(x) as tf.Tensor4D);
      if (logits.shape.join() !== cotangent.shape.join())
        throw new ShapeError(
          'gradient parity',
          'cotangent',
          `[${logits.shape.join(',')}] (logits)`,
          `[${cot.shape.join(',')}]`,
        );
      return tf.sum(tf.mul(logits, cotangent)) as tf.Scalar;
    }, [x, ...params.map(([, p]) => p.variable)]);
    keep.push(value, ...Object.values(grads));
    // ours, named as in the golden file and in PyTorch layout; a parameter the loss does not reach has 0
    const ours = new Map<string, tf.Tensor>([['loss', value]]);
    const dx = grads[x.name];
    if (dx) ours.set('grad.input', dx);
    for (const [key, p] of params) {
      const g = grads[p.variable.name];
      const t = g ? torchLayoutTensor(g, p.torchShape, p.layout) : tf.zeros([...p.torchShape]);
      keep.push(t);
      ours.set(`grad.${key}`, t);
    }
    const host = new Map(await Promise.all([...ours].map(async ([k, t]) => [k, await t.data()] as const)));
    const millis = performance.now() - t0;
    const names = [...grad.tensors.keys()].filter((k) => k === 'loss' || k.startsWith('grad.'));
    const outputs: GradientOutputParity[] = names.map((name) => {
      const ref = grad.tensors.get(name)!;
      const got = host.get(name);
      const refValues = toFloat32(ref);
      if (!got) return missing(name, ref.shape, Math.max(0, ...Array.from(refValues, Math.abs)));
      const t = ours.get(name)!;
      const gotShape = name === 'loss' ? ref.shape : t.shape;
      // a 0-d parameter (GLNet's slot_scale) may have its gradient stored as [1]
      const scalarAsOne = gotShape.length === 0 && ref.shape.length === 1 && ref.shape[0] === 1;
      if (gotShape.join() !== ref.shape.join() && !scalarAsOne)
        throw new ShapeError('gradient parity', name, `[${ref.shape.join(',')}] (golden)`, `[${gotShape.join(',')}]`);
      const o = compareArrays(name, ref.shape, got, refValues, rel);
      const limit = rel * o.maxRef + abs;
      return { ...o, limit, ok: o.maxAbs <= limit };
    });
    // a parameter of ours the reference has no gradient for is a failure too, never silently passed
    const refNames = new Set(names);
    for (const k of ours.keys()) if (!refNames.has(k)) outputs.push(missing(k, ours.get(k)!.shape));
    return {
      kind: 'gradient',
      ok: outputs.every((o) => o.ok),
      backend,
      family,
      tolerance: rel,
      absTolerance: abs,
      outputs,
      millis,
    };
  } finally {
    tf.dispose(keep);
    model.dispose();
  }
}
