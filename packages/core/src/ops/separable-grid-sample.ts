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

const OP = 'separableGridSample';

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
 * Differentiable w.r.t. the input and both grids (matMul, abs, relu; no gather).
 */
export function separableGridSample(
  input: tf.Tensor4D,
  gridY: tf.Tensor3D,
  gridX: tf.Tensor3D,
  options: { alignCorners: boolean; columns?: tf.Tensor3D },
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
