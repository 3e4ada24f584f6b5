/**
 * 3×3 convolution by Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016, "Fast Algorithms for
 * Convolutional Neural Networks"): each 2×2 block of outputs comes from a 4×4 tile d of the padded input,
 *
 *     Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
 *
 * with g the 3×3 filter of one (input, output) channel pair. Summed over input channels, the ⊙ becomes 16
 * matrix products, one per tile position k = (i, j): M_k [tiles, Cout] = V_k [tiles, Cin] · U_k [Cin, Cout],
 * with V = Bᵀ d B (the input transform) and U = G g Gᵀ (the filter transform). That is 16 multiply-adds per
 * 4 outputs and channel pair where the direct convolution takes 36: 2.25× fewer.
 *
 *     Bᵀ = [1  0 −1  0]    G = [ 1    0    0 ]    Aᵀ = [1  1  1  0]
 *          [0  1  1  0]        [ ½    ½    ½ ]         [0  1 −1 −1]
 *          [0 −1  1  0]        [ ½   −½    ½ ]
 *          [0  1  0 −1]        [ 0    0    1 ]
 *
 * The kernel `DynavitConv2DWinograd` (cpu and wasm, inference) makes the transforms on the host in float64,
 * rounding V, U and Y to float32, and the 16 products with the backend's own `BatchMatMul` (XNNPACK on wasm,
 * on every thread it has). It goes over the map in bands of tile rows so that the transformed input stays
 * within {@link WINOGRAD_BAND_BYTES}. The direct `tf.conv2d` stays the reference it is tested against
 * (`winograd.test.ts`, within 1e-5·max(1, |ref|)); the transforms' ±1 and ½ coefficients add rounding of the
 * order of float32's epsilon times the sum of |terms|, far inside the 1e-4 parity tolerance. For finite
 * inputs: the transforms subtract values, so where `tf.conv2d` gives ±Inf this can give NaN.
 *
 * Why: UperNet's 3×3 convolutions are most of a dense model's cost at 512² (its fpn_bottleneck alone,
 * 2048 → 512 channels on a 128² map, is 155 G multiply-adds), and on wasm XNNPACK's direct convolution of
 * that layer runs at 15 GFLOP/s a thread.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertRank } from './assert.js';
import { heapBackend, kernelScope, switchFlag, useFusedKernels, writeFloat32 } from './kernel-scope.js';

export const WINOGRAD_CONV2D_KERNEL = 'DynavitConv2DWinograd';

/**
 * The most bytes the transformed input of one band takes (16 · tiles · Cin float32 values). Measured on
 * 128² 2048→512, wasm, 2 threads: 8 MiB bands 3.9 s, 32 MiB 4.6 s, 128 MiB 4.0 s; smaller bands keep the
 * input transform in cache (0.42 s against 0.8 s), larger ones give the products more rows.
 */
export const WINOGRAD_BAND_BYTES = 16 * 2 ** 20;

type KernelArgs = Parameters<tf.KernelFunc>[0];
type Info = tf.TensorInfo;

/** Row k of U = H Gᵀ from row k of H, (a, b, c): (a, ½(a + b + c), ½(a − b + c), c). */
function filterRow(u: Float32Array, n: number, p: number, k: number, a: number, b: number, c: number): void {
  u[4 * k * n + p] = a;
  u[(4 * k + 1) * n + p] = 0.5 * (a + b + c);
  u[(4 * k + 2) * n + p] = 0.5 * (a - b + c);
  u[(4 * k + 3) * n + p] = c;
}

