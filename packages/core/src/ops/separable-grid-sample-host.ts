/**
 * The host loops of `separable-grid-sample.ts`' kernels (cpu, wasm): the taps of each grid axis, and the
 * forward sampling in WebAssembly (`wasm/separable-grid-sample.wat`) with the JavaScript loop it was
 * written from, the path where the module cannot run (both tested one against the other, bit for bit).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { separableGridSampleWasm } from './wasm/separable-grid-sample-wasm.js';
import { wasmExports, wasmFloats } from './wasm-module.js';

/**
 * One axis of the grid, per coordinate: its two taps' offsets along the table axis (clamped into it), their
 * in-table masks (1/0) and hat weights (1 − frac, frac), zeroed for a tap outside the table (torch's zero
 * padding). Shared by the forward and backward host loops.
 */
export interface AxisTaps {
  k0: Int32Array;
  k1: Int32Array;
  m0: Uint8Array;
  m1: Uint8Array;
  w0: Float32Array;
  w1: Float32Array;
}

/** The sizes, the taps of both grids, and dU/dg of the unnormalisation along y and x. */
export interface Taps {
  nt: number;
  th: number;
  tw: number;
  c: number;
  n: number;
  hq: number;
  wq: number;
  p: number;
  y: AxisTaps;
  x: AxisTaps;
  sy: number;
  sx: number;
}

/** Unnormalise each coordinate (in float32, as the composite) and split it into its two taps. */
export function axisTaps(g: Float32Array, size: number, alignCorners: boolean): AxisTaps {
  const f = Math.fround;
  const t: AxisTaps = {
    k0: new Int32Array(g.length),
    k1: new Int32Array(g.length),
    m0: new Uint8Array(g.length),
    m1: new Uint8Array(g.length),
    w0: new Float32Array(g.length),
    w1: new Float32Array(g.length),
  };
  const half = f((size - 1) / 2);
  const halfSize = f(size / 2);
  for (let i = 0; i < g.length; i++) {
    const u = alignCorners ? f(f(g[i]! + 1) * half) : f(f(f(g[i]! + 1) * halfSize) - 0.5);
    const k = Math.floor(u);
    const frac = f(u - k);
    const in0 = k >= 0 && k < size ? 1 : 0;
    const in1 = k + 1 >= 0 && k + 1 < size ? 1 : 0;
    t.k0[i] = Math.max(0, Math.min(size - 1, k));
    t.k1[i] = Math.max(0, Math.min(size - 1, k + 1));
    t.m0[i] = in0;
    t.m1[i] = in1;
    t.w0[i] = in0 ? f(1 - frac) : 0;
    t.w1[i] = in1 ? frac : 0;
  }
  return t;
}

export function readTaps(be: tf.KernelBackend, inputs: Record<string, tf.TensorInfo>, alignCorners: boolean): Taps {
  const { input, gridY, gridX } = inputs as Record<'input' | 'gridY' | 'gridX', tf.TensorInfo>;
  const [nt, th, tw, c] = input.shape as [number, number, number, number];
  const [n, hq, p] = gridY.shape as [number, number, number];
  const wq = gridX.shape[1]!;
  return {
    nt,
    th,
    tw,
    c,
    n,
    hq,
    wq,
    p,
    y: axisTaps(be.readSync(gridY.dataId) as Float32Array, th, alignCorners),
    x: axisTaps(be.readSync(gridX.dataId) as Float32Array, tw, alignCorners),
    sy: alignCorners ? (th - 1) / 2 : th / 2,
    sx: alignCorners ? (tw - 1) / 2 : tw / 2,
  };
}

/**
 * out[n, c, i·Wq + j, p] = Σ over the in-table taps (y, x) ∈ {y0, y0+1} × {x0, x0+1} of
 * wy · wx · table[n mod Nt, y, x, c], in JavaScript (float64 products and sum), every value set.
 */
