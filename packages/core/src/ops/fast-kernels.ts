/**
 * Faster versions of tfjs kernels for one backend, each wrapping the backend's own kernel, which stays
 * the reference it is tested against (`fast-kernels.test.ts`) and the path it takes outside its domain.
 *
 * `BatchMatMul` on tfjs-backend-wasm 4.22: a product of a batch of matrices runs a plain blocked loop
 * (~0.45 GMAC/s on our 2-core machines), while a single product (batch 1, no transpose) goes to
 * XNNPACK (2–5 GMAC/s on these sizes, ~10 on large ones). Attention products are batches of such
 * matrices (DAT-T++ stage 1: 2 heads of 3136×32 · 32×49; GLMix: heads of 64 slots × 3136 tokens), so the
 * wrapper runs each matrix of the batch as its own XNNPACK product when one product has at least
 * `SPLIT_MIN_MACS` multiply-adds, transposing the operands first when asked to. The operands are read
 * back once and cut on the host: wasm's Slice kernel takes time in proportion to its whole input
 * (2.6 ms for a 12 k-value slice of a 609 k-value tensor), more than the product itself. Below the threshold the batched loop's lower
 * per-call cost wins. Measured on wasm (batch × M×K · K×N, batched → split): 4 × 3136×64 · 64×196
 * 319 → 41 ms; 49 × 112×111 · 111×56 68 → 21 ms; 8 × 196×196 · 196×32 19 → 3 ms; 98 × 56×55 · 55×28
 * 17.5 → 6.1 ms; 64 × 49×32 · 32×49 (77 k MACs each, kept batched) 7 → 9.7 ms split.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdBatchMatMul, simdBatchMatMulFits } from './batch-matmul-simd.js';
import { conv2DBackpropInputCol2im } from './im2col.js';
import { computeFloat32, heapBackend, kernelScope, writeFloat32 } from './kernel-scope.js';

type Info = tf.TensorInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Multiply-adds of one matrix product from which the batch is split into single XNNPACK products. */
export const SPLIT_MIN_MACS = 100_000;
/** Multiply-adds of one product of a batch below which the SIMD module makes the whole batch instead. */
export const SIMD_MAX_MACS = 16_000_000;

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** The original kernel of each wrapped (kernel, backend), to restore it. */
const originals = new Map<string, tf.KernelConfig>();
const key = (kernelName: string, backendName: string) => `${kernelName}/${backendName}`;

