/**
 * Top-k selection and batched row gathers (DBRA/BiFormer routing and KV gather, dbra.md §4, §8).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { assertRank, fmtShape } from './assert.js';
import { useFusedKernels, writeFloat32 } from './kernel-scope.js';

/**
 * Indices of the k largest entries along the last axis, sorted by descending value (torch
 * `x.topk(k, dim=-1).indices`). `x` [..., N] → int32 [..., k].
 *
 * Uses `tf.topk(x, k, sorted=true)`. Ties: on the cpu and wasm backends of tfjs 4.22 equal values
 * come out in ascending index order (the lower index first), which is what torch's CPU topk
 * typically returns; the tests pin this for both backends. Ties only matter in DBRA between
 * identical (e.g. all-padding) regions (dbra.md §7); NaN ordering is unspecified.
 * Not differentiable (routing is detached in the reference too).
 */
export function topKIndices<R extends tf.Rank>(x: tf.Tensor<R>, k: number): tf.Tensor<R> {
  const op = 'topKIndices';
  if (x.rank < 1) throw new ShapeError(op, 'x', 'rank ≥ 1', `rank 0 ${fmtShape(x.shape)}`);
  const n = x.shape[x.rank - 1]!;
  if (!Number.isInteger(k) || k < 1 || k > n)
    throw new InvalidArgumentError(`${op}: k must be an integer in [1, ${n}] (the last axis of x), got ${k}`);
  if (x.dtype !== 'float32' && x.dtype !== 'int32')
    throw new InvalidArgumentError(`${op}: x must be float32 or int32, got ${x.dtype}`);
  return tf.tidy(() => tf.topk(x, k, true).indices as tf.Tensor<R>);
}

function checkIndices(op: string, x: tf.Tensor, idx: tf.Tensor, idxRank: number): void {
  if (x.rank < 2) throw new ShapeError(op, 'x', 'rank ≥ 2 ([B, N, ...])', `rank ${x.rank} ${fmtShape(x.shape)}`);
  assertRank(op, 'idx', idx, idxRank);
  if (idx.dtype !== 'int32') throw new InvalidArgumentError(`${op}: idx must be int32, got ${idx.dtype}`);
  if (idx.shape[0] !== x.shape[0])
    throw new ShapeError(op, 'idx', `batch ${x.shape[0]} on axis 0 (the batch of x)`, fmtShape(idx.shape));
}

/**
 * `tf.gather(x, idx, 1, 1)` (batchDims 1) without using batchDims: out[b, ...j, ...rest] =
 * x[b, idx[b, ...j], ...rest], for x [B, N, ...rest] and int32 idx [B, ...J] → [B, ...J, ...rest].
 *
 * Why: the wasm backend's GatherV2 kernel mis-strides the indices when batchDims = 1 (tfjs 4.22,
 * tensorflow/tfjs#8658: batch b reads its indices from offset b·B instead of b·K), silently giving
 * wrong rows or reading past the buffer. Here x is flattened to [B·N, ...rest] and the indices are
 * offset by b·N, so a plain axis-0 gather does the job on every backend. Its gradient is the plain
 * gather gradient (UnsortedSegmentSum: cpu/webgl/webgpu, not wasm). Internal: callers check arguments.
 */
function batchGather(x: tf.Tensor, idx: tf.Tensor): tf.Tensor {
  if (x.dtype === 'float32' && useFusedKernels(FUSED_GATHER))
    return tf.engine().runKernel(GATHER_ROWS_KERNEL, { x, idx }, {}) as tf.Tensor;
  return tf.tidy(() => {
    const [b, n] = x.shape as [number, number];
    const flat = tf.reshape(x, [b * n, ...x.shape.slice(2)]); // [B·N, ...rest]
    const offsets = tf.reshape(tf.range(0, b * n, n, 'int32'), [b, ...idx.shape.slice(1).map(() => 1)]); // [B, 1, …]
    return tf.gather(flat, tf.add(idx, offsets), 0); // [B, ...J, ...rest]
  });
}

/**
 * The fused per-batch row gather (cpu and wasm, inference): each selected row of x (its ...rest values
 * are contiguous) is one block copy on the host. wasm's GatherV2 costs ~80 ns a value; DeBiFormer-T's
 * two KV gathers took ~75 ms of a 224² forward that way.
 */
export const GATHER_ROWS_KERNEL = 'DynavitGatherRows';
const FUSED_GATHER: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [GATHER_ROWS_KERNEL]: gatherRowsHost },
  wasm: { [GATHER_ROWS_KERNEL]: gatherRowsHost },
};

/** x [B, N, ...rest] float32, idx int32 [B, ...J] → [B, ...J, ...rest]; an index outside [0, N) throws. */
function gatherRowsHost({ inputs, backend }: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { x, idx } = inputs as Record<string, tf.TensorInfo>;
  const [b, n, ...rest] = x!.shape as number[];
  const row = rest.reduce((a, d) => a * d, 1);
  const xv = be.readSync(x!.dataId) as Float32Array;
  const iv = be.readSync(idx!.dataId) as Int32Array;
  const perBatch = iv.length / b!;
  const out = new Float32Array(iv.length * row);
  for (let bi = 0; bi < b!; bi++)
    for (let j = 0; j < perBatch; j++) {
      const src = iv[bi * perBatch + j]!;
      if (!(src >= 0 && src < n!))
        throw new InvalidArgumentError(`gather: index ${src} is out of range [0, ${n}) (batch ${bi})`);
      const from = (bi * n! + src) * row;
      out.set(xv.subarray(from, from + row), (bi * perBatch + j) * row);
    }
  return writeFloat32(be, out, [...idx!.shape, ...rest]);
}

/**
 * Per-batch row gather: out[b, j, ...] = x[b, idx[b, j], ...].
 * `x` [B, N, ...rest], `idx` int32 [B, K] with values in [0, N) → [B, K, ...rest].
 *
 * Same result as `tf.gather(x, idx, 1, 1)`, computed via {@link batchGather} (wasm's batchDims path is
 * broken; for float32 inference on cpu and wasm, one block copy per row). Indices are not range-checked
 * here: the cpu and wasm kernels throw on an out-of-range index (they read the indices), webgl/webgpu do
 * not check. Differentiable w.r.t. x where the backend
 * has UnsortedSegmentSum (cpu/webgl/webgpu; not wasm).
 */
export function gatherRows<T extends tf.Tensor>(x: T, idx: tf.Tensor2D): T {
  checkIndices('gatherRows', x, idx, 2);
  return batchGather(x, idx) as T;
}

/**
 * Per-batch gather with a 2-D index block (DBRA/BiFormer KVGather): out[b, s, j, ...] = x[b, idx[b, s, j], ...].
 * `x` [B, N, ...rest], `idx` int32 [B, S, K] → [B, S, K, ...rest]. E.g. regions [B, P, T, C] with
 * routing indices [B, P, topk] → [B, P, topk, T, C].
 * Same range-check and gradient notes as {@link gatherRows}.
 */
export function gatherBatched(x: tf.Tensor, idx: tf.Tensor3D): tf.Tensor {
  checkIndices('gatherBatched', x, idx, 3);
  return batchGather(x, idx);
}
