/**
 * A small module system mirroring torch.nn.Module's naming: parameters and buffers registered under the
 * official state_dict key segments, children in registration order, so `stateDict()` yields the exact
 * PyTorch keys in PyTorch's order (own parameters, own buffers, then each child recursively).
 *
 * Parameters live on the device as `tf.Variable`s in the layout tfjs kernels want (conv HWIO, depthwise
 * [kh,kw,C,m], linear [in,out]); `loadStateDict` converts from PyTorch layout and `stateDict`
 * converts back, so a load/export round trip is bit-exact.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type MisshapenKey, StateDictError } from '../errors.js';
import { type DType, numel, type StateDict, type TensorData, toFloat32 } from '../io/tensor-data.js';

/** How a PyTorch tensor is laid out on the tfjs side. */
export type ParamLayout =
  /** same layout (norms, biases, tables, 0-d scalars) */
  | 'identity'
  /**
   * torch linear [out, in] → [in, out], so x·W is a plain matMul: transposing the weight at every call
   * cost 3× the product on wasm for few rows (49×512 · 512×1536: 12.6 ms against 4.3 ms; a classifier
   * head at batch 1: 3.8 ms against 0.1 ms), as the transposed copy is new each time
   */
  | 'linear'
  /** torch conv OIHW [O, I/g, kh, kw] → tfjs HWIO [kh, kw, I/g, O] */
  | 'conv2d'
  /** torch depthwise [C·m, 1, kh, kw] → tfjs [kh, kw, C, m] */
  | 'depthwise';

export class Parameter {
  readonly variable: tf.Variable;
  constructor(
    readonly torchShape: readonly number[],
    readonly layout: ParamLayout,
    readonly trainable: boolean,
  ) {
    // tidy frees the zeros once the variable holds (a reference to) their data
    this.variable = tf.tidy(() => tf.variable(tf.zeros(tfShape(torchShape, layout)), trainable));
  }
  /** The device tensor, in the tfjs layout. */
  get value(): tf.Tensor {
    return this.variable;
  }
  get size(): number {
    return numel(this.torchShape);
  }
}

/** An integer buffer kept on the host (torch's `num_batches_tracked`): exported, never required. */
export interface HostBuffer {
  dtype: 'I64';
  torchShape: readonly number[];
  value: bigint;
}

function tfShape(s: readonly number[], layout: ParamLayout): number[] {
  switch (layout) {
    case 'identity':
      return [...s];
    case 'linear':
      return [s[1]!, s[0]!];
    case 'conv2d':
      return [s[2]!, s[3]!, s[1]!, s[0]!];
    case 'depthwise':
      return [s[2]!, s[3]!, s[0]!, 1];
  }
}

/** torch-layout host tensor → tfjs-layout device tensor. */
export function fromTorchLayout(values: Float32Array, torchShape: readonly number[], layout: ParamLayout): tf.Tensor {
  return tf.tidy(() => {
    const t = tf.tensor(values, [...torchShape], 'float32');
    if (layout === 'conv2d') return tf.transpose(t, [2, 3, 1, 0]);
    if (layout === 'depthwise') return tf.reshape(tf.transpose(t, [2, 3, 0, 1]), tfShape(torchShape, layout));
    if (layout === 'linear') return tf.transpose(t);
    return t;
  });
}

/**
 * tfjs-layout device tensor → a new torch-layout device tensor (a parameter's value, or a gradient with
 * respect to it: the layouts are permutations, so gradients map the same way).
 */
export function torchLayoutTensor(t: tf.Tensor, torchShape: readonly number[], layout: ParamLayout): tf.Tensor {
  return tf.tidy(() => {
    if (layout === 'conv2d') return tf.transpose(t, [3, 2, 0, 1]);
    if (layout === 'depthwise')
      return tf.transpose(tf.reshape(t, [torchShape[2]!, torchShape[3]!, torchShape[0]!, 1]), [2, 3, 0, 1]);
    if (layout === 'linear') return tf.transpose(t);
    return tf.clone(t);
  });
}

/** tfjs-layout device tensor → torch-layout host values. */
export function toTorchLayout(t: tf.Tensor, torchShape: readonly number[], layout: ParamLayout): Float32Array {
  const host = torchLayoutTensor(t, torchShape, layout);
  const data = host.dataSync() as Float32Array;
  host.dispose();
  return new Float32Array(data);
}

export interface LoadStateDictOptions {
  /** Fail on any missing, unexpected or misshapen key (default true). */
  strict?: boolean;
  /** Where the weights came from, for error messages. */
  source?: string;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
  misshapen: MisshapenKey[];
  loaded: number;
}

export interface NamedEntry {
  key: string;
  kind: 'parameter' | 'buffer';
  torchShape: readonly number[];
  dtype: DType;
}

export class Module {
  #params = new Map<string, Parameter>();
  #buffers = new Map<string, Parameter | HostBuffer>();
  #children = new Map<string, Module>();
  training = false;

  /** Register a learnable parameter (torch shape) under its official name. */
  protected param(name: string, torchShape: readonly number[], layout: ParamLayout = 'identity'): Parameter {
    this.#assertFree(name);
    const p = new Parameter(torchShape, layout, true);
    this.#params.set(name, p);
    return p;
  }

  /** Register a float buffer that is part of the state dict (e.g. BatchNorm running stats). */
  protected buffer(name: string, torchShape: readonly number[]): Parameter {
    this.#assertFree(name);
    const p = new Parameter(torchShape, 'identity', false);
    this.#buffers.set(name, p);
    return p;
  }

