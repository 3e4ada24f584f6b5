/**
 * The backward-pass kernels a backend may lack, in plain JavaScript over the backend's own data
 * (`readSync` the inputs, `write` the result): `tfjs-backend-wasm` 4.22 has no `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropFilter`, `DepthwiseConv2dNativeBackpropInput` (the weight and input
 * gradients of convolutions) nor `UnsortedSegmentSum` (the gradient of `tf.gather`), so `tf.grad` through
 * any model fails there. `registerGradientKernels()` registers them for a backend that does not have
 * them (wasm by default); a kernel the backend has is never replaced. Backend selection (Node and
 * browser) calls it; it is idempotent and cheap, and registering needs no backend to be loaded.
 *
 * The semantics are those of the cpu backend's kernels (tfjs-backend-cpu 4.22), with sums accumulated
 * in float64. Gradients *functions* are a separate matter: tfjs-core's Node bundle registers none (import
 * `@tensorflow/tfjs` for them).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { conv2DBackpropFilterIm2col } from './im2col.js';
import { kernelScope, writeFloat32 } from './kernel-scope.js';
import { multiplyAccumulateWasm } from './wasm/multiply-accumulate-wasm.js';
import { WASM_WORKING_BYTES, wasmExports, wasmFloats } from './wasm-module.js';

type Backend = tf.KernelBackend;
type Info = tf.TensorInfo;
type Conv2DInfo = tf.backend_util.Conv2DInfo;
type KernelArgs = Parameters<tf.KernelFunc>[0];

const read = (backend: Backend, t: Info) => backend.readSync(t.dataId) as Float32Array | Int32Array;

function output(backend: Backend, values: Float64Array, shape: number[], dtype: tf.DataType): Info {
  const data = dtype === 'int32' ? Int32Array.from(values, Math.round) : Float32Array.from(values);
  return { dataId: backend.write(data, shape, dtype), shape, dtype };
}

/** Element strides of an NHWC or NCHW 4-D tensor as [batch, row, column, channel]. */
function strides4(shape: readonly number[], channelsLast: boolean): [number, number, number, number] {
  const [, d1, d2, d3] = shape as [number, number, number, number];
  return channelsLast ? [d1 * d2 * d3, d2 * d3, d3, 1] : [d1 * d2 * d3, d3, 1, d2 * d3];
}

/**
 * Visit every (output position, filter tap) pair whose input position lies inside the image:
 * `f(yOffsetNoChannel, xOffsetNoChannel, tapRow, tapCol)` with offsets for batch b.
 */
function forEachTap(
  ci: Conv2DInfo,
  xs: readonly number[],
  ys: readonly number[],
  f: (yBase: number, xBase: number, wR: number, wC: number) => void,
): void {
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;
  for (let b = 0; b < ci.batchSize; b++)
    for (let yR = 0; yR < ci.outHeight; yR++)
      for (let yC = 0; yC < ci.outWidth; yC++) {
        const yBase = b * ys[0]! + yR * ys[1]! + yC * ys[2]!;
        for (let wR = 0; wR < ci.filterHeight; wR++) {
          const xR = yR * sh + wR * dh - top;
          if (xR < 0 || xR >= ci.inHeight) continue;
          for (let wC = 0; wC < ci.filterWidth; wC++) {
            const xC = yC * sw + wC * dw - left;
            if (xC < 0 || xC >= ci.inWidth) continue;
            f(yBase, b * xs[0]! + xR * xs[1]! + xC * xs[2]!, wR, wC);
          }
        }
      }
}

/** One matrix product on the backend (`im2col.ts`) where it can, else the reference loop. */
function conv2DBackpropFilterFor(backendName: string): tf.KernelFunc {
  return (args) => conv2DBackpropFilterIm2col(args, backendName) ?? conv2DBackpropFilterReference(args);
}

/** dL/dW of `conv2d` (filter HWIO): inputs `x`, `dy`; attrs as tfjs' Conv2DBackpropFilter. The reference loop. */
export function conv2DBackpropFilterReference({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as Backend;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
  const ci = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    format,
  );
  const last = ci.dataFormat === 'channelsLast';
  const xs = strides4(x.shape, last);
  const ys = strides4(dy.shape, last);
  const xv = read(be, x);
  const dyv = read(be, dy);
  const { inChannels: nI, outChannels: nO } = ci;
  const dW = new Float64Array(ci.filterHeight * ci.filterWidth * nI * nO);
  forEachTap(ci, xs, ys, (yBase, xBase, wR, wC) => {
    const wBase = (wR * ci.filterWidth + wC) * nI * nO;
    for (let d1 = 0; d1 < nI; d1++) {
      const v = xv[xBase + d1 * xs[3]]!;
      if (v === 0) continue;
      const o = wBase + d1 * nO;
      for (let d2 = 0; d2 < nO; d2++) dW[o + d2]! += v * dyv[yBase + d2 * ys[3]]!;
    }
  });
  return output(be, dW, [...ci.filterShape], x.dtype);
}

