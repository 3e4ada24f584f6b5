/**
 * The two gradients of a (non-depthwise) NHWC `conv2d` as one matrix product each, for backends whose
 * own kernels for them are slow (tfjs-backend-wasm: a strided slice per filter tap, a plain loop for
 * the input gradient). With `cols` = kh·kw·Ci and rows = the B·OH·OW output positions:
 *
 * - weight gradient: dW [cols, Co] = Xcolᵀ · dY, where Xcol [rows, cols] holds, per output position, the
 *   (zero-padded) input values its filter taps read (im2col, built on the host);
 * - input gradient: dXcol [rows, cols] = dY · Wᵀ with W as [cols, Co], each entry then added to the input
 *   position it came from (col2im, on the host).
 *
 * The products run on the backend's own `BatchMatMul` (XNNPACK on wasm). Rows are taken in chunks so
 * that a column matrix stays under `CHUNK_VALUES` values. `conv2DBackpropFilterReference` (the loop in
 * `gradient-kernels.ts`) and the backend's own input-gradient kernel are the references the tests hold
 * these to.
 */
import * as tf from '@tensorflow/tfjs-core';
import { simdTransposedProduct } from './batch-matmul-simd.js';
import { kernelScope, writeFloat32 } from './kernel-scope.js';

type Info = tf.TensorInfo;
type Conv2DInfo = tf.backend_util.Conv2DInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Most values of one column matrix (rows · kh·kw·Ci): 8 M floats, 32 MB. */
export const CHUNK_VALUES = 8 * 1024 * 1024;

/** Visit every (row in [r0, r1), filter tap) whose input pixel is inside the image: `f(colOffset, pixelOffset)` in values. */
function forEachPixel(ci: Conv2DInfo, r0: number, r1: number, f: (col: number, pixel: number) => void): void {
  const { inHeight: H, inWidth: W, inChannels: C, filterHeight: kh, filterWidth: kw } = ci;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, outHeight: OH, outWidth: OW } = ci;
  const { top, left } = ci.padInfo;
  const cols = kh * kw * C;
  for (let row = r0; row < r1; row++) {
    const ox = row % OW;
    const t = (row - ox) / OW;
    const oy = t % OH;
    const b = (t - oy) / OH;
    const base = (row - r0) * cols;
    for (let r = 0; r < kh; r++) {
      const iy = oy * sh + r * dh - top;
      if (iy < 0 || iy >= H) continue;
      for (let c = 0; c < kw; c++) {
        const ix = ox * sw + c * dw - left;
        if (ix < 0 || ix >= W) continue;
        f(base + (r * kw + c) * C, ((b * H + iy) * W + ix) * C);
      }
    }
  }
}

/** Xcol rows [r0, r1): [r1 − r0, kh·kw·Ci], zero where a tap falls outside the image. */
function im2col(x: Float32Array, ci: Conv2DInfo, r0: number, r1: number): Float32Array {
  const C = ci.inChannels;
  const out = new Float32Array((r1 - r0) * ci.filterHeight * ci.filterWidth * C);
  forEachPixel(ci, r0, r1, (col, pixel) => {
    for (let k = 0; k < C; k++) out[col + k] = x[pixel + k]!;
  });
  return out;
}

/** Add the column matrix of rows [r0, r1) into dx at the input positions its entries came from. */
function col2imAdd(cols: Float32Array, ci: Conv2DInfo, r0: number, r1: number, dx: Float32Array): void {
  const C = ci.inChannels;
  forEachPixel(ci, r0, r1, (col, pixel) => {
    for (let k = 0; k < C; k++) dx[pixel + k] = dx[pixel + k]! + cols[col + k]!;
  });
}

function conv2DInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  strides: number | [number, number],
  pad: tf.Conv2DBackpropFilterAttrs['pad'],
  dimRoundingMode: tf.Conv2DBackpropFilterAttrs['dimRoundingMode'],
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}

let chunkValues = CHUNK_VALUES;
let useSimd = true;

/** Run `fn` with the weight-gradient products on the backend's BatchMatMul, not the SIMD module (tests). */
export function withoutSimd<T>(fn: () => T): T {
  const saved = useSimd;
  useSimd = false;
  try {
    return fn();
  } finally {
    useSimd = saved;
  }
}

const rowsPerChunk = (cols: number) => Math.max(1, Math.floor(chunkValues / cols));

/** Run `fn` with column matrices of at most `values` values (tests of the chunked path). */
export function withChunkValues<T>(values: number, fn: () => T): T {
  const saved = chunkValues;
  chunkValues = values;
  try {
    return fn();
  } finally {
    chunkValues = saved;
  }
}

/**
 * `Conv2DBackpropFilter` (inputs `x`, `dy`) as Xcolᵀ · dY: in the SIMD module (`simdTransposedProduct`,
 * no transposes: a 1×1 conv's 16384×96ᵀ · 16384×32 went from 69 to ~30 ms), else on `backendName`'s
 * `BatchMatMul`; null when the data is not NHWC float32 or the backend lacks the kernel (the caller then
 * takes its reference).
 */
