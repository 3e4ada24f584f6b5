/**
 * Model-free attention baselines, the comparisons the DAT++, DeBiFormer and GLMix papers make stage by
 * stage, written once here and registered as `core.global`, `core.window` and `core.dwconv`:
 *
 * - `GlobalAttention` — plain multi-head self-attention over all H·W tokens (ViT's `Attention`: `qkv`,
 *   `proj`); cost O((HW)²·C).
 * - `WindowAttention` — Swin's (shifted) window attention: w×w windows (the map padded at the bottom/right
 *   to multiples of w, as Swin pads), a learned relative position bias `relative_position_bias_table`
 *   [(2w−1)², heads]; odd blocks shift the windows by ⌊w/2⌋ with the attention mask Swin uses so no token
 *   attends across the wrap-around. Keys: `qkv`, `proj`, `relative_position_bias_table`.
 * - `DWConvMixer` — a depthwise k×k convolution then a pointwise projection (ConvNeXt's spatial mixing):
 *   `dwconv`, `proj`.
 *
 * Every one takes NHWC [B, H, W, C] and returns the same shape (core's `Attention2d`), reports its MACs to
 * `countMacs`, and has parameters named as the timm/Swin modules name them. Freshly built they are zero:
 * `initializeWeights` (init.ts) gives them the official initialisation for training.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Attention2d } from '../contracts.js';
import { InvalidArgumentError } from '../errors.js';
import { addMacs } from './flops.js';
import { Conv2d, Linear } from './layers.js';
import { Module, type Parameter } from './module.js';

function checkHeads(op: string, dim: number, numHeads: number): void {
  if (!Number.isInteger(numHeads) || numHeads < 1 || dim % numHeads !== 0)
    throw new InvalidArgumentError(`${op}: dim ${dim} must be divisible by the number of heads (${numHeads})`);
}

/** softmax(q·kᵀ·scale + bias) · v over [N, M, L, d] heads; `bias` broadcasts to [N, M, L, L]. */
function attend(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, bias?: tf.Tensor): tf.Tensor4D {
  const [n, m, l, d] = q.shape;
  addMacs(2 * n * m * l * l * d);
  let logits = tf.mul(tf.matMul(q, k, false, true), scale);
  if (bias) logits = tf.add(logits, bias);
  return tf.matMul(tf.softmax(logits), v) as tf.Tensor4D;
}

/** tokens [N, L, 3C] → q, k, v as [N, M, L, d]. */
function splitHeads(qkv: tf.Tensor3D, numHeads: number): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  const [n, l, c3] = qkv.shape;
  const d = c3 / 3 / numHeads;
  const t = tf.transpose(tf.reshape(qkv, [n, l, 3, numHeads, d]), [2, 0, 3, 1, 4]); // [3, N, M, L, d]
  const [q, k, v] = tf.unstack(t) as tf.Tensor4D[];
  return [q!, k!, v!];
}

/** [N, M, L, d] → [N, L, M·d]. */
const mergeHeads = (o: tf.Tensor4D): tf.Tensor3D => {
  const [n, m, l, d] = o.shape;
  return tf.reshape(tf.transpose(o, [0, 2, 1, 3]), [n, l, m * d]) as tf.Tensor3D;
};

/** Plain multi-head self-attention over every token of the map (ViT `Attention`). */
export class GlobalAttention extends Module implements Attention2d {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly scale: number;
  constructor(
    readonly dim: number,
    readonly numHeads: number,
  ) {
    super();
    checkHeads('GlobalAttention', dim, numHeads);
    this.scale = (dim / numHeads) ** -0.5;
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
    this.proj = this.child('proj', new Linear(dim, dim));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, c] = x.shape;
    return tf.tidy(() => {
      const tokens = tf.reshape(x, [b, h * w, c]);
      const [q, k, v] = splitHeads(this.qkv.forward(tokens) as tf.Tensor3D, this.numHeads);
      const o = this.proj.forward(mergeHeads(attend(q, k, v, this.scale)));
      return tf.reshape(o, [b, h, w, c]) as tf.Tensor4D;
    });
  }
}

/** out[i] = x[(i + shift) mod n] along `axis` (torch.roll by −shift). */
function roll(x: tf.Tensor4D, shift: number, axis: 1 | 2): tf.Tensor4D {
  const n = x.shape[axis];
  const k = ((shift % n) + n) % n;
  if (k === 0) return x;
  const begin = (at: number): [number, number, number, number] => (axis === 1 ? [0, at, 0, 0] : [0, 0, at, 0]);
  const size = (len: number): [number, number, number, number] => (axis === 1 ? [-1, len, -1, -1] : [-1, -1, len, -1]);
  return tf.concat([tf.slice(x, begin(k), size(n - k)), tf.slice(x, begin(0), size(k))], axis);
}

/** Swin's relative position index for a w×w window: [w², w²] into the (2w−1)² table. */
function relativeIndex(w: number): Int32Array {
  const n = w * w;
  const idx = new Int32Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / w) - Math.floor(j / w) + w - 1;
      const dx = (i % w) - (j % w) + w - 1;
      idx[i * n + j] = dy * (2 * w - 1) + dx;
    }
  return idx;
}

/**
 * Swin's shifted-window mask for a padded Hp×Wp map: [nW, w², w²], 0 where two tokens came from the same
 * region before the cyclic shift, −100 elsewhere.
 */
