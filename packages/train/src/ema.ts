/**
 * Weight EMA, timm's `ModelEmaV3` as `train.py` uses it (no warm-up): after every optimizer update,
 * each floating-point state entry (parameters and float buffers such as BatchNorm running statistics)
 * moves toward the model's, `ema ← ema + (1 − decay)·(model − ema)` (`torch.lerp`); integer buffers are
 * copied.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  fromTorchLayout,
  type HostBuffer,
  type Module,
  Parameter,
  type StateDict,
  toTorchLayout,
} from '@dynavit/core';

export class ModelEma {
  readonly #values = new Map<string, { ref: Parameter; value: tf.Variable }>();
  readonly #host = new Map<string, HostBuffer>();
  readonly #hostValues = new Map<string, bigint>();

  constructor(
    readonly model: Module,
    readonly decay = 0.9998,
  ) {
    for (const e of model.namedEntries()) {
      if (e.ref instanceof Parameter) {
        const ref = e.ref;
        this.#values.set(e.key, { ref, value: tf.tidy(() => tf.variable(tf.clone(ref.variable), false)) });
      } else {
        this.#host.set(e.key, e.ref);
        this.#hostValues.set(e.key, e.ref.value);
      }
    }
  }

  /** One EMA step after an optimizer update. */
  update(): void {
    const w = 1 - this.decay;
    for (const { ref, value } of this.#values.values())
      tf.tidy(() => value.assign(tf.add(value, tf.mul(tf.sub(ref.variable, value), w))));
    for (const [k, b] of this.#host) this.#hostValues.set(k, b.value);
  }

  /** Run `fn` with the EMA weights in the model, then put the model's own weights back. */
  withWeights<T>(fn: () => Promise<T>): Promise<T> {
    const saved = new Map<tf.Variable, tf.Tensor>();
    for (const { ref, value } of this.#values.values()) {
      saved.set(ref.variable, tf.clone(ref.variable));
      ref.variable.assign(value);
    }
    const restore = () => {
      for (const [v, t] of saved) {
        v.assign(t);
        t.dispose();
      }
    };
    return fn().finally(restore);
  }

  /** The EMA weights as a PyTorch-layout state dict (the model's keys and order): a loadable checkpoint. */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const e of this.model.namedEntries()) {
      const v = this.#values.get(e.key);
      if (v)
        out.set(e.key, {
          dtype: 'F32',
          shape: [...e.torchShape],
          data: toTorchLayout(v.value, e.torchShape, v.ref.layout),
        });
      else out.set(e.key, { dtype: 'I64', shape: [], data: BigInt64Array.of(this.#hostValues.get(e.key) ?? 0n) });
    }
    return out;
  }

  /** Restore EMA weights written by {@link stateDict}; every float entry must be present. */
  loadStateDict(sd: StateDict): void {
    for (const [k, { ref, value }] of this.#values) {
      const e = sd.get(k);
      if (!e || !(e.data instanceof Float32Array)) throw new CheckpointError(`EMA weights: "${k}" is missing`);
      const t = fromTorchLayout(e.data, ref.torchShape, ref.layout);
      value.assign(t);
      t.dispose();
    }
    for (const k of this.#host.keys()) {
      const e = sd.get(k);
      if (e?.data instanceof BigInt64Array) this.#hostValues.set(k, e.data[0]!);
    }
  }

  dispose(): void {
    for (const { value } of this.#values.values()) value.dispose();
    this.#values.clear();
  }
}