function splitBatchMatMul(original: tf.KernelFunc, backendName: string): tf.KernelFunc {
  const kernel = (name: string) => tf.getKernel(name, backendName)?.kernelFunc;
  return (args: KernelArgs) => {
    const { inputs, backend } = args;
    const { a, b } = inputs as { a: Info; b: Info };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const [M, K] = transposeA ? [a.shape[ra - 1]!, a.shape[ra - 2]!] : [a.shape[ra - 2]!, a.shape[ra - 1]!];
    const N = transposeB ? b.shape[rb - 2]! : b.shape[rb - 1]!;
    const batchA = a.shape.slice(0, -2);
    const batchB = b.shape.slice(0, -2);
    const nA = prod(batchA);
    const nB = prod(batchB);
    const batch = Math.max(nA, nB);
    const sameBatch = nA === nB && batchA.join() === batchB.join();
    const [reshape, transpose] = [tf.Reshape, tf.Transpose].map(kernel);
    const macs = M * K * N;
    const float32 = a.dtype === 'float32' && b.dtype === 'float32';
    const broadcastable = sameBatch || nA === 1 || nB === 1;
    const be = backend as tf.KernelBackend;
    const outBatch = () => (sameBatch ? batchA : tf.backend_util.assertAndGetBroadcastShape(batchA, batchB));
    // batches of small products (and small transposed ones): the SIMD module (batch-matmul-simd.ts)
    if (
      (batch >= 2 ? macs < SIMD_MAX_MACS : (transposeA || transposeB) && macs < SPLIT_MIN_MACS) &&
      float32 &&
      broadcastable
    ) {
      const shape = { nA, nB, batch, M, K, N, transposeA, transposeB };
      if (simdBatchMatMulFits(shape))
        return computeFloat32(be, [a, b], [...outBatch(), M, N], (out, [av, bv]) => {
          simdBatchMatMul(av as Float32Array, bv as Float32Array, shape, out);
        });
    }
    if (batch < 2 && (transposeA || transposeB) && macs >= SPLIT_MIN_MACS && float32 && reshape && transpose)
      return transposedProduct(args, original, reshape, transpose, { M, K, N });
    if (batch < 2 || macs < SPLIT_MIN_MACS || !float32 || !broadcastable || !reshape || !transpose)
      return original(args);
    const { run, keep, dispose } = kernelScope(be);
    const write = (values: Float32Array, shape: number[]): Info => writeFloat32(be, values, shape);
    try {
      // each operand as a batch of row-major matrices, [n, M, K] and [n, K, N], read back once: wasm's
      // Slice kernel copies its whole input per call, so one matrix at a time is cut from the host copy
      const host = (x: Info, n: number, rows: number, cols: number, swap: boolean): Float32Array => {
        const x3 = keep(run(reshape, { x }, { shape: swap ? [n, cols, rows] : [n, rows, cols] }));
        const t = swap ? keep(run(transpose, { x: x3 }, { perm: [0, 2, 1] })) : x3;
        return be.readSync(t.dataId) as Float32Array;
      };
      const av = host(a, nA, M, K, transposeA);
      const bv = host(b, nB, K, N, transposeB);
      const matrix = (values: Float32Array, n: number, i: number, rows: number, cols: number) =>
        write(values.subarray((n === 1 ? 0 : i) * rows * cols, ((n === 1 ? 0 : i) + 1) * rows * cols), [1, rows, cols]);
      const a0 = nA === 1 ? keep(matrix(av, 1, 0, M, K)) : undefined;
      const b0 = nB === 1 ? keep(matrix(bv, 1, 0, K, N)) : undefined;
      const out = new Float32Array(batch * M * N);
      for (let i = 0; i < batch; i++) {
        const ai = a0 ?? matrix(av, nA, i, M, K);
        const bi = b0 ?? matrix(bv, nB, i, K, N);
        try {
          const ci = run(original, { a: ai, b: bi }, { transposeA: false, transposeB: false });
          out.set(be.readSync(ci.dataId) as Float32Array, i * M * N);
          be.disposeData(ci.dataId);
        } finally {
          if (ai !== a0) be.disposeData(ai.dataId);
          if (bi !== b0) be.disposeData(bi.dataId);
        }
      }
      return writeFloat32(be, out, [...outBatch(), M, N]);
    } finally {
      dispose();
    }
  };
}

/**
 * One product (batch 1) with a transposed operand: wasm runs it outside XNNPACK, 6–40× slower than
 * transposing the operand first (a memory pass) and taking the plain product, which XNNPACK runs.
 * Measured on wasm (M×K·K×N): 16384×96·96×32 with Aᵀ 184 → ~15 ms, with Bᵀ 54 → 6 ms; 4096×512·512×128
 * with Aᵀ 1000 → ~30 ms. These are the weight and input gradients of every linear layer and of
 * `conv2DBackpropFilter`'s per-tap products.
 */
function transposedProduct(
  args: KernelArgs,
  original: tf.KernelFunc,
  reshape: tf.KernelFunc,
  transpose: tf.KernelFunc,
  { M, K, N }: { M: number; K: number; N: number },
): Info {
  const { a, b } = args.inputs as { a: Info; b: Info };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const { run, keep, dispose } = kernelScope(args.backend as tf.KernelBackend);
  try {
    // as a [1, rows, cols] matrix; a stored-transposed operand is [1, cols, rows] and gets transposed
    const matrix = (x: Info, rows: number, cols: number, swapped: boolean): Info => {
      const x3 = keep(run(reshape, { x }, { shape: swapped ? [1, cols, rows] : [1, rows, cols] }));
      return swapped ? keep(run(transpose, { x: x3 }, { perm: [0, 2, 1] })) : x3;
    };
    const a3 = matrix(a, M, K, transposeA);
    const b3 = matrix(b, K, N, transposeB);
    const c = keep(run(original, { a: a3, b: b3 }, { transposeA: false, transposeB: false }));
    const outBatch = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return run(reshape, { x: c }, { shape: [...outBatch, M, N] });
  } finally {
    dispose();
  }
}