function depthwiseInfo(
  inShape: readonly number[],
  filterShape: readonly number[],
  a: tf.DepthwiseConv2dNativeBackpropFilterAttrs | tf.DepthwiseConv2dNativeBackpropInputAttrs,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations,
    a.pad,
    a.dimRoundingMode,
    true,
  );
}

/**
 * Visit, for filter tap (r, c) and every image row the tap reads, the run of output columns whose input
 * column is inside the image: `f(xOffset, dyOffset, count)` (offsets of the run's first pixel, NHWC,
 * in values; input steps by stride·C, output by C·m). Tight loops over these runs replace a callback
 * per (position, tap).
 */
function forEachRun(
  ci: Conv2DInfo,
  r: number,
  c: number,
  f: (xOffset: number, dyOffset: number, count: number) => void,
): void {
  const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, inChannels: C } = ci;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, left } = ci.padInfo;
  const CM = ci.outChannels;
  const shift = c * dw - left; // input column of output column ox: ox·sw + shift
  const x0 = Math.max(0, Math.ceil(-shift / sw));
  const x1 = Math.min(OW, Math.floor((W - 1 - shift) / sw) + 1);
  if (x1 <= x0) return;
  for (let b = 0; b < B; b++)
    for (let oy = 0; oy < OH; oy++) {
      const iy = oy * sh + r * dh - top;
      if (iy < 0 || iy >= H) continue;
      f(((b * H + iy) * W + x0 * sw + shift) * C, ((b * OH + oy) * OW + x0) * CM, x1 - x0);
    }
}

interface MultiplyAccumulate {
  memory: WebAssembly.Memory;
  accumulate(acc: number, x: number, y: number, count: number, C: number, xStep: number, yStep: number): void;
}

/**
 * The filter gradient of a depthwise convolution with multiplier 1 in the SIMD module of
 * `wasm/multiply-accumulate.wat` (4 channels an instruction, float32 sums): for each tap, each run of
 * output columns is one call. Images go in chunks within the module's working memory. Null where the
 * module cannot run or one image does not fit; the loop below is then the path (and the reference the
 * tests hold both to: the cpu backend's kernel). A GLNet reduced training step at batch 64: 287 → ~30 ms.
 */
function depthwiseFilterGradSimd(ci: Conv2DInfo, xv: Float32Array, dyv: Float32Array): Float32Array | null {
  const mod = wasmExports<MultiplyAccumulate>(multiplyAccumulateWasm);
  const { batchSize: B, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, inChannels: C } = ci;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = ci;
  const { top, left } = ci.padInfo;
  const taps = ci.filterHeight * ci.filterWidth;
  const [perX, perY] = [H * W * C, OH * OW * C];
  const chunk = Math.min(B, Math.floor((WASM_WORKING_BYTES / 4 - taps * C) / (perX + perY)));
  if (!mod || chunk < 1) return null;
  const mem = wasmFloats(mod.memory, (taps * C + chunk * (perX + perY)) * 4);
  const xAt = taps * C; // acc [taps, C] first, then the chunk's images, then their output gradients
  const yAt = xAt + chunk * perX;
  mem.fill(0, 0, taps * C);
  for (let b0 = 0; b0 < B; b0 += chunk) {
    const n = Math.min(chunk, B - b0);
    mem.set(xv.subarray(b0 * perX, (b0 + n) * perX), xAt);
    mem.set(dyv.subarray(b0 * perY, (b0 + n) * perY), yAt);
    for (let r = 0; r < ci.filterHeight; r++)
      for (let c = 0; c < ci.filterWidth; c++) {
        const shift = c * dw - left; // input column of output column ox: ox·sw + shift
        const x0 = Math.max(0, Math.ceil(-shift / sw));
        const x1 = Math.min(OW, Math.floor((W - 1 - shift) / sw) + 1);
        if (x1 <= x0) continue;
        const acc = (r * ci.filterWidth + c) * C * 4;
        for (let b = 0; b < n; b++)
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * sh + r * dh - top;
            if (iy < 0 || iy >= H) continue;
            const xo = xAt + ((b * H + iy) * W + x0 * sw + shift) * C;
            const yo = yAt + ((b * OH + oy) * OW + x0) * C;
            mod.accumulate(acc, xo * 4, yo * 4, x1 - x0, C, sw * C * 4, C * 4);
          }
      }
  }
  return mem.slice(0, taps * C);
}