/** U [16, Cin, Cout] = G g Gᵀ per channel pair, from w [3, 3, Cin, Cout] (tfjs' filter layout). */
export function winogradFilterTransform(w: Float32Array, cin: number, cout: number): Float32Array {
  const n = cin * cout;
  const u = new Float32Array(16 * n);
  for (let p = 0; p < n; p++) {
    // g[r][s] = w[(r·3 + s)·n + p]
    const g0 = w[p]!;
    const g1 = w[n + p]!;
    const g2 = w[2 * n + p]!;
    const g3 = w[3 * n + p]!;
    const g4 = w[4 * n + p]!;
    const g5 = w[5 * n + p]!;
    const g6 = w[6 * n + p]!;
    const g7 = w[7 * n + p]!;
    const g8 = w[8 * n + p]!;
    // H = G g (four rows of three), then U = H Gᵀ, one row of H at a time
    filterRow(u, n, p, 0, g0, g1, g2);
    filterRow(u, n, p, 1, 0.5 * (g0 + g3 + g6), 0.5 * (g1 + g4 + g7), 0.5 * (g2 + g5 + g8));
    filterRow(u, n, p, 2, 0.5 * (g0 - g3 + g6), 0.5 * (g1 - g4 + g7), 0.5 * (g2 - g5 + g8));
    filterRow(u, n, p, 3, g6, g7, g8);
  }
  return u;
}

interface Geometry {
  b: number;
  h: number;
  w: number;
  cin: number;
  cout: number;
  ph: number;
  pw: number;
  ho: number;
  wo: number;
  /** tiles down and across */
  th: number;
  tw: number;
}

/**
 * V [16, tiles, Cin] of tile rows ty0 … ty0+rows−1 of image bi: Bᵀ d B per tile and input channel, d the
 * 4×4 window at padded (2ty, 2tx), zero outside the map.
 */
function inputTransform(x: Float32Array, g: Geometry, bi: number, ty0: number, rows: number, v: Float32Array): void {
  const { h, w, cin, ph, pw, tw } = g;
  const tiles = rows * tw;
  const plane = tiles * cin;
  const zeros = new Float32Array(cin);
  const off = new Int32Array(16); // offset of each of the 16 window positions, −1 where padding
  const src: Float32Array[] = new Array(16);
  for (let ty = 0; ty < rows; ty++)
    for (let tx = 0; tx < tw; tx++) {
      for (let a = 0; a < 4; a++) {
        const y = 2 * (ty0 + ty) + a - ph;
        for (let c = 0; c < 4; c++) {
          const xx = 2 * tx + c - pw;
          const inside = y >= 0 && y < h && xx >= 0 && xx < w;
          off[4 * a + c] = inside ? ((bi * h + y) * w + xx) * cin : 0;
          src[4 * a + c] = inside ? x : zeros;
        }
      }
      const t = (ty * tw + tx) * cin;
      const [s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15] = src as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      const [o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, o13, o14, o15] = off as unknown as number[];
      for (let ci = 0; ci < cin; ci++) {
        // rows of d times B: (r0 − r2, r1 + r2, r2 − r1, r1 − r3) for each of the 4 rows
        const d00 = s0[o0! + ci]!;
        const d01 = s1[o1! + ci]!;
        const d02 = s2[o2! + ci]!;
        const d03 = s3[o3! + ci]!;
        const d10 = s4[o4! + ci]!;
        const d11 = s5[o5! + ci]!;
        const d12 = s6[o6! + ci]!;
        const d13 = s7[o7! + ci]!;
        const d20 = s8[o8! + ci]!;
        const d21 = s9[o9! + ci]!;
        const d22 = s10[o10! + ci]!;
        const d23 = s11[o11! + ci]!;
        const d30 = s12[o12! + ci]!;
        const d31 = s13[o13! + ci]!;
        const d32 = s14[o14! + ci]!;
        const d33 = s15[o15! + ci]!;
        const t00 = d00 - d02;
        const t01 = d01 + d02;
        const t02 = d02 - d01;
        const t03 = d01 - d03;
        const t10 = d10 - d12;
        const t11 = d11 + d12;
        const t12 = d12 - d11;
        const t13 = d11 - d13;
        const t20 = d20 - d22;
        const t21 = d21 + d22;
        const t22 = d22 - d21;
        const t23 = d21 - d23;
        const t30 = d30 - d32;
        const t31 = d31 + d32;
        const t32 = d32 - d31;
        const t33 = d31 - d33;
        // then Bᵀ times the columns
        const p = t + ci;
        v[p] = t00 - t20;
        v[plane + p] = t01 - t21;
        v[2 * plane + p] = t02 - t22;
        v[3 * plane + p] = t03 - t23;
        v[4 * plane + p] = t10 + t20;
        v[5 * plane + p] = t11 + t21;
        v[6 * plane + p] = t12 + t22;
        v[7 * plane + p] = t13 + t23;
        v[8 * plane + p] = t20 - t10;
        v[9 * plane + p] = t21 - t11;
        v[10 * plane + p] = t22 - t12;
        v[11 * plane + p] = t23 - t13;
        v[12 * plane + p] = t10 - t30;
        v[13 * plane + p] = t11 - t31;
        v[14 * plane + p] = t12 - t32;
        v[15 * plane + p] = t13 - t33;
      }
    }
}

