/**
 * Bilinear sampling of small tables on a separable grid, as matrix products instead of gathers.
 *
 * DAT's and DBRA's relative position biases sample a table [Th, Tw] (per head) at the displacement
 * from every query (i, j) of a regular grid to every sampling point p: y depends on (i, p) only and x
 * on (j, p) only. Bilinear interpolation is separable too, so
 *
 *   out[n, c, i, j, p] = Σ_y Σ_x ky[n, i, p, y] · table[n, y, x, c] · kx[n, j, p, x]
 *
 * with the hat kernel k(u, y) = max(0, 1 − |u − y|) at the unnormalised coordinate u: exactly the two
 * bilinear weights (1 − frac, frac) on the two neighbouring rows and 0 elsewhere, rows outside the
 * table absent (torch's zero padding). Two batched matMuls replace Hq·Wq·P·4 gathers, which cost
 * ~80 ns a value on tfjs-wasm and have no gradient there; they do Th·Tw/2 times the multiplications
 * of the gathers, which pays while the tables are small (DAT/DBRA: 2·map − 1 per side).
 * `gridSample` is the reference it is tested against.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertDim, assertRank } from './assert.js';
import { checkKernelPath, computeFloat32, useFusedKernels, writeFloat32 } from './kernel-scope.js';
import { readTaps, sampleInModule, sampleLoop } from './separable-grid-sample-host.js';

const OP = 'separableGridSample';

/** The fused kernel's name (cpu and wasm: a host loop over the 4 taps of each sample). */
export const SEPARABLE_GRID_SAMPLE_KERNEL = 'DynavitSeparableGridSample';
/** Its backward kernel: the gradients w.r.t. the tables and both grids in one pass. */
export const SEPARABLE_GRID_SAMPLE_GRAD_KERNEL = 'DynavitSeparableGridSampleGrad';

/** Unnormalised coordinate as `gridSample` computes it (torch's grid_sampler_compute_source_index). */
function unnormalize(g: tf.Tensor, size: number, alignCorners: boolean): tf.Tensor {
  return alignCorners ? tf.mul(tf.add(g, 1), (size - 1) / 2) : tf.sub(tf.mul(tf.add(g, 1), size / 2), 0.5);
}

/** Hat weights max(0, 1 − |u − k|) for k = 0 … size−1, the table axis placed by `axis` (2 or 3 of rank 4). */
function hat(u: tf.Tensor3D, size: number, axis: 2 | 3): tf.Tensor4D {
  const k = tf.range(0, size, 1, 'float32');
  const d =
    axis === 3
      ? tf.sub(tf.expandDims(u, 3), tf.reshape(k, [1, 1, 1, size]))
      : tf.sub(tf.expandDims(u, 2), tf.reshape(k, [1, 1, size, 1]));
  return tf.relu(tf.sub(1, tf.abs(d))) as tf.Tensor4D;
}

/**
 * The column half of {@link separableGridSample}: hat weights of `gridX` [N, Wq, P] over a table of width
 * `tw`, as [N·P, Tw, Wq]. Pass it as `columns` when the same columns are sampled for several row chunks
 * (DAT's deformable attention in chunks of query rows), so it is built once.
 */
export function separableColumnWeights(gridX: tf.Tensor3D, tw: number, alignCorners: boolean): tf.Tensor3D {
  assertRank(OP, 'gridX', gridX, 3);
  const [n, wq, p] = gridX.shape;
  return tf.tidy(() => {
    const ux = unnormalize(tf.transpose(gridX, [0, 2, 1]), tw, alignCorners) as tf.Tensor3D; // [N,P,Wq]
    return tf.reshape(hat(ux, tw, 2), [n * p, tw, wq]) as tf.Tensor3D;
  });
}

export interface SeparableGridSampleOptions {
  alignCorners: boolean;
  /** the composite path's column weights, built once by the caller ({@link separableColumnWeights}) */
  columns?: tf.Tensor3D;
  /** 'fused' (cpu, wasm) or 'composite'; default: fused on cpu and wasm, composite elsewhere */
  path?: 'fused' | 'composite';
}