/** dL/dW of `depthwiseConv2d` (filter [kh, kw, C, m]): inputs `x`, `dy`. */
function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as Backend;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  const ci = depthwiseInfo(x.shape, a.filterShape, a);
  const xv = read(be, x);
  const dyv = read(be, dy);
  if (ci.outChannels === ci.inChannels && x.dtype === 'float32' && dy.dtype === 'float32') {
    const dW = depthwiseFilterGradSimd(ci, xv as Float32Array, dyv as Float32Array);
    if (dW) return writeFloat32(be, dW, [...ci.filterShape]);
  }
  const C = ci.inChannels;
  const CM = ci.outChannels;
  const m = CM / C;
  const step = ci.strideWidth * C;
  const dW = new Float64Array(ci.filterHeight * ci.filterWidth * CM);
  const acc = new Float64Array(CM);
  for (let r = 0; r < ci.filterHeight; r++)
    for (let c = 0; c < ci.filterWidth; c++) {
      acc.fill(0);
      forEachRun(ci, r, c, (xo, yo, count) => {
        for (let i = 0; i < count; i++, xo += step, yo += CM) {
          if (m === 1) for (let ch = 0; ch < C; ch++) acc[ch]! += xv[xo + ch]! * dyv[yo + ch]!;
          else
            for (let ch = 0; ch < C; ch++) {
              const v = xv[xo + ch]!;
              for (let q = 0; q < m; q++) acc[ch * m + q]! += v * dyv[yo + ch * m + q]!;
            }
        }
      });
      dW.set(acc, (r * ci.filterWidth + c) * CM);
    }
  return output(be, dW, [...ci.filterShape], x.dtype);
}

/** dL/dx of `depthwiseConv2d`: inputs `dy`, `filter`; attrs carry `inputShape`. */
function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as Backend;
  const { dy, filter } = inputs as { dy: Info; filter: Info };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const ci = depthwiseInfo(a.inputShape, filter.shape, a);
  const dyv = read(be, dy);
  const wv = read(be, filter);
  const C = ci.inChannels;
  const CM = ci.outChannels;
  const m = CM / C;
  const step = ci.strideWidth * C;
  const dx = new Float64Array(a.inputShape.reduce((p, d) => p * d, 1));
  for (let r = 0; r < ci.filterHeight; r++)
    for (let c = 0; c < ci.filterWidth; c++) {
      const w0 = (r * ci.filterWidth + c) * CM;
      forEachRun(ci, r, c, (xo, yo, count) => {
        for (let i = 0; i < count; i++, xo += step, yo += CM) {
          if (m === 1) for (let ch = 0; ch < C; ch++) dx[xo + ch]! += dyv[yo + ch]! * wv[w0 + ch]!;
          else
            for (let ch = 0; ch < C; ch++) {
              let s = 0;
              for (let q = 0; q < m; q++) s += dyv[yo + ch * m + q]! * wv[w0 + ch * m + q]!;
              dx[xo + ch]! += s;
            }
        }
      });
    }
  return output(be, dx, [...a.inputShape], dy.dtype);
}

/**
 * dL/dx of a stride-1, multiplier-1, undilated `depthwiseConv2d` as the backend's own (XNNPACK)
 * depthwise forward: a correlation of dy with the spatially flipped filter, padded by k − 1 − pad on each
 * side. null outside that domain or without the kernel (the loop above then runs). The DAT LPU, GLNet
 * CPE/local branch and DeBiFormer positional convs are all of this kind.
 */