/**
 * `Conv2DBackpropInput` (the input gradient of `conv2d`): wasm runs a plain loop (dX of a 1×1 conv
 * 64×16×16×96 → 32: 80 ms against 7 for the forward); as dY · Wᵀ on XNNPACK plus a col2im pass on the
 * host (`im2col.ts`) it is a matrix product.
 */
function col2imBackpropInput(original: tf.KernelFunc, backendName: string): tf.KernelFunc {
  return (args: KernelArgs) => {
    const bmm = tf.getKernel(tf.BatchMatMul, backendName)?.kernelFunc;
    const reshape = tf.getKernel(tf.Reshape, backendName)?.kernelFunc;
    return (bmm && reshape && conv2DBackpropInputCol2im(args, bmm, reshape)) || original(args);
  };
}

/**
 * `SplitV` (and so the gradient of every `concat`): wasm cuts each piece with its Slice kernel, whose cost
 * grows with the whole input, so n pieces cost n passes over it (neighbourhood attention's backward
 * splits a gradient into k² window pieces: 139 splits took 2.2 s of a dat_fmnist training step at
 * batch 64). Here the input is read once and every piece copied from the host copy: one pass.
 */
function hostSplitV(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: Info };
    const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
    if (x.dtype !== 'float32') return original(args);
    const be = args.backend as tf.KernelBackend;
    const ax = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, ax);
    const outer = prod(x.shape.slice(0, ax));
    const inner = prod(x.shape.slice(ax + 1));
    const len = x.shape[ax]!;
    const shapes = sizes.map((size) => x.shape.map((d, i) => (i === ax ? size : d)));
    // each piece: `outer` runs of size·inner values, cut from xv into piece
    const cut = (xv: Float32Array, piece: Float32Array, at: number, size: number) => {
      const run = size * inner;
      for (let o = 0; o < outer; o++)
        piece.set(xv.subarray((o * len + at) * inner, (o * len + at) * inner + run), o * run);
    };
    const heap = heapBackend(be);
    if (heap) {
      // on wasm: the pieces made in the heap first (an allocation may move it), then cut from x where it sits
      const outs = shapes.map((shape) => heap.makeOutput(shape, 'float32'));
      const xv = heap.typedArrayFromHeap(x) as Float32Array;
      let at = 0;
      outs.forEach((out, i) => {
        cut(xv, heap.typedArrayFromHeap(out) as Float32Array, at, sizes[i]!);
        at += sizes[i]!;
      });
      return outs;
    }
    const xv = be.readSync(x.dataId) as Float32Array;
    let at = 0;
    return sizes.map((size, i) => {
      const piece = new Float32Array(outer * size * inner);
      cut(xv, piece, at, size);
      at += size;
      return writeFloat32(be, piece, shapes[i]!);
    });
  };
}

/**
 * `shape` with runs of axes that `perm` keeps adjacent and in order merged: the same permutation of the
 * same data, on fewer axes. Returns the merged input shape and the permutation of the merged axes.
 */
export function collapsePermutation(
  shape: readonly number[],
  perm: readonly number[],
): { shape: number[]; perm: number[] } {
  // groups of input axes, in output order: perm[j + 1] === perm[j] + 1 continues a group
  const groups: number[][] = [];
  for (const p of perm) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1]! + 1 === p) last.push(p);
    else groups.push([p]);
  }
  // merged input axes in input order; each group is one merged axis
  const byStart = [...groups].sort((g, h) => g[0]! - h[0]!);
  const merged = byStart.map((g) => prod(g.map((i) => shape[i]!)));
  return { shape: merged, perm: groups.map((g) => byStart.indexOf(g)) };
}