/** Y = Aᵀ M A per tile and output channel, written into out [B, Ho, Wo, Cout] (cropped at the edges). */
function outputTransform(
  m: Float32Array[],
  g: Geometry,
  bi: number,
  ty0: number,
  rows: number,
  out: Float32Array,
): void {
  const { cout, ho, wo, tw } = g;
  const [m0, m1, m2, m3, m4, m5, m6, m7, m8, m9, m10, m11, m12, m13, m14, m15] = m as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  for (let ty = 0; ty < rows; ty++) {
    const y0 = 2 * (ty0 + ty);
    const y1ok = y0 + 1 < ho;
    for (let tx = 0; tx < tw; tx++) {
      const x0 = 2 * tx;
      const x1ok = x0 + 1 < wo;
      const t = (ty * tw + tx) * cout;
      const r0 = ((bi * ho + y0) * wo + x0) * cout;
      const r1 = r0 + wo * cout;
      for (let co = 0; co < cout; co++) {
        const p = t + co;
        // M A: (m0 + m1 + m2, m1 − m2 − m3) along j for each i
        const a00 = m0[p]! + m1[p]! + m2[p]!;
        const a01 = m1[p]! - m2[p]! - m3[p]!;
        const a10 = m4[p]! + m5[p]! + m6[p]!;
        const a11 = m5[p]! - m6[p]! - m7[p]!;
        const a20 = m8[p]! + m9[p]! + m10[p]!;
        const a21 = m9[p]! - m10[p]! - m11[p]!;
        const a30 = m12[p]! + m13[p]! + m14[p]!;
        const a31 = m13[p]! - m14[p]! - m15[p]!;
        // then Aᵀ along i
        out[r0 + co] = a00 + a10 + a20;
        if (x1ok) out[r0 + cout + co] = a01 + a11 + a21;
        if (y1ok) {
          out[r1 + co] = a10 - a20 - a30;
          if (x1ok) out[r1 + cout + co] = a11 - a21 - a31;
        }
      }
    }
  }
}