function shiftMask(hp: number, wp: number, w: number, s: number): Float32Array {
  const region = new Int32Array(hp * wp);
  const band = (p: number, size: number) => (p < size - w ? 0 : p < size - s ? 1 : 2);
  for (let y = 0; y < hp; y++) for (let x = 0; x < wp; x++) region[y * wp + x] = band(y, hp) * 3 + band(x, wp);
  const nh = hp / w;
  const nw = wp / w;
  const n = w * w;
  const mask = new Float32Array(nh * nw * n * n);
  for (let wy = 0; wy < nh; wy++)
    for (let wx = 0; wx < nw; wx++) {
      const base = (wy * nw + wx) * n * n;
      for (let i = 0; i < n; i++) {
        const ri = region[(wy * w + Math.floor(i / w)) * wp + wx * w + (i % w)]!;
        for (let j = 0; j < n; j++) {
          const rj = region[(wy * w + Math.floor(j / w)) * wp + wx * w + (j % w)]!;
          mask[base + i * n + j] = ri === rj ? 0 : -100;
        }
      }
    }
  return mask;
}

/** Swin-style (shifted) window attention with a relative position bias. */
export class WindowAttention extends Module implements Attention2d {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly relative_position_bias_table: Parameter;
  readonly scale: number;
  readonly #index: Int32Array;
  /** Swin's shift mask per padded map size, computed once on the host */
  readonly #masks = new Map<string, Float32Array>();
  constructor(
    readonly dim: number,
    readonly numHeads: number,
    /** window side w */
    readonly window: number,
    /** cyclic shift (Swin: 0 in even blocks, ⌊w/2⌋ in odd ones) */
    readonly shift = 0,
  ) {
    super();
    checkHeads('WindowAttention', dim, numHeads);
    if (!Number.isInteger(window) || window < 1)
      throw new InvalidArgumentError(`WindowAttention: window must be a positive integer, got ${window}`);
    if (!Number.isInteger(shift) || shift < 0 || shift >= window)
      throw new InvalidArgumentError(`WindowAttention: shift must be in [0, window), got ${shift}`);
    this.scale = (dim / numHeads) ** -0.5;
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
    this.proj = this.child('proj', new Linear(dim, dim));
    this.relative_position_bias_table = this.param('relative_position_bias_table', [(2 * window - 1) ** 2, numHeads]);
    this.#index = relativeIndex(window);
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, wd, c] = x.shape;
    const w = this.window;
    const hp = Math.ceil(h / w) * w;
    const wp = Math.ceil(wd / w) * w;
    // a map no larger than one window is not shifted (Swin: shift 0 when the window covers the map)
    const s = h <= w && wd <= w ? 0 : this.shift;
    return tf.tidy(() => {
      let t: tf.Tensor4D =
        hp > h || wp > wd
          ? tf.pad(x, [
              [0, 0],
              [0, hp - h],
              [0, wp - wd],
              [0, 0],
            ])
          : x;
      if (s > 0) t = roll(roll(t, s, 1), s, 2); // torch.roll(x, (−s, −s), (1, 2))
      const nh = hp / w;
      const nw = wp / w;
      const n = w * w;
      // windows [B·nW, w², C]
      const win = tf.reshape(tf.transpose(tf.reshape(t, [b, nh, w, nw, w, c]), [0, 1, 3, 2, 4, 5]), [
        b * nh * nw,
        n,
        c,
      ]);
      const [q, k, v] = splitHeads(this.qkv.forward(win) as tf.Tensor3D, this.numHeads);
      // bias [M, w², w²] from the table
      const bias = tf.transpose(
        tf.reshape(tf.gather(this.relative_position_bias_table.value, tf.tensor1d(this.#index, 'int32')), [
          n,
          n,
          this.numHeads,
        ]),
        [2, 0, 1],
      );
      let full: tf.Tensor = tf.expandDims(bias, 0); // [1, M, n, n]
      if (s > 0) {
        const key = `${hp}x${wp}`;
        let host = this.#masks.get(key);
        if (!host) {
          host = shiftMask(hp, wp, w, s);
          this.#masks.set(key, host);
        }
        const mask = tf.tensor4d(host, [nh * nw, 1, n, n]);
        full = tf.reshape(
          tf.add(tf.reshape(full, [1, 1, this.numHeads, n, n]), tf.reshape(mask, [1, nh * nw, 1, n, n])),
          [nh * nw, this.numHeads, n, n],
        );
        full = tf.tile(full, [b, 1, 1, 1]); // [B·nW, M, n, n]
      }
      const o = this.proj.forward(mergeHeads(attend(q, k, v, this.scale, full))); // [B·nW, n, C]
      let y = tf.reshape(tf.transpose(tf.reshape(o, [b, nh, nw, w, w, c]), [0, 1, 3, 2, 4, 5]), [b, hp, wp, c]);
      if (s > 0) y = roll(roll(y as tf.Tensor4D, hp - s, 1), wp - s, 2); // torch.roll(x, (s, s), (1, 2))
      return (hp > h || wp > wd ? tf.slice(y, [0, 0, 0, 0], [b, h, wd, c]) : y) as tf.Tensor4D;
    });
  }
}

/** A depthwise k×k convolution, then a pointwise projection (ConvNeXt-style spatial mixing). */
export class DWConvMixer extends Module implements Attention2d {
  readonly dwconv: Conv2d;
  readonly proj: Linear;
  constructor(
    readonly dim: number,
    readonly kernel = 7,
  ) {
    super();
    if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 === 0)
      throw new InvalidArgumentError(`DWConvMixer: kernel must be a positive odd integer, got ${kernel}`);
    this.dwconv = this.child('dwconv', new Conv2d(dim, dim, kernel, { padding: (kernel - 1) / 2, groups: dim }));
    this.proj = this.child('proj', new Linear(dim, dim));
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.proj.forward(this.dwconv.forward(x)) as tf.Tensor4D);
  }
}