/**
 * Whether {@link separableGridSample} takes its fused kernel here by default (cpu, wasm), so a caller need
 * not build `columns` for it (only the composite path uses them).
 */
export function separableGridSampleFused(): boolean {
  return useFusedKernels(FUSED_SEPARABLE, true);
}

/**
 * `gridSample(input, grid, { paddingMode: 'zeros' })` on the separable grid
 * grid[n, i·Wq + j, p] = (x = gridX[n, j, p], y = gridY[n, i, p]), returned channels-first.
 *
 * - `input` [Nt, Th, Tw, C] float32 — the tables; row n of the grids samples table n mod Nt
 *   (Nt = N: one table per row; Nt = G with rows b·G + g: per-group tables shared over the batch).
 * - `gridY` [N, Hq, P], `gridX` [N, Wq, P] — normalised coordinates (−1 … +1 span the table).
 * - returns [N, C, Hq·Wq, P]: out[n, c, i·Wq + j, p].
 *
 * `columns`: the column weights from {@link separableColumnWeights} of the same gridX, built once by the
 * caller (then gridX only gives the shapes).
 *
 * Two paths, equal to rounding (tested one against the other, values and gradients):
 * - 'fused' (cpu, wasm; the default there, also under a gradient): one host-loop kernel that reads the 4
 *   taps of each sample, N·Hq·Wq·P·C·4 multiplications, with a backward kernel for the gradients
 *   w.r.t. the tables and both grids. `columns` is not needed there (the kernel reads gridX).
 * - 'composite' (every other backend): the two matMuls, differentiable through matMul, abs and relu.
 *   At a coordinate that is exactly an integer its grid gradient is 0 (the hat's kink) where torch's
 *   grid_sample and the fused kernel take the one-sided slope towards the next row or column.
 */
