/**
 * A batch of small matrix products in 128-bit WebAssembly SIMD (`wasm/batch-matmul.wat`), for the wasm
 * backend's `BatchMatMul` (`fast-kernels.ts`). tfjs-backend-wasm 4.22 multiplies a batch of matrices in
 * a scalar loop at ~0.5 GMAC/s; the attention products of every family are such batches (heads ×
 * windows or regions of 49…3136 tokens by 8…64 channels). This module's kernel keeps 16 output columns
 * in four f32x4 sums over k: 2.5–9 GMAC/s on the same shapes, with the copies in and out (measured on
 * our 2-core AMD EPYC machines, e.g. 384 × 64×16 · 16×64: 56 → 10 ms).
 *
 * The module has its own memory: the operands are copied in (a transposed operand transposed on the
 * way), the products made, the result copied out. Where WebAssembly SIMD is missing (or the module
 * cannot be compiled) `simdBatchMatMul` returns null and the backend's own kernel runs.
 */
import { batchMatmulWasm } from './wasm/batch-matmul-wasm.js';
import { WASM_WORKING_BYTES, wasmExports, wasmFloats } from './wasm-module.js';

interface Exports {
  memory: WebAssembly.Memory;
  bmm(
    a: number,
    b: number,
    c: number,
    batch: number,
    m: number,
    k: number,
    n: number,
    strideA: number,
    strideB: number,
  ): void;
  atb(a: number, b: number, c: number, rows: number, m: number, n: number): void;
}

/** The module's working memory in bytes: a batch whose operands and result exceed it goes in chunks. */
export const SIMD_MAX_BYTES = WASM_WORKING_BYTES;

/** The compiled module, or null where this WebAssembly has no SIMD (instantiated once: 677 bytes). */
export function simdModule(): Exports | null {
  return wasmExports<Exports>(batchMatmulWasm);
}

export interface BatchMatMulShape {
  /** matrices in A and in B: each equal to `batch`, or 1 (shared by the whole batch) */
  nA: number;
  nB: number;
  batch: number;
  /** the product of each matrix pair is M×K · K×N */
  M: number;
  K: number;
  N: number;
  /** A is stored as [nA, K, M] (B as [nB, N, K]) and used transposed */
  transposeA: boolean;
  transposeB: boolean;
}

/** Copy `n` row-major rows×cols matrices from `src` into `dst` at `at`, transposed when stored as cols×rows. */
function copyIn(dst: Float32Array, at: number, src: Float32Array, n: number, rows: number, cols: number, t: boolean) {
  if (!t) {
    dst.set(src.subarray(0, n * rows * cols), at);
    return;
  }
  // src holds each matrix as [cols, rows]
  for (let m = 0; m < n; m++) {
    const s = m * rows * cols;
    const d = at + s;
    for (let c = 0; c < cols; c++) {
      const row = s + c * rows;
      for (let r = 0; r < rows; r++) dst[d + r * cols + c] = src[row + r]!;
    }
  }
}

/** The values of one chunk of matrices: the shared operands once, the batched ones per matrix; 0 where a size is 0. */
function chunking({ nA, nB, batch, M, K, N }: BatchMatMulShape): { fixed: number; perItem: number; chunk: number } {
  if (M < 1 || K < 1 || N < 1 || batch < 1) return { fixed: 0, perItem: 0, chunk: 0 };
  const [sizeA, sizeB, sizeC] = [M * K, K * N, M * N];
  const fixed = (nA === 1 ? sizeA : 0) + (nB === 1 ? sizeB : 0);
  const perItem = (nA === 1 ? 0 : sizeA) + (nB === 1 ? 0 : sizeB) + sizeC;
  return { fixed, perItem, chunk: Math.min(batch, Math.floor((SIMD_MAX_BYTES / 4 - fixed) / perItem)) };
}

/** Whether {@link simdBatchMatMul} can make this batch here: SIMD, no size 0, one product within the budget. */
export function simdBatchMatMulFits(s: BatchMatMulShape): boolean {
  return chunking(s).chunk >= 1 && simdModule() !== null;
}

/**
 * C[i] = op(A[i mod nA]) · op(B[i mod nB]) for i < batch, as [batch, M, N] row-major, in chunks of
 * matrices within {@link SIMD_MAX_BYTES}, into `out` (a new array when not given); null when it cannot
 * run ({@link simdBatchMatMulFits}).
 */
export function simdBatchMatMul(
  a: Float32Array,
  b: Float32Array,
  s: BatchMatMulShape,
  out: Float32Array = new Float32Array(s.batch * s.M * s.N),
): Float32Array | null {
  const { nA, nB, batch, M, K, N } = s;
  const { fixed, perItem, chunk } = chunking(s);
  if (chunk < 1) return null;
  const [sizeA, sizeB, sizeC] = [M * K, K * N, M * N];
  const mod = simdModule();
  if (!mod) return null;
  const mem = wasmFloats(mod.memory, (fixed + chunk * perItem) * 4);
  const lenA = (nA === 1 ? 1 : chunk) * sizeA;
  const lenB = (nB === 1 ? 1 : chunk) * sizeB;
  if (nA === 1) copyIn(mem, 0, a, 1, M, K, s.transposeA);
  if (nB === 1) copyIn(mem, lenA, b, 1, K, N, s.transposeB);
  for (let i0 = 0; i0 < batch; i0 += chunk) {
    const n = Math.min(chunk, batch - i0);
    if (nA !== 1) copyIn(mem, 0, a.subarray(i0 * sizeA), n, M, K, s.transposeA);
    if (nB !== 1) copyIn(mem, lenA, b.subarray(i0 * sizeB), n, K, N, s.transposeB);
    mod.bmm(0, lenA * 4, (lenA + lenB) * 4, n, M, K, N, nA === 1 ? 0 : sizeA * 4, nB === 1 ? 0 : sizeB * 4);
    out.set(mem.subarray(lenA + lenB, lenA + lenB + n * sizeC), i0 * sizeC);
  }
  return out;
}

/**
 * Aᵀ·B for A [R, M] and B [R, N] row-major (the weight gradient of a convolution or a linear layer: its
 * inputs' rows times its output gradients' rows) as [M, N], without transposing either: the module's
 * `atb` adds four rows' outer products at a time to C. Rows go in chunks within the working memory; null
 * where SIMD is missing, a size is 0 or C alone does not fit.
 */
export function simdTransposedProduct(
  a: Float32Array,
  b: Float32Array,
  R: number,
  M: number,
  N: number,
): Float32Array | null {
  if (R < 1 || M < 1 || N < 1) return null;
  const sizeC = M * N;
  const rows = Math.min(R, Math.floor((SIMD_MAX_BYTES / 4 - sizeC) / (M + N)));
  const mod = simdModule();
  if (!mod || rows < 1) return null;
  const mem = wasmFloats(mod.memory, (sizeC + rows * (M + N)) * 4);
  const [aAt, bAt] = [sizeC, sizeC + rows * M];
  mem.fill(0, 0, sizeC);
  for (let r0 = 0; r0 < R; r0 += rows) {
    const n = Math.min(rows, R - r0);
    mem.set(a.subarray(r0 * M, (r0 + n) * M), aAt);
    mem.set(b.subarray(r0 * N, (r0 + n) * N), bAt);
    mod.atb(aAt * 4, bAt * 4, 0, n, M, N);
  }
  return mem.slice(0, sizeC);
}