export function sampleLoop(out: Float32Array, table: Float32Array, t: Taps): void {
  const { nt, th, tw, c, n, hq, wq, p, y, x } = t;
  const hw = hq * wq;
  out.fill(0); // the samples whose taps all fall outside the table are skipped
  // queries (i, j) outer, points inner: the output runs along p, so its writes are contiguous (with the
  // points outer they strode P values apart: 3× slower at DAT-T++ 512²'s 256 points)
  for (let b = 0; b < n; b++) {
    const tb = (b % nt) * th * tw * c;
    for (let i = 0; i < hq; i++)
      for (let j = 0; j < wq; j++) {
        const gy0 = (b * hq + i) * p;
        const gx0 = (b * wq + j) * p;
        const o0 = (b * c * hw + i * wq + j) * p;
        for (let pt = 0; pt < p; pt++) {
          const gy = gy0 + pt;
          const gx = gx0 + pt;
          const wy0 = y.w0[gy]!;
          const wy1 = y.w1[gy]!;
          const wx0 = x.w0[gx]!;
          const wx1 = x.w1[gx]!;
          if ((wy0 === 0 && wy1 === 0) || (wx0 === 0 && wx1 === 0)) continue;
          // a tap outside the table has weight 0 (and a clamped offset)
          const w00 = wy0 * wx0;
          const w01 = wy0 * wx1;
          const w10 = wy1 * wx0;
          const w11 = wy1 * wx1;
          const r0 = tb + y.k0[gy]! * tw * c;
          const r1 = tb + y.k1[gy]! * tw * c;
          const c0 = x.k0[gx]! * c;
          const c1 = x.k1[gx]! * c;
          let o = o0 + pt;
          for (let ch = 0; ch < c; ch++, o += hw * p)
            out[o] =
              w00 * table[r0 + c0 + ch]! +
              w01 * table[r0 + c1 + ch]! +
              w10 * table[r1 + c0 + ch]! +
              w11 * table[r1 + c1 + ch]!;
        }
      }
  }
}

interface SampleExports {
  memory: WebAssembly.Memory;
  sample(out: number, table: number, ...taps: number[]): void;
}

/** The most bytes the module takes for one row of the grids (its table, taps and output); above it the JavaScript loop runs. */
export const SEPARABLE_SAMPLE_MAX_BYTES = 2 ** 28;

/**
 * {@link sampleLoop} in WebAssembly (`wasm/separable-grid-sample.wat`, the same float64
 * arithmetic, so the same values): one row b of the grids at a time, its table, taps and output in the
 * module's memory. DeBiFormer-T's and DAT-T++'s relative-position biases at 224² on wasm, 1 thread: ~20
 * and ~17 ms of JavaScript a forward before. False (nothing written) where the module cannot run or a
 * row needs more than {@link SEPARABLE_SAMPLE_MAX_BYTES}.
 */
export function sampleInModule(out: Float32Array, table: Float32Array, t: Taps): boolean {
  const { nt, th, tw, c, n, hq, wq, p, y, x } = t;
  const mod = wasmExports<SampleExports>(separableGridSampleWasm);
  const align = (bytes: number) => Math.ceil(bytes / 16) * 16;
  const [tableBytes, rowTaps, colTaps, outBytes] = [
    th * tw * c * 4,
    align(hq * p * 4),
    align(wq * p * 4),
    c * hq * wq * p * 4,
  ];
  const ys = align(tableBytes);
  const xs = ys + 4 * rowTaps;
  const outAt = xs + 4 * colTaps;
  if (!mod || outAt + outBytes > SEPARABLE_SAMPLE_MAX_BYTES) return false;
  let f32: Float32Array;
  try {
    f32 = wasmFloats(mod.memory, outAt + outBytes);
  } catch {
    return false; // the memory cannot grow here
  }
  const i32 = new Int32Array(f32.buffer);
  const per = c * hq * wq * p;
  for (let b = 0; b < n; b++) {
    if (nt !== 1 || b === 0) f32.set(table.subarray((b % nt) * th * tw * c, ((b % nt) + 1) * th * tw * c), 0);
    const [r, q] = [b * hq * p, b * wq * p];
    i32.set(y.k0.subarray(r, r + hq * p), ys / 4);
    i32.set(y.k1.subarray(r, r + hq * p), (ys + rowTaps) / 4);
    f32.set(y.w0.subarray(r, r + hq * p), (ys + 2 * rowTaps) / 4);
    f32.set(y.w1.subarray(r, r + hq * p), (ys + 3 * rowTaps) / 4);
    i32.set(x.k0.subarray(q, q + wq * p), xs / 4);
    i32.set(x.k1.subarray(q, q + wq * p), (xs + colTaps) / 4);
    f32.set(x.w0.subarray(q, q + wq * p), (xs + 2 * colTaps) / 4);
    f32.set(x.w1.subarray(q, q + wq * p), (xs + 3 * colTaps) / 4);
    mod.sample(
      outAt,
      0,
      ys,
      ys + rowTaps,
      ys + 2 * rowTaps,
      ys + 3 * rowTaps,
      xs,
      xs + colTaps,
      xs + 2 * colTaps,
      xs + 3 * colTaps,
      tw,
      c,
      hq,
      wq,
      p,
    );
    out.set(f32.subarray(outAt / 4, outAt / 4 + per), b * per);
  }
  return true;
}