export function conv2DBackpropFilterIm2col(args: KernelArgs, backendName: string): Info | null {
  const { inputs, backend, attrs } = args;
  const be = backend as tf.KernelBackend;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const a = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const bmm = tf.getKernel(tf.BatchMatMul, backendName)?.kernelFunc;
  if (tf.backend_util.convertConv2DDataFormat(a.dataFormat) !== 'channelsLast') return null;
  if (!bmm || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const ci = conv2DInfo(x.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode);
  const cols = ci.filterHeight * ci.filterWidth * ci.inChannels;
  const nO = ci.outChannels;
  const rows = ci.batchSize * ci.outHeight * ci.outWidth;
  const xv = be.readSync(x.dataId) as Float32Array;
  const dyv = be.readSync(dy.dataId) as Float32Array;
  const dW = new Float32Array(cols * nO);
  const step = rowsPerChunk(cols);
  const { run, keep, dispose } = kernelScope(be);
  try {
    for (let r0 = 0; r0 < rows; r0 += step) {
      const r1 = Math.min(rows, r0 + step);
      const cv = im2col(xv, ci, r0, r1);
      const dyChunk = dyv.subarray(r0 * nO, r1 * nO);
      // colsᵀ · dY: in the SIMD module where it runs (no transposes, nothing written to the backend)
      let pv = useSimd ? simdTransposedProduct(cv, dyChunk, r1 - r0, cols, nO) : null;
      if (!pv) {
        const xcol = keep(writeFloat32(be, cv, [1, r1 - r0, cols]));
        const dyc = keep(writeFloat32(be, dyChunk, [1, r1 - r0, nO]));
        const p = keep(run(bmm, { a: xcol, b: dyc }, { transposeA: true, transposeB: false }));
        pv = be.readSync(p.dataId) as Float32Array;
      }
      for (let i = 0; i < pv.length; i++) dW[i] = dW[i]! + pv[i]!;
    }
  } finally {
    dispose();
  }
  return writeFloat32(be, dW, [...ci.filterShape]);
}

/**
 * `Conv2DBackpropInput` (inputs `dy`, `filter`; attrs with `inputShape`) as dY · Wᵀ on `bmm`, then col2im;
 * null outside NHWC float32 (the caller then runs the backend's own kernel).
 */
export function conv2DBackpropInputCol2im(args: KernelArgs, bmm: tf.KernelFunc, reshape: tf.KernelFunc): Info | null {
  const { inputs, backend, attrs } = args;
  const be = backend as tf.KernelBackend;
  const { dy, filter } = inputs as { dy: Info; filter: Info };
  const a = attrs as unknown as tf.Conv2DBackpropInputAttrs;
  if (tf.backend_util.convertConv2DDataFormat(a.dataFormat) !== 'channelsLast') return null;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const ci = conv2DInfo(a.inputShape, filter.shape, a.strides, a.pad, a.dimRoundingMode);
  const cols = ci.filterHeight * ci.filterWidth * ci.inChannels;
  const nO = ci.outChannels;
  const rows = ci.batchSize * ci.outHeight * ci.outWidth;
  const { run, keep, dispose } = kernelScope(be);
  try {
    const w = keep(run(reshape, { x: filter }, { shape: [1, cols, nO] }));
    const { top, left, bottom, right } = ci.padInfo;
    const pointwise =
      ci.filterHeight === 1 &&
      ci.filterWidth === 1 &&
      ci.strideHeight === 1 &&
      ci.strideWidth === 1 &&
      !(top || left || bottom || right) &&
      ci.outHeight === ci.inHeight &&
      ci.outWidth === ci.inWidth;
    if (pointwise) {
      // a 1×1 conv: every column entry is its own input position, dX = dY · Wᵀ as it is
      const d3 = keep(run(reshape, { x: dy }, { shape: [1, rows, nO] }));
      const p = keep(run(bmm, { a: d3, b: w }, { transposeA: false, transposeB: true }));
      return run(reshape, { x: p }, { shape: [...a.inputShape] });
    }
    const dyv = be.readSync(dy.dataId) as Float32Array;
    const dx = new Float32Array(a.inputShape.reduce((p, d) => p * d, 1));
    const step = rowsPerChunk(cols);
    for (let r0 = 0; r0 < rows; r0 += step) {
      const r1 = Math.min(rows, r0 + step);
      const dyc = keep(writeFloat32(be, dyv.subarray(r0 * nO, r1 * nO), [1, r1 - r0, nO]));
      const p = keep(run(bmm, { a: dyc, b: w }, { transposeA: false, transposeB: true }));
      col2imAdd(be.readSync(p.dataId) as Float32Array, ci, r0, r1, dx);
    }
    return writeFloat32(be, dx, [...a.inputShape]);
  } finally {
    dispose();
  }
}