  /** Register an int64 host buffer (torch `num_batches_tracked`): exported, optional on load. */
  protected hostBuffer(name: string): HostBuffer {
    this.#assertFree(name);
    const b: HostBuffer = { dtype: 'I64', torchShape: [], value: 0n };
    this.#buffers.set(name, b);
    return b;
  }

  /** Register a child module under its official name segment. */
  protected child<M extends Module>(name: string, m: M): M {
    this.#assertFree(name);
    this.#children.set(name, m);
    return m;
  }

  #assertFree(name: string): void {
    if (this.#params.has(name) || this.#buffers.has(name) || this.#children.has(name))
      throw new InvalidArgumentError(`${this.constructor.name}: "${name}" is registered twice`);
  }

  children(): IterableIterator<[string, Module]> {
    return this.#children.entries();
  }

  /**
   * This module and every descendant, depth first in registration order, each with the key prefix of
   * its state-dict entries ("" for this module, "stages.0." …).
   */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, c] of this.#children) yield* c.namedModules(`${prefix}${n}.`);
  }

  /** Every parameter and buffer with its full key, in PyTorch state_dict order. */
  *namedEntries(prefix = ''): Generator<NamedEntry & { ref: Parameter | HostBuffer }> {
    for (const [n, p] of this.#params)
      yield { key: prefix + n, kind: 'parameter', torchShape: p.torchShape, dtype: 'F32', ref: p };
    for (const [n, b] of this.#buffers)
      yield {
        key: prefix + n,
        kind: 'buffer',
        torchShape: b.torchShape,
        dtype: b instanceof Parameter ? 'F32' : b.dtype,
        ref: b,
      };
    for (const [n, c] of this.#children) yield* c.namedEntries(`${prefix}${n}.`);
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const e of this.namedEntries(prefix)) if (e.kind === 'parameter') yield [e.key, e.ref as Parameter];
  }

  /** The trainable variables, e.g. for `tf.variableGrads`. */
  variables(): tf.Variable[] {
    return [...this.namedParameters()].map(([, p]) => p.variable);
  }

  /** Number of parameter elements (buffers excluded), as `sum(p.numel() for p in m.parameters())`. */
  parameterCount(): number {
    let n = 0;
    for (const [, p] of this.namedParameters()) n += p.size;
    return n;
  }

  /** Keys and PyTorch shapes, in state_dict order, without reading any data. */
  stateDictShapes(): Array<[string, number[]]> {
    return [...this.namedEntries()].map((e) => [e.key, [...e.torchShape]]);
  }

  /** Export every parameter and buffer in PyTorch layout and order. */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const e of this.namedEntries()) {
      if (e.ref instanceof Parameter) {
        out.set(e.key, {
          dtype: 'F32',
          shape: [...e.torchShape],
          data: toTorchLayout(e.ref.variable, e.torchShape, e.ref.layout),
        });
      } else {
        out.set(e.key, { dtype: 'I64', shape: [], data: BigInt64Array.of(e.ref.value) });
      }
    }
    return out;
  }

  /**
   * Load PyTorch-layout weights by name. Float16/bfloat16/int values are upcast to float32; int64
   * `num_batches_tracked` is accepted but never required. With `strict` (default) one StateDictError
   * lists every missing, unexpected and misshapen key and nothing is assigned.
   */
  loadStateDict(weights: StateDict | Record<string, TensorData>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const sd: StateDict = weights instanceof Map ? weights : new Map(Object.entries(weights));
    const entries = [...this.namedEntries()];
    const known = new Set(entries.map((e) => e.key));
    const missing: string[] = [];
    const misshapen: MisshapenKey[] = [];
    const todo: Array<[Parameter | HostBuffer, TensorData]> = [];
    for (const e of entries) {
      const w = sd.get(e.key);
      if (!w) {
        if (!(e.ref instanceof Parameter)) continue; // num_batches_tracked: optional
        missing.push(e.key);
        continue;
      }
      const sameShape = w.shape.length === e.torchShape.length && w.shape.every((d, i) => d === e.torchShape[i]);
      if (!sameShape) misshapen.push({ key: e.key, expected: [...e.torchShape], got: [...w.shape] });
      else todo.push([e.ref, w]);
    }
    const unexpected = [...sd.keys()].filter((k) => !known.has(k));
    if (strict && (missing.length || unexpected.length || misshapen.length))
      throw new StateDictError(missing, unexpected, misshapen, opts.source ? `(${opts.source})` : '');
    for (const [ref, w] of todo) {
      if (ref instanceof Parameter) {
        const t = fromTorchLayout(toFloat32(w), ref.torchShape, ref.layout);
        ref.variable.assign(t);
        t.dispose();
      } else {
        const d = w.data;
        ref.value = d instanceof BigInt64Array ? d[0]! : BigInt(Math.round(Number(d[0] ?? 0)));
      }
    }
    return { missing, unexpected, misshapen, loaded: todo.length };
  }

  /** Switch dropout/drop-path behaviour for this module and every child. */
  train(on = true): this {
    this.training = on;
    for (const [, c] of this.#children) c.train(on);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Free every parameter and buffer (never the backend). */
  dispose(): void {
    for (const p of this.#params.values()) p.variable.dispose();
    for (const b of this.#buffers.values()) if (b instanceof Parameter) b.variable.dispose();
    for (const c of this.#children.values()) c.dispose();
  }
}

/** An indexed container (`nn.ModuleList` / `nn.Sequential` keys: "0", "1", …). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.append(m);
  }
  append(m: M): M {
    this.child(String(this.items.length), m);
    this.items.push(m);
    return m;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new InvalidArgumentError(`ModuleList index ${i} out of range (${this.items.length})`);
    return m;
  }
}