/** out = x permuted by `perm` (row-major), on the host: an odometer over the leading output axes, a strided inner run. */
function transposeHost(x: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const r = shape.length;
  const inStrides = new Array<number>(r);
  for (let i = r - 1, s = 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= shape[i]!;
  }
  const outShape = perm.map((p) => shape[p]!);
  const st = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(x.length);
  const inner = outShape[r - 1]!;
  const innerStride = st[r - 1]!;
  const idx = new Array<number>(r - 1).fill(0);
  let src = 0;
  for (let o = 0; o < out.length; o += inner) {
    for (let k = 0, q = src; k < inner; k++, q += innerStride) out[o + k] = x[q]!;
    // advance the odometer over output axes r−2 … 0
    for (let d = r - 2; d >= 0; d--) {
      idx[d]!++;
      src += st[d]!;
      if (idx[d]! < outShape[d]!) break;
      src -= st[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * `Transpose`: wasm's kernel is fast up to rank 4 and slow beyond (a rank-5 head split of a 1.2 M-value
 * tensor took 130 ms; multi-head attention's q/k/v split and its gradient are such). Axes that stay
 * adjacent are merged first; what remains of rank 5 or more is permuted on the host in one pass, the
 * rest goes to wasm's kernel on the merged shape.
 */
function collapsedTranspose(original: tf.KernelFunc, backendName: string): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: Info };
    const { perm } = args.attrs as unknown as tf.TransposeAttrs;
    const c = collapsePermutation(x.shape, perm);
    const reshape = tf.getKernel(tf.Reshape, backendName)?.kernelFunc;
    if (c.shape.length === x.shape.length && c.shape.length < 5) return original(args);
    if (!reshape || (x.dtype !== 'float32' && c.shape.length >= 5)) return original(args);
    const be = args.backend as tf.KernelBackend;
    const outShape = perm.map((p) => x.shape[p]!);
    if (c.shape.length >= 5)
      return writeFloat32(be, transposeHost(be.readSync(x.dataId) as Float32Array, c.shape, c.perm), outShape);
    const { run, keep, dispose } = kernelScope(be);
    try {
      const xc = keep(run(reshape, { x }, { shape: c.shape }));
      const t = keep(run(original, { x: xc }, { perm: c.perm }));
      return run(reshape, { x: t }, { shape: outShape });
    } finally {
      dispose();
    }
  };
}

/**
 * `Sum` over one block of adjacent axes: wasm moves the reduced axes to the end with its transpose,
 * which is slow at rank 5 (the position-bias gradient's sum over a [64, 2, 16, 16, 49] batch took
 * 177 ms). The same sum on the merged shape [A, R, B] (or [R, B]) is a rank-2/3 transpose and a
 * row sum: wasm's own kernel, on fewer axes. Other reductions take the kernel as they are.
 */
function blockSum(original: tf.KernelFunc, backendName: string): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: Info };
    const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
    const axes = [...tf.util.parseAxisParam(axis, x.shape)].sort((p, q) => p - q);
    const lo = axes[0];
    const hi = axes[axes.length - 1];
    const reshape = tf.getKernel(tf.Reshape, backendName)?.kernelFunc;
    if (lo === undefined || hi === undefined || !reshape || hi - lo + 1 !== axes.length) return original(args);
    const A = prod(x.shape.slice(0, lo));
    const B = prod(x.shape.slice(hi + 1));
    const merged = [...(A > 1 ? [A] : []), prod(x.shape.slice(lo, hi + 1)), ...(B > 1 ? [B] : [])];
    if (merged.length === x.shape.length) return original(args);
    const shape = keepDims
      ? x.shape.map((d, i) => (i >= lo && i <= hi ? 1 : d))
      : x.shape.filter((_, i) => i < lo || i > hi);
    const { run, keep, dispose } = kernelScope(args.backend as tf.KernelBackend);
    try {
      const xm = keep(run(reshape, { x }, { shape: merged }));
      const sm = keep(run(original, { x: xm }, { axis: A > 1 ? 1 : 0, keepDims: false }));
      return run(reshape, { x: sm }, { shape });
    } finally {
      dispose();
    }
  };
}