export function separableGridSample(
  input: tf.Tensor4D,
  gridY: tf.Tensor3D,
  gridX: tf.Tensor3D,
  options: SeparableGridSampleOptions,
): tf.Tensor4D {
  assertRank(OP, 'input', input, 4);
  assertRank(OP, 'gridY', gridY, 3);
  assertRank(OP, 'gridX', gridX, 3);
  const [nt, th, tw, c] = input.shape;
  const [n, hq, p] = gridY.shape;
  const wq = gridX.shape[1];
  assertDim(OP, 'gridX', gridX, 0, n, `batch ${n} (the batch of gridY)`);
  assertDim(OP, 'gridX', gridX, 2, p, `${p} points (as gridY)`);
  if (nt < 1 || n % nt)
    throw new InvalidArgumentError(`${OP}: the grids' batch ${n} must be a multiple of the number of tables ${nt}`);
  if (input.dtype !== 'float32' || gridY.dtype !== 'float32' || gridX.dtype !== 'float32')
    throw new InvalidArgumentError(
      `${OP}: input and grids must be float32, got ${input.dtype}, ${gridY.dtype}, ${gridX.dtype}`,
    );
  const path = checkKernelPath(OP, options.path);
  const fused = path === 'fused' || (path !== 'composite' && separableGridSampleFused());
  if (fused) {
    if (!useFusedKernels(FUSED_SEPARABLE, true))
      throw new InvalidArgumentError(`${OP}: the fused kernel runs on cpu and wasm, not ${tf.getBackend()}`);
    registerSeparableGradient();
    const attrs = { alignCorners: options.alignCorners } as unknown as tf.NamedAttrMap;
    return tf.engine().runKernel(SEPARABLE_GRID_SAMPLE_KERNEL, { input, gridY, gridX }, attrs) as tf.Tensor4D;
  }
  return tf.tidy(() => {
    // row weights, points outermost: [N, P·Hq, Th]
    const uy = unnormalize(tf.transpose(gridY, [0, 2, 1]), th, options.alignCorners) as tf.Tensor3D; // [N,P,Hq]
    const ky = tf.reshape(hat(uy, th, 3), [n, p * hq, th]);
    // column weights, transposed for the second product: [N·P, Tw, Wq]
    const kxT = options.columns ?? separableColumnWeights(gridX, tw, options.alignCorners);
    assertDim(OP, 'columns', kxT, 0, n * p, `N·P = ${n * p} (the grids' batch times points)`);
    assertDim(OP, 'columns', kxT, 1, tw, `${tw} (the table's width)`);
    assertDim(OP, 'columns', kxT, 2, wq, `${wq} (gridX's columns)`);
    // tables as [N, Th, C·Tw] (table n mod Nt for row n)
    const t = tf.reshape(tf.transpose(input, [0, 1, 3, 2]), [nt, th, c * tw]);
    const tables = nt === n ? t : tf.tile(t, [n / nt, 1, 1]);
    // rows first: [N, P·Hq, Th] @ [N, Th, C·Tw] → [N, P, Hq, C, Tw] → [N·P, C·Hq, Tw]
    const rowsDone = tf.matMul(ky, tables);
    const a = tf.reshape(tf.transpose(tf.reshape(rowsDone, [n * p, hq, c, tw]), [0, 2, 1, 3]), [n * p, c * hq, tw]);
    // then columns: [N·P, C·Hq, Tw] @ [N·P, Tw, Wq] → [N, P, C·Hq·Wq] → [N, C·Hq·Wq, P]
    const out = tf.transpose(tf.reshape(tf.matMul(a, kxT), [n, p, c * hq * wq]), [0, 2, 1]);
    return tf.reshape(out, [n, c, hq * wq, p]) as tf.Tensor4D;
  });
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * out[n, c, i·Wq + j, p] = Σ over the in-table taps (y, x) ∈ {y0, y0+1} × {x0, x0+1} of
 * wy · wx · table[n mod Nt, y, x, c].
 */
function separableHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { alignCorners } = attrs as unknown as { alignCorners: boolean };
  const t = readTaps(be, inputs as Record<string, tf.TensorInfo>, alignCorners);
  const { c, n, hq, wq, p } = t;
  const input = (inputs as Record<string, tf.TensorInfo>).input!;
  return computeFloat32(be, [input], [n, c, hq * wq, p], (out, [tv]) => {
    const table = tv as Float32Array;
    if (sampleInModule(out, table, t)) return;
    sampleLoop(out, table, t);
  });
}

/**
 * The backward pass of {@link separableHost}: given dy [N, C, Hq·Wq, P], the gradients w.r.t. the tables
 * (each tap's weight times dy, summed over every sample that reads it), gridY and gridX (the slope of
 * the bilinear value along the axis, towards the next row or column as torch's grid_sample takes it,
 * times dU/dg). Inputs: dy, input, gridY, gridX; outputs: [dInput, dGridY, dGridX].
 */
function separableGradHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const be = backend as tf.KernelBackend;
  const { alignCorners } = attrs as unknown as { alignCorners: boolean };
  const ins = inputs as Record<string, tf.TensorInfo>;
  const t = readTaps(be, ins, alignCorners);
  const { y, x } = t;
  const table = be.readSync(ins.input!.dataId) as Float32Array;
  const dy = be.readSync(ins.dy!.dataId) as Float32Array;
  const { nt, th, tw, c, n, hq, wq, p } = t;
  const hw = hq * wq;
  const dTable = new Float64Array(nt * th * tw * c);
  const dGy = new Float64Array(n * hq * p);
  const dGx = new Float64Array(n * wq * p);
  for (let b = 0; b < n; b++) {
    const tb = (b % nt) * th * tw * c;
    for (let i = 0; i < hq; i++)
      for (let pt = 0; pt < p; pt++) {
        const gy = (b * hq + i) * p + pt;
        const [in0, in1] = [y.m0[gy]!, y.m1[gy]!];
        if (!in0 && !in1) continue;
        const [wy0, wy1] = [y.w0[gy]!, y.w1[gy]!];
        const r0 = tb + y.k0[gy]! * tw * c;
        const r1 = tb + y.k1[gy]! * tw * c;
        let sumY = 0;
        for (let j = 0; j < wq; j++) {
          const gx = (b * wq + j) * p + pt;
          const [jn0, jn1] = [x.m0[gx]!, x.m1[gx]!];
          if (!jn0 && !jn1) continue;
          const [wx0, wx1] = [x.w0[gx]!, x.w1[gx]!];
          const c0 = x.k0[gx]! * c;
          const c1 = x.k1[gx]! * c;
          // a tap outside the table: weight and value 0 (masks m..)
          const m00 = in0 & jn0;
          const m01 = in0 & jn1;
          const m10 = in1 & jn0;
          const m11 = in1 & jn1;
          let sumX = 0;
          let o = (b * c * hw + i * wq + j) * p + pt;
          for (let ch = 0; ch < c; ch++, o += hw * p) {
            const g = dy[o]!;
            if (g === 0) continue;
            const v00 = m00 * table[r0 + c0 + ch]!;
            const v01 = m01 * table[r0 + c1 + ch]!;
            const v10 = m10 * table[r1 + c0 + ch]!;
            const v11 = m11 * table[r1 + c1 + ch]!;
            const [k00, k01, k10, k11] = [r0 + c0 + ch, r0 + c1 + ch, r1 + c0 + ch, r1 + c1 + ch];
            dTable[k00] = dTable[k00]! + m00 * g * wy0 * wx0;
            dTable[k01] = dTable[k01]! + m01 * g * wy0 * wx1;
            dTable[k10] = dTable[k10]! + m10 * g * wy1 * wx0;
            dTable[k11] = dTable[k11]! + m11 * g * wy1 * wx1;
            sumY += g * (wx0 * (v10 - v00) + wx1 * (v11 - v01));
            sumX += g * (wy0 * (v01 - v00) + wy1 * (v11 - v10));
          }
          dGx[gx] = dGx[gx]! + sumX * t.sx;
        }
        dGy[gy] = dGy[gy]! + sumY * t.sy;
      }
  }
  const tbl = ins.input!.shape as number[];
  return [
    writeFloat32(be, Float32Array.from(dTable), tbl),
    writeFloat32(be, Float32Array.from(dGy), [n, hq, p]),
    writeFloat32(be, Float32Array.from(dGx), [n, wq, p]),
  ];
}

/** The same host loops on cpu and wasm. */
const HOST_SEPARABLE = {
  [SEPARABLE_GRID_SAMPLE_KERNEL]: separableHost,
  [SEPARABLE_GRID_SAMPLE_GRAD_KERNEL]: separableGradHost,
};
const FUSED_SEPARABLE: Record<string, Record<string, tf.KernelFunc>> = { cpu: HOST_SEPARABLE, wasm: HOST_SEPARABLE };

/** The fused kernel's gradient: one backward kernel gives all three (registered once, for every backend). */
function registerSeparableGradient(): void {
  if (tf.getGradient(SEPARABLE_GRID_SAMPLE_KERNEL)) return;
  tf.registerGradient({
    kernelName: SEPARABLE_GRID_SAMPLE_KERNEL,
    inputsToSave: ['input', 'gridY', 'gridX'],
    gradFunc: (dy, saved, attrs) => {
      const [input, gridY, gridX] = saved as [tf.Tensor4D, tf.Tensor3D, tf.Tensor3D];
      const [dInput, dGridY, dGridX] = tf
        .engine()
        .runKernel(
          SEPARABLE_GRID_SAMPLE_GRAD_KERNEL,
          { dy: dy as tf.Tensor, input, gridY, gridX },
          attrs,
        ) as tf.Tensor[];
      return { input: () => dInput!, gridY: () => dGridY!, gridX: () => dGridX! };
    },
  });
}