/** x [B, H, W, Cin], filter [3, 3, Cin, Cout]; attrs pad [ph, pw] → [B, Ho, Wo, Cout], stride 1. */
function winogradConv2dHost({ inputs, backend, attrs }: KernelArgs): Info {
  const be = backend as tf.KernelBackend;
  const { x, filter } = inputs as { x: Info; filter: Info };
  const { pad, bandBytes } = attrs as unknown as { pad: [number, number]; bandBytes: number };
  const [b, h, w, cin] = x.shape as [number, number, number, number];
  const cout = filter.shape[3]!;
  const [ph, pw] = pad;
  const ho = h + 2 * ph - 2;
  const wo = w + 2 * pw - 2;
  const g: Geometry = { b, h, w, cin, cout, ph, pw, ho, wo, th: Math.ceil(ho / 2), tw: Math.ceil(wo / 2) };
  const matMul = tf.getKernel('BatchMatMul', tf.getBackend())!.kernelFunc;
  const u = winogradFilterTransform(be.readSync(filter.dataId) as Float32Array, cin, cout);
  // on wasm the input is read, and the output written, where they sit in the heap: views taken afresh for
  // each band, since the writes between them may grow (and so move) the heap; elsewhere host copies
  const heap = heapBackend(be);
  let hostX: Float32Array | null = null;
  const input = (): Float32Array => {
    if (heap) return heap.typedArrayFromHeap(x) as Float32Array;
    hostX ??= be.readSync(x.dataId) as Float32Array;
    return hostX;
  };
  const shape = [b, ho, wo, cout];
  const outInfo = heap ? heap.makeOutput(shape, 'float32') : null;
  const hostOut = heap ? null : new Float32Array(b * ho * wo * cout);
  const output = (): Float32Array => (outInfo ? (heap!.typedArrayFromHeap(outInfo) as Float32Array) : hostOut!);
  const { run, keep, dispose } = kernelScope(be);
  let done = false;
  try {
    const us: Info[] = [];
    for (let k = 0; k < 16; k++)
      us.push(keep(writeFloat32(be, u.subarray(k * cin * cout, (k + 1) * cin * cout), [1, cin, cout])));
    const bandRows = Math.max(1, Math.min(g.th, Math.floor(bandBytes / (16 * 4 * g.tw * cin))));
    const v = new Float32Array(16 * bandRows * g.tw * cin);
    for (let bi = 0; bi < b; bi++)
      for (let ty0 = 0; ty0 < g.th; ty0 += bandRows) {
        const rows = Math.min(bandRows, g.th - ty0);
        const tiles = rows * g.tw;
        const plane = tiles * cin;
        inputTransform(input(), g, bi, ty0, rows, v);
        const ms: Float32Array[] = [];
        for (let k = 0; k < 16; k++) {
          const vk = writeFloat32(be, v.subarray(k * plane, (k + 1) * plane), [1, tiles, cin]);
          try {
            const mk = run(matMul, { a: vk, b: us[k]! }, { transposeA: false, transposeB: false });
            ms.push(be.readSync(mk.dataId) as Float32Array);
            be.disposeData(mk.dataId);
          } finally {
            be.disposeData(vk.dataId);
          }
        }
        outputTransform(ms, g, bi, ty0, rows, output());
      }
    done = true;
  } finally {
    dispose();
    if (!done && outInfo) be.disposeData(outInfo.dataId);
  }
  return outInfo ?? writeFloat32(be, hostOut!, shape);
}

const HOST = { [WINOGRAD_CONV2D_KERNEL]: winogradConv2dHost };
const FUSED_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = { cpu: HOST, wasm: HOST };

/**
 * The tfjs flag that lets `Conv2d` take Winograd by itself (default true):
 * `tf.env().set('DYNAVIT_CONV_WINOGRAD', false)` keeps every convolution direct.
 */
export const WINOGRAD_FLAG = 'DYNAVIT_CONV_WINOGRAD';

switchFlag(WINOGRAD_FLAG); // registered on import, so that tf.env().set(WINOGRAD_FLAG, false) works at once

/** The smallest input and output channel counts, and output pixels, from which `Conv2d` takes Winograd. */
export const WINOGRAD_MIN_CHANNELS = 512;
export const WINOGRAD_MIN_PIXELS = 2048;

/**
 * Whether a convolution should run by Winograd here: inference on wasm, the flag on, a 3×3 stride-1
 * undilated ungrouped filter, at least {@link WINOGRAD_MIN_CHANNELS} channels in and out and
 * {@link WINOGRAD_MIN_PIXELS} output pixels. Measured on wasm, 2 threads (direct → Winograd): 128² 2048→512
 * 12.1 → 5.0 s, 128² 512→512 1.47 → 1.05 s, 64² 512→512 0.73 → 0.41 s, 32² 512→512 107 → 110 ms; with fewer
 * channels the host transforms cost more than the products save (128² 256→256 360 → 450 ms), and a small
 * map does not repay the filter transform (16² 4096→512 0.62 → 0.92 s).
 */
