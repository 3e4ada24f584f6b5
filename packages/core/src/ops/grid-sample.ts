/**
 * Bilinear grid sampling with the semantics of torch `F.grid_sample(mode='bilinear')` (tfjs-core has
 * none). Used by DAT (deformable keys and the RPE table, dat.md §4.4/§4.6) and DBRA (dbra.md §4.5).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { assertDim, assertRank, fmtShape } from './assert.js';
import { gridSampleProgram } from './grid-sample-webgpu.js';
import { checkKernelPath, computeFloat32, useFusedKernels } from './kernel-scope.js';
import { stopGradient } from './stop-gradient.js';
import { runWebGPUProgram } from './webgpu-program.js';

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
  /**
   * 'fused' (cpu, wasm, webgpu): the one-kernel sample; 'composite': tfjs ops (differentiable). Default:
   * fused for inference on those backends, composite while a gradient is recorded or elsewhere.
   */
  path?: 'fused' | 'composite';
}

/** The fused kernel's name (registered for cpu, wasm and webgpu on first use). */
export const GRID_SAMPLE_KERNEL = 'DynavitGridSample';

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
 * For inference on cpu, wasm and webgpu (no gradient being recorded) it runs one fused kernel instead:
 * the same arithmetic per output value (cpu/wasm: a host loop, float32 rounding at each step;
 * webgpu: a WGSL shader, grid-sample-webgpu.ts), tested against the composite ops. Those are the path
 * below, used under a gradient and on other backends.
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
  const path = checkKernelPath(OP, options.path);
  const fused = path === 'fused' || (path !== 'composite' && useFusedKernels(FUSED_GRID_SAMPLE));
  if (fused) {
    if (!useFusedKernels(FUSED_GRID_SAMPLE, true))
      throw new InvalidArgumentError(`${OP}: the fused kernel runs on cpu, wasm and webgpu, not ${tf.getBackend()}`);
    const attrs = { alignCorners: options.alignCorners, border: padding === 'border' } as unknown as tf.NamedAttrMap;
    return tf.engine().runKernel(GRID_SAMPLE_KERNEL, { input, grid }, attrs) as tf.Tensor4D;
  }

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

type KernelArgs = Parameters<tf.KernelFunc>[0];

function gridSampleWebGPU({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { input, grid } = inputs as Record<string, tf.TensorInfo>;
  const { alignCorners, border } = attrs as unknown as { alignCorners: boolean; border: boolean };
  const program = gridSampleProgram(
    input!.shape as [number, number, number, number],
    grid!.shape as [number, number, number, number],
    alignCorners,
    border,
  );
  return runWebGPUProgram(backend, program, [input!, grid!]);
}

/** The host loop (cpu, wasm): the composite's float32 arithmetic per output value, step by step. */
function gridSampleHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { input, grid } = inputs as Record<string, tf.TensorInfo>;
  const { alignCorners, border } = attrs as unknown as { alignCorners: boolean; border: boolean };
  const [n, h, w, c] = input!.shape as [number, number, number, number];
  const [, ho, wo] = grid!.shape as [number, number, number, number];
  return computeFloat32(be, [input!, grid!], [n, ho, wo, c], (out, [x, g]) =>
    sampleLoop(out, x as Float32Array, g as Float32Array, [n, h, w, c], [ho, wo], alignCorners, border),
  );
}

/** {@link gridSampleHost}'s loop: every output value is set. */
function sampleLoop(
  out: Float32Array,
  x: Float32Array,
  g: Float32Array,
  [n, h, w, c]: readonly [number, number, number, number],
  [ho, wo]: readonly [number, number],
  alignCorners: boolean,
  border: boolean,
): void {
  const f = Math.fround;
  const unnormalize = (v: number, size: number): number => {
    const coord = alignCorners ? f(f(v + 1) * f((size - 1) / 2)) : f(f(f(v + 1) * f(size / 2)) - 0.5);
    return border ? Math.min(Math.max(coord, 0), size - 1) : coord;
  };
  const acc = new Float64Array(c);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < ho * wo; p++) {
      const gi = (b * ho * wo + p) * 2;
      const ix = unnormalize(g[gi]!, w);
      const iy = unnormalize(g[gi + 1]!, h);
      const x0 = Math.floor(ix);
      const y0 = Math.floor(iy);
      const dw = f(ix - x0);
      const de = f(1 - dw);
      const dn = f(iy - y0);
      const ds = f(1 - dn);
      acc.fill(0);
      // ((nw + ne) + sw) + se, a corner outside the map skipped (the composite multiplies it by 0)
      const corner = (cx: number, cy: number, weight: number) => {
        if (cx < 0 || cy < 0 || cx >= w || cy >= h) return;
        const o = ((b * h + cy) * w + cx) * c;
        for (let ch = 0; ch < c; ch++) acc[ch] = f(acc[ch]! + f(x[o + ch]! * weight));
      };
      corner(x0, y0, f(ds * de));
      corner(x0 + 1, y0, f(ds * dw));
      corner(x0, y0 + 1, f(dn * de));
      corner(x0 + 1, y0 + 1, f(dn * dw));
      out.set(acc, (b * ho * wo + p) * c);
    }
}

/** The fused kernel per backend (cpu, wasm: the host loop; webgpu: the WGSL shader). */
const FUSED_GRID_SAMPLE: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [GRID_SAMPLE_KERNEL]: gridSampleHost },
  wasm: { [GRID_SAMPLE_KERNEL]: gridSampleHost },
  webgpu: { [GRID_SAMPLE_KERNEL]: gridSampleWebGPU },
};
