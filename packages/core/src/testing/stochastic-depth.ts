/**
 * Checks of a model's stochastic depth (timm `DropPath`) for the family test suites: which rates its
 * drop paths got, and which residual branches they wrap. The placement check needs no knowledge of the
 * official code beyond naming the branches: with every drop path dropping, a training forward must equal
 * an eval forward in which exactly those branches return zeros.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, DropPath, type Layer, seedDropPaths } from '../nn/layers.js';
import type { Module } from '../nn/module.js';

/** The rate of every {@link DropPath} of `model`, in registration order. */
export function dropPathRatesOf(model: Module): number[] {
  return [...model.namedModules()]
    .map(([, m]) => m)
    .filter((m): m is DropPath => m instanceof DropPath)
    .map((d) => d.p);
}

/** Replace `forward` of each module by `f` while `fn` runs (an own property, removed afterwards). */
function patched<T>(targets: readonly Module[], f: (x: tf.Tensor) => tf.Tensor, fn: () => T): T {
  for (const m of targets) Object.defineProperty(m, 'forward', { value: f, configurable: true, writable: true });
  try {
    return fn();
  } finally {
    for (const m of targets) delete (m as { forward?: unknown }).forward;
  }
}

export interface DropPathPlacement {
  /** max |training forward with every drop path dropping − eval forward with `branches` zeroed| */
  maxDiff: number;
  /** max |training forward with every drop path dropping − plain eval forward| (> 0: dropping mattered) */
  changed: number;
}

/**
 * Forward `x` twice: in training mode with every DropPath dropping its whole input, and in eval mode with
 * each of `branches` returning zeros. BatchNorm stays in eval mode both times, so only the drop paths
 * differ. `maxDiff` 0 (to rounding) means the drop paths wrap exactly `branches`.
 */
export function dropPathPlacement(
  model: Module & { forward(x: tf.Tensor4D): tf.Tensor },
  x: tf.Tensor4D,
  branches: ReadonlyArray<Module & Layer>,
): DropPathPlacement {
  const all = [...model.namedModules()].map(([, m]) => m);
  const drops = all.filter((m) => m instanceof DropPath);
  const norms = all.filter((m) => m instanceof BatchNorm2d);
  const wasTraining = model.training;
  const zeros = (t: tf.Tensor) => tf.zerosLike(t);
  try {
    return tf.tidy(() => {
      model.train();
      for (const n of norms) n.eval();
      const dropped = patched(drops, zeros, () => model.forward(x));
      model.eval();
      const zeroed = patched(branches, zeros, () => model.forward(x));
      const plain = model.forward(x);
      const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
      return { maxDiff: maxAbs(dropped, zeroed), changed: maxAbs(dropped, plain) };
    });
  } finally {
    model.train(wasTraining);
  }
}

/**
 * A training-mode forward of `x` with every drop path seeded from `seed` ({@link seedDropPaths}), its
 * values on the host; the model's mode is restored. Two calls with one seed must agree.
 */
export function seededTrainingForward(
  model: Module & { forward(x: tf.Tensor4D): tf.Tensor },
  x: tf.Tensor4D,
  seed: number,
): number[] {
  const wasTraining = model.training;
  model.train();
  try {
    seedDropPaths(model, seed);
    const y = model.forward(x);
    const v = Array.from(y.dataSync());
    y.dispose();
    return v;
  } finally {
    model.train(wasTraining);
  }
}