function depthwiseBackpropInputForward(args: KernelArgs, backendName: string): Info | null {
  const { inputs, backend, attrs } = args;
  const be = backend as Backend;
  const { dy, filter } = inputs as { dy: Info; filter: Info };
  const a = attrs as unknown as tf.DepthwiseConv2dNativeBackpropInputAttrs;
  const dwconv = tf.getKernel(tf.DepthwiseConv2dNative, backendName)?.kernelFunc;
  if (!dwconv || dy.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const ci = depthwiseInfo(a.inputShape, filter.shape, a);
  const { filterHeight: kh, filterWidth: kw } = ci;
  if (ci.outChannels !== ci.inChannels || ci.strideHeight !== 1 || ci.strideWidth !== 1) return null;
  if (ci.dilationHeight !== 1 || ci.dilationWidth !== 1) return null;
  const { top, bottom, left, right } = ci.padInfo;
  const pads = [kh - 1 - top, kh - 1 - bottom, kw - 1 - left, kw - 1 - right];
  if (pads.some((p) => p < 0)) return null;
  const C = ci.inChannels;
  const wv = read(be, filter);
  const flipped = new Float32Array(wv.length);
  for (let r = 0; r < kh; r++)
    for (let c = 0; c < kw; c++)
      flipped.set(wv.subarray((r * kw + c) * C, (r * kw + c + 1) * C), ((kh - 1 - r) * kw + (kw - 1 - c)) * C);
  const { run, keep, dispose } = kernelScope(be);
  try {
    const wf = keep(writeFloat32(be, flipped, [...filter.shape]));
    return run(
      dwconv,
      { x: dy, filter: wf },
      {
        strides: [1, 1],
        dilations: [1, 1],
        pad: [
          [0, 0],
          [pads[0], pads[1]],
          [pads[2], pads[3]],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dimRoundingMode: undefined,
      },
    );
  } finally {
    dispose();
  }
}

/**
 * `out[ids[i], …] = Σ x[i, …]` over the leading dimensions `segmentIds` spans (ids outside
 * [0, numSegments) are dropped, as on cpu): inputs `x`, `segmentIds`.
 */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as Backend;
  const { x, segmentIds } = inputs as { x: Info; segmentIds: Info };
  const { numSegments } = attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const lead = segmentIds.shape.length;
  if (!segmentIds.shape.every((d, i) => d === x.shape[i]))
    throw new InvalidArgumentError(
      `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] is not a prefix of x's [${x.shape}]`,
    );
  const rest = x.shape.slice(lead);
  const inner = rest.reduce((p, d) => p * d, 1);
  const ids = read(be, segmentIds);
  const xv = read(be, x);
  const out = new Float64Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (id < 0 || id >= numSegments) continue;
    const o = id * inner;
    const s = i * inner;
    for (let j = 0; j < inner; j++) out[o + j] = out[o + j]! + xv[s + j]!;
  }
  return output(be, out, [numSegments, ...rest], x.dtype);
}

/** The kernels `registerGradientKernels` provides, by tfjs kernel name. */
export const GRADIENT_KERNELS: Readonly<Record<string, tf.KernelFunc>> = {
  [tf.Conv2DBackpropFilter]: conv2DBackpropFilterReference as tf.KernelFunc,
  [tf.DepthwiseConv2dNativeBackpropFilter]: depthwiseBackpropFilter as tf.KernelFunc,
  [tf.DepthwiseConv2dNativeBackpropInput]: depthwiseBackpropInput as tf.KernelFunc,
  [tf.UnsortedSegmentSum]: unsortedSegmentSum as tf.KernelFunc,
};

/**
 * Register, for `backendName` (default `wasm`), each of `GRADIENT_KERNELS` it does not already have;
 * returns the names registered by this call (none on a second call).
 */
export function registerGradientKernels(backendName = 'wasm'): string[] {
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(GRADIENT_KERNELS)) {
    if (tf.getKernel(kernelName, backendName)) continue;
    // where they can, the filter gradient of conv2d runs as a matrix product and the input gradient of a
    // depthwise conv as a depthwise forward, on the backend's own kernels
    const fast =
      kernelName === tf.Conv2DBackpropFilter
        ? conv2DBackpropFilterFor(backendName)
        : kernelName === tf.DepthwiseConv2dNativeBackpropInput
          ? (args: KernelArgs) => depthwiseBackpropInputForward(args, backendName) ?? kernelFunc(args)
          : kernelFunc;
    tf.registerKernel({ kernelName, backendName, kernelFunc: fast });
    added.push(kernelName);
  }
  return added;
}

/**
 * Whether gradient functions are registered on the engine: tfjs-core's ESM build (browsers, bundlers)
 * registers them, its Node (CJS) bundle does not (import `@tensorflow/tfjs` there).
 */
export function hasGradientFunctions(): boolean {
  return tf.getGradient(tf.Conv2D) !== undefined && tf.getGradient(tf.Softmax) !== undefined;
}
