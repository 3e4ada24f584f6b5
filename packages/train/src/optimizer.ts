/**
 * AdamW with PyTorch's semantics (`torch.optim.AdamW`, decoupled weight decay), the official
 * weight-decay exclusions, and global-norm gradient clipping (`torch.nn.utils.clip_grad_norm_`).
 *
 * One update, for each parameter p with gradient g, at step t (1-based), learning rate lr and decay wd
 * (PyTorch's `_single_tensor_adamw`, in the same order):
 *
 *     p ← p·(1 − lr·wd)
 *     m ← m + (1 − β1)·(g − m)                 (exp_avg.lerp_(grad, 1 − β1))
 *     v ← β2·v + (1 − β2)·g²
 *     p ← p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  fromTorchLayout,
  InvalidArgumentError,
  type ParamLayout,
  type StateDict,
  torchLayoutTensor,
} from '@dynavit/core';

/**
 * Name segments of position tables the official code keeps out of weight decay, matched anywhere in a
 * parameter's name: DAT's `no_weight_decay_keywords` (`relative_position_bias_table`, `rpe_table`, both
 * Swin's rule) and `no_weight_decay` (`absolute_pos_embed`), applied to every family (DeBiFormer's
 * deformable attention has the same `rpe_table`; core's window attention Swin's table).
 */
export const NO_WEIGHT_DECAY_KEYWORDS: readonly string[] = [
  'relative_position_bias_table',
  'rpe_table',
  'absolute_pos_embed',
];

/**
 * Exact parameter names the official code keeps out of weight decay (BiFormer's, hence DeBiFormer's and
 * GLNet's, `no_weight_decay()`: `pos_embed`, `cls_token`, matched by timm on the whole name).
 */
export const NO_WEIGHT_DECAY_NAMES: readonly string[] = ['pos_embed', 'cls_token'];

/**
 * Whether a parameter is kept out of weight decay: timm's `param_groups_weight_decay` and Swin's
 * `set_weight_decay` (1-D tensors — norm weights, biases, scalars — and names ending in `.bias`), plus
 * the official position tables ({@link NO_WEIGHT_DECAY_KEYWORDS}, {@link NO_WEIGHT_DECAY_NAMES}).
 */
export function isNoWeightDecay(name: string, torchShape: readonly number[]): boolean {
  return (
    torchShape.length <= 1 ||
    name.endsWith('.bias') ||
    NO_WEIGHT_DECAY_NAMES.includes(name) ||
    NO_WEIGHT_DECAY_KEYWORDS.some((k) => name.includes(k))
  );
}

/** One trainable parameter as the optimizer sees it. */
export interface OptimizedParam {
  /** the official state_dict key */
  name: string;
  variable: tf.Variable;
  /** weight decay for this parameter (0 for the exclusions) */
  weightDecay: number;
  /** multiplier on the scheduled learning rate (timm's `lr_scale`; e.g. a lower backbone rate) */
  lrScale: number;
  /**
   * The parameter's device layout and PyTorch shape (a core `Parameter`'s): the moments are saved in
   * PyTorch's layout, like the weights. Default: 'identity', the variable's shape.
   */
  layout?: ParamLayout;
  torchShape?: readonly number[];
}

/** How {@link AdamW.loadStateDict} reads the moments of a checkpoint. */
export type MomentsLayout =
  /** PyTorch's layout, as {@link AdamW.stateDict} writes them */
  | 'torch'
  /**
   * the device layout of checkpoints written before the moments were saved in PyTorch's layout (no
   * `momentsLayout` in their training state), when linear weights were [out, in] on the device
   */
  | 'device-v1';

export interface AdamWOptions {
  /** default [0.9, 0.999] */
  betas?: readonly [number, number];
  /** default 1e-8 */
  eps?: number;
}

const torchShapeOf = (p: OptimizedParam): readonly number[] => p.torchShape ?? p.variable.shape;

