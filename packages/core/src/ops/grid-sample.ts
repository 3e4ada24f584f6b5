/**
 * Bilinear grid sampling with the semantics of torch `F.grid_sample(mode='bilinear')` (tfjs-core has
 * none). Used by DAT (deformable keys and the RPE table, dat.md §4.4/§4.6) and DBRA (dbra.md §4.5).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { assertDim, assertRank, fmtShape } from './assert.js';
import { stopGradient } from './stop-gradient.js';

export type GridSamplePadding = 'zeros' | 'border';

export interface GridSampleOptions {
  /**
   * true: -1 and +1 are the centres of the corner pixels, `ix = (gx + 1) · (W − 1)/2`.
   * false: -1 and +1 are the outer edges of the corner pixels, `ix = (gx + 1) · W/2 − 0.5`
   * (= ((gx + 1)·W − 1)/2).
   */
  alignCorners: boolean;
  /**
   * 'zeros' (default): a corner outside the map contributes 0 (its weight is zeroed).
   * 'border': the pixel coordinate is clamped into [0, W−1] × [0, H−1] before the corners are taken,
   * so samples outside the map repeat the edge.
   */
  paddingMode?: GridSamplePadding;
}

const OP = 'gridSample';

/**
 * torch `F.grid_sample(input, grid, mode='bilinear', padding_mode, align_corners)` in NHWC.
 *
 * - `input` [N, H, W, C] float32 — the map to sample (torch's [N, C, H, W] transposed).
 * - `grid` [N, Ho, Wo, 2] float32 — last axis (x, y) in normalised coordinates, -1 … +1 spanning
 *   the map (torch order: x first). Values outside [-1, 1] are allowed.
 * - returns [N, Ho, Wo, C].
 *
 * Arithmetic follows torch's CPU kernel step by step in float32, so results agree to rounding:
 * `ix = (gx + 1)·((W−1)/2)` (alignCorners) or `(gx + 1)·(W/2) − 0.5`; x0 = ⌊ix⌋; distances
 * w = ix − x0, e = 1 − w, n = iy − y0, s = 1 − n; corner weights nw = s·e, ne = s·w, sw = n·e,
 * se = n·w, zeroed for corners outside the map; out = ((v_nw·nw + v_ne·ne) + v_sw·sw) + v_se·se.
 * Values are fetched with one plain `tf.gather` per corner from the input flattened to [N·H·W, C]
 * at int32 index b·H·W + y·W + x (clamped into range), so N·H·W must stay below 2^31.
 *
 * Differentiable w.r.t. `input` (through the gathers; needs UnsortedSegmentSum, i.e. the cpu/webgl/
 * webgpu backends, not wasm) and w.r.t. `grid` (through the corner weights; the integer corner indices
 * are cut from the tape with {@link stopGradient}, as torch treats them). In 'border' mode the
 * gradient w.r.t. a clamped coordinate is 0 outside the map; exactly on the edge tfjs's clipByValue
 * passes it through where torch gives 0 (a measure-zero difference).
 */