export function useWinograd(
  x: readonly number[],
  filter: readonly number[],
  stride: readonly [number, number],
  dilation: readonly [number, number],
  padding: readonly [number, number],
): boolean {
  if (tf.getBackend() !== 'wasm' || tf.engine().state.gradientDepth > 0) return false;
  if (!switchFlag(WINOGRAD_FLAG)) return false;
  const [kh, kw, cin, cout] = filter as [number, number, number, number];
  if (kh !== 3 || kw !== 3 || stride[0] !== 1 || stride[1] !== 1 || dilation[0] !== 1 || dilation[1] !== 1)
    return false;
  if (padding[0] > 2 || padding[1] > 2) return false;
  const pixels = (x[1]! + 2 * padding[0] - 2) * (x[2]! + 2 * padding[1] - 2);
  return cin >= WINOGRAD_MIN_CHANNELS && cout >= WINOGRAD_MIN_CHANNELS && pixels >= WINOGRAD_MIN_PIXELS;
}

export interface WinogradOptions {
  /** Zero padding [rows, columns] on both sides (torch's `padding`); default [1, 1]. */
  padding?: readonly [number, number];
  /** The most bytes of transformed input per band (default {@link WINOGRAD_BAND_BYTES}; at least one tile row). */
  bandBytes?: number;
}

/**
 * A 3×3, stride-1, undilated, ungrouped convolution by Winograd F(2×2, 3×3): x [B, H, W, Cin], filter
 * [3, 3, Cin, Cout] (tfjs' layout) → [B, H + 2p − 2, W + 2p − 2, Cout], the same as
 * `tf.conv2d(x, filter, 1, [[0,0],[p,p],[q,q],[0,0]])` within float32 rounding (see the file comment).
 * cpu and wasm, not differentiable (training takes `tf.conv2d`).
 */
export function conv2dWinograd(x: tf.Tensor4D, filter: tf.Tensor4D, options: WinogradOptions = {}): tf.Tensor4D {
  const op = 'conv2dWinograd';
  assertRank(op, 'x', x, 4);
  assertRank(op, 'filter', filter, 4);
  const [kh, kw, fin] = filter.shape;
  if (kh !== 3 || kw !== 3 || fin !== x.shape[3])
    throw new InvalidArgumentError(
      `${op}: filter must be [3, 3, ${x.shape[3]}, Cout] for x [${x.shape.join(', ')}], got [${filter.shape.join(', ')}]`,
    );
  const pad = options.padding ?? [1, 1];
  if (!Array.isArray(pad) || pad.length !== 2 || !pad.every((p) => Number.isInteger(p) && p >= 0 && p <= 2))
    throw new InvalidArgumentError(
      `${op}: padding must be [rows, columns] with whole numbers 0…2, got ${JSON.stringify(pad)}`,
    );
  if (x.shape[1] + 2 * pad[0] < 3 || x.shape[2] + 2 * pad[1] < 3)
    throw new InvalidArgumentError(
      `${op}: a ${x.shape[1]}×${x.shape[2]} map padded by ${pad.join(',')} is smaller than the 3×3 filter`,
    );
  for (const [name, t] of [
    ['x', x],
    ['filter', filter],
  ] as const)
    if (t.dtype !== 'float32') throw new InvalidArgumentError(`${op}: ${name} must be float32, got ${t.dtype}`);
  if (!useFusedKernels(FUSED_BY_BACKEND, true))
    throw new InvalidArgumentError(`${op}: the kernel runs on cpu and wasm, not ${tf.getBackend()}`);
  if (tf.engine().state.gradientDepth > 0)
    throw new InvalidArgumentError(`${op}: the kernel has no gradient; use tf.conv2d under a gradient`);
  const bandBytes = options.bandBytes ?? WINOGRAD_BAND_BYTES;
  if (!(Number.isFinite(bandBytes) && bandBytes > 0))
    throw new InvalidArgumentError(`${op}: bandBytes must be a positive number, got ${bandBytes}`);
  return tf.engine().runKernel(WINOGRAD_CONV2D_KERNEL, { x, filter }, {
    pad: [pad[0], pad[1]],
    bandBytes,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