/** PyTorch's AdamW over a fixed list of parameters; moments are created at zero on the first update. */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** updates applied so far (PyTorch's per-parameter `step`, the same for all) */
  step = 0;
  readonly #m = new Map<string, tf.Variable>();
  readonly #v = new Map<string, tf.Variable>();

  constructor(
    readonly params: readonly OptimizedParam[],
    options: AdamWOptions = {},
  ) {
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    const names = new Set<string>();
    for (const p of params) {
      if (names.has(p.name)) throw new InvalidArgumentError(`AdamW: parameter "${p.name}" is listed twice`);
      names.add(p.name);
    }
  }

  #moment(map: Map<string, tf.Variable>, p: OptimizedParam): tf.Variable {
    let m = map.get(p.name);
    if (!m) {
      m = tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false));
      map.set(p.name, m);
    }
    return m;
  }

  /**
   * Apply one update with learning rate `lr` (times each parameter's `lrScale`). `grads` maps a
   * parameter's name to its gradient; a parameter without one is left alone (as PyTorch skips
   * `grad is None`), its step count still advancing with the others.
   */
  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.step++;
    const t = this.step;
    const bc1 = 1 - this.beta1 ** t;
    const bc2Sqrt = Math.sqrt(1 - this.beta2 ** t);
    for (const p of this.params) {
      const g = grads.get(p.name);
      if (!g) continue;
      const m = this.#moment(this.#m, p);
      const v = this.#moment(this.#v, p);
      const plr = lr * p.lrScale;
      tf.tidy(() => {
        const decayed = p.weightDecay !== 0 ? tf.mul(p.variable, 1 - plr * p.weightDecay) : p.variable;
        const m1 = tf.add(m, tf.mul(tf.sub(g, m), 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.mul(g, g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v1), bc2Sqrt), this.eps);
        const p1 = tf.sub(decayed, tf.mul(tf.div(m1, denom), plr / bc1));
        m.assign(m1);
        v.assign(v1);
        p.variable.assign(p1);
      });
    }
  }

  /**
   * The moments as host tensors in PyTorch's layout (each parameter's `torchShape`), `exp_avg.<name>`
   * and `exp_avg_sq.<name>`, for a checkpoint.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [prefix, map] of [
      ['exp_avg', this.#m],
      ['exp_avg_sq', this.#v],
    ] as const)
      for (const p of this.params) {
        const t = map.get(p.name);
        if (!t) continue;
        const host = torchLayoutTensor(t, torchShapeOf(p), p.layout ?? 'identity');
        out.set(`${prefix}.${p.name}`, {
          dtype: 'F32',
          shape: [...host.shape],
          data: new Float32Array(host.dataSync()),
        });
        host.dispose();
      }
    return out;
  }

  /**
   * Restore moments written by {@link stateDict} (and the step count, which lives in the training state);
   * `layout` 'device-v1' reads those of older checkpoints.
   */
  loadStateDict(sd: StateDict, step: number, layout: MomentsLayout = 'torch'): void {
    this.step = step;
    for (const [prefix, map] of [
      ['exp_avg', this.#m],
      ['exp_avg_sq', this.#v],
    ] as const)
      for (const p of this.params) {
        const e = sd.get(`${prefix}.${p.name}`);
        if (!e) continue;
        const pLayout = p.layout ?? 'identity';
        // older checkpoints: the device layout, except linear weights, which were [out, in] (PyTorch's)
        const asTorch = layout === 'torch' || pLayout === 'linear';
        const want = asTorch ? torchShapeOf(p) : p.variable.shape;
        const same = e.shape.length === want.length && e.shape.every((d, i) => d === want[i]);
        if (!same || !(e.data instanceof Float32Array))
          throw new InvalidArgumentError(
            `AdamW: ${prefix}.${p.name} has shape [${e.shape.join(',')}] (${e.dtype}), the parameter [${want.join(',')}]`,
          );
        const t = asTorch ? fromTorchLayout(e.data, want, pLayout) : tf.tensor(e.data, e.shape, 'float32');
        this.#moment(map, p).assign(t);
        t.dispose();
      }
  }

  dispose(): void {
    for (const m of [...this.#m.values(), ...this.#v.values()]) m.dispose();
    this.#m.clear();
    this.#v.clear();
  }
}

/**
 * `torch.nn.utils.clip_grad_norm_(params, maxNorm)` on a map of gradients: the global 2-norm of all
 * gradients (the norm of the per-tensor norms), every gradient scaled by min(1, maxNorm/(norm + 1e-6)).
 * Returns the scaled gradients (the inputs are disposed) and the norm before clipping (read back asynchronously).
 */
export async function clipGradNorm(
  grads: Map<string, tf.Tensor>,
  maxNorm: number,
): Promise<{ grads: Map<string, tf.Tensor>; norm: number }> {
  if (grads.size === 0) return { grads, norm: 0 };
  const normT = tf.tidy(() => tf.norm(tf.stack([...grads.values()].map((g) => tf.norm(g)))));
  const norm = (await normT.data())[0]!;
  const coef = tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(normT, 1e-6)), 1));
  const out = new Map<string, tf.Tensor>();
  for (const [k, g] of grads) {
    out.set(k, tf.mul(g, coef));
    g.dispose();
  }
  tf.dispose([normT, coef]);
  return { grads: out, norm };
}