/**
 * `Tile` (and so `broadcastTo`): wasm's kernel computes every output value's source index (~25 ns a
 * value: DeBiFormer's region masks, [49, 1, 49, 1] to [49, 1, 49, 64], took 20 ms; a broadcast
 * multiply by ones 1 ms). Here, axis by axis from the last, each block of the current array is copied
 * `reps` times: block copies, no index arithmetic. float32 and int32; other dtypes take the kernel.
 */
function hostTile(original: tf.KernelFunc): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: Info };
    const { reps } = args.attrs as unknown as tf.TileAttrs;
    if (x.dtype !== 'float32' && x.dtype !== 'int32') return original(args);
    const be = args.backend as tf.KernelBackend;
    const src = be.readSync(x.dataId) as Float32Array | Int32Array;
    let cur: Float32Array | Int32Array = src;
    const shape = [...x.shape];
    for (let d = shape.length - 1; d >= 0; d--) {
      const r = reps[d]!;
      if (r === 1) continue;
      const block = prod(shape.slice(d)); // one index of the axes before d: [shape[d], ...inner]
      const outer = cur.length / block;
      const next = x.dtype === 'int32' ? new Int32Array(cur.length * r) : new Float32Array(cur.length * r);
      for (let o = 0; o < outer; o++) {
        const from = o * block;
        for (let k = 0; k < r; k++) {
          const to = (o * r + k) * block;
          if (block < 16) for (let i = 0; i < block; i++) next[to + i] = cur[from + i]!;
          else next.set(cur.subarray(from, from + block), to);
        }
      }
      cur = next;
      shape[d]! *= r;
    }
    if (cur === src) cur = src.slice();
    return { dataId: be.write(cur, shape, x.dtype), shape, dtype: x.dtype };
  };
}

const FAST_KERNELS: Record<string, (original: tf.KernelFunc, backendName: string) => tf.KernelFunc> = {
  [tf.BatchMatMul]: splitBatchMatMul,
  [tf.Conv2DBackpropInput]: col2imBackpropInput,
  [tf.SplitV]: hostSplitV,
  [tf.Transpose]: collapsedTranspose,
  [tf.Sum]: blockSum,
  [tf.Tile]: hostTile,
};

/**
 * Wrap, for `backendName` (default `wasm`), each kernel of `FAST_KERNELS` the backend has; returns the
 * names wrapped by this call (none on a second call, nor for a backend without them). The backend's own
 * kernel stays in use outside each wrapper's domain; `unregisterFastKernels` restores it. Backend
 * selection (Node and browser) calls this after the backend is ready.
 */
export function registerFastKernels(backendName = 'wasm'): string[] {
  if (backendName !== 'wasm') return []; // measured on wasm only; other backends keep their kernels
  const added: string[] = [];
  for (const [kernelName, wrap] of Object.entries(FAST_KERNELS)) {
    const k = key(kernelName, backendName);
    const config = tf.getKernel(kernelName, backendName);
    if (!config || originals.has(k)) continue;
    originals.set(k, config);
    tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc: wrap(config.kernelFunc, backendName) });
    added.push(kernelName);
  }
  return added;
}

/** Put back the backend's own kernels that `registerFastKernels` wrapped; returns their names. */
export function unregisterFastKernels(backendName = 'wasm'): string[] {
  const restored: string[] = [];
  for (const kernelName of Object.keys(FAST_KERNELS)) {
    const k = key(kernelName, backendName);
    const config = originals.get(k);
    if (!config) continue;
    tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel(config);
    originals.delete(k);
    restored.push(kernelName);
  }
  return restored;
}