export function gridSample(input: tf.Tensor4D, grid: tf.Tensor4D, options: GridSampleOptions): tf.Tensor4D {
  assertRank(OP, 'input', input, 4);
  assertRank(OP, 'grid', grid, 4);
  const [n, h, w, c] = input.shape;
  assertDim(OP, 'grid', grid, 0, n, `batch ${n} (the batch of input)`);
  assertDim(OP, 'grid', grid, 3, 2, 'size 2 (x, y)');
  if (h < 1 || w < 1) throw new ShapeError(OP, 'input', 'a non-empty map (H ≥ 1, W ≥ 1)', fmtShape(input.shape));
  if (input.dtype !== 'float32') throw new InvalidArgumentError(`${OP}: input must be float32, got ${input.dtype}`);
  if (grid.dtype !== 'float32') throw new InvalidArgumentError(`${OP}: grid must be float32, got ${grid.dtype}`);
  const padding = options.paddingMode ?? 'zeros';
  if (padding !== 'zeros' && padding !== 'border')
    throw new InvalidArgumentError(`${OP}: paddingMode must be 'zeros' or 'border', got '${String(padding)}'`);
  const [, ho, wo] = grid.shape;

  return tf.tidy(() => {
    const [gx, gy] = tf.split(grid, 2, 3) as [tf.Tensor4D, tf.Tensor4D]; // each [N, Ho, Wo, 1]
    const ix = unnormalize(gx, w, options.alignCorners, padding);
    const iy = unnormalize(gy, h, options.alignCorners, padding);

    // Integer corners, off the tape (their gradient is zero anyway; see stopGradient for why).
    const x0 = tf.floor(stopGradient(ix));
    const y0 = tf.floor(stopGradient(iy));
    const x1 = tf.add(x0, 1);
    const y1 = tf.add(y0, 1);

    // Distances to the four sides (torch's w/e/n/s), differentiable through ix, iy.
    const dw = tf.sub(ix, x0);
    const de = tf.sub(1, dw);
    const dn = tf.sub(iy, y0);
    const ds = tf.sub(1, dn);

    // Out-of-range corners get weight 0 ('zeros'); in 'border' mode only x1 = W / y1 = H can be out.
    const mx0 = inRange(x0, w);
    const mx1 = inRange(x1, w);
    const my0 = inRange(y0, h);
    const my1 = inRange(y1, h);
    const wNW = tf.mul(tf.mul(ds, de), tf.mul(my0, mx0));
    const wNE = tf.mul(tf.mul(ds, dw), tf.mul(my0, mx1));
    const wSW = tf.mul(tf.mul(dn, de), tf.mul(my1, mx0));
    const wSE = tf.mul(tf.mul(dn, dw), tf.mul(my1, mx1));

    // Flat indices b·H·W + y·W + x into the input flattened to [N·H·W, C] (one plain gather per corner;
    // tf.gather's batchDims path is broken on wasm, see batchGather). Clamped, so always in range.
    const base = tf.reshape(tf.range(0, n * h * w, h * w, 'int32'), [n, 1, 1, 1]); // b·H·W
    const cx0 = clampIndex(x0, w);
    const cx1 = clampIndex(x1, w);
    const cy0 = tf.add(tf.mul(clampIndex(y0, h), tf.scalar(w, 'int32')), base);
    const cy1 = tf.add(tf.mul(clampIndex(y1, h), tf.scalar(w, 'int32')), base);
    const flat = tf.reshape(input, [n * h * w, c]);
    const at = (row: tf.Tensor, col: tf.Tensor): tf.Tensor4D => {
      const idx = tf.reshape(tf.add(row, col), [n, ho, wo]); // int32
      return tf.gather(flat, idx, 0) as tf.Tensor4D; // [N, Ho, Wo, C]
    };
    const vNW = at(cy0, cx0);
    const vNE = at(cy0, cx1);
    const vSW = at(cy1, cx0);
    const vSE = at(cy1, cx1);

    return tf.add(tf.add(tf.add(tf.mul(vNW, wNW), tf.mul(vNE, wNE)), tf.mul(vSW, wSW)), tf.mul(vSE, wSE));
  });
}

/** Normalised coordinate [-1, 1] → pixel coordinate, in torch's float32 operation order. */
function unnormalize(g: tf.Tensor4D, size: number, alignCorners: boolean, padding: GridSamplePadding): tf.Tensor4D {
  const coord: tf.Tensor4D = alignCorners
    ? tf.mul(tf.add(g, 1), tf.scalar(Math.fround((size - 1) / 2)))
    : tf.sub(tf.mul(tf.add(g, 1), tf.scalar(Math.fround(size / 2))), 0.5);
  return padding === 'border' ? tf.clipByValue(coord, 0, size - 1) : coord;
}

/** 1 where the integer-valued float `v` lies in [0, size − 1], else 0 (arithmetic, no bool kernels). */
function inRange(v: tf.Tensor, size: number): tf.Tensor {
  // v ≥ 0 ⇔ v + 1 ≥ 1 and v ≤ size − 1 ⇔ size − v ≥ 1, for integer v.
  return tf.mul(tf.clipByValue(tf.add(v, 1), 0, 1), tf.clipByValue(tf.sub(size, v), 0, 1));
}

/** Integer-valued float coordinate → int32 index clamped into [0, size − 1]. */
function clampIndex(v: tf.Tensor, size: number): tf.Tensor {
  return tf.cast(tf.clipByValue(v, 0, size - 1), 'int32');
}
