/**
 * The fused neighbourhood attention's host loop in 128-bit WebAssembly SIMD (`wasm/neighborhood-attention.wat`),
 * for the `DynavitNeighborhoodAttention2D*` kernels on cpu and wasm when the head dimension is a multiple
 * of 4. Per (image, head) the module makes every query's logits over its window (q·k, four channels a
 * step), adds the scale and the relative-position bias and takes the softmax (float32, its exponential
 * four values at a time), and sums the window's values weighted by it. It differs from the float64
 * scalar loop by float32 rounding only (the tests bound it against the composite ops at 1e-5).
 *
 * Measured on DAT-T++ at 224², wasm, 1 thread (12 N blocks): the scalar loop 163 ms, this one with the
 * softmax on the host (float64 JavaScript, three quarters of its time) 37 ms; a stage-0 block (56², 2
 * heads) went from ~10 to ~4 ms when the module took the softmax too (2026-12-04). The
 * module has its own memory: one image at a time, its q, k, v values, the window and bias tables, the
 * bias table of the heads, one head's logits and its output are copied in, and the output is copied out. Where WebAssembly SIMD is missing or the
 * image needs more than {@link NA_SIMD_MAX_BYTES}, {@link neighborhoodAttentionSimd} returns false and the
 * scalar loop runs.
 */
import { neighborhoodAttentionWasm } from './wasm/neighborhood-attention-wasm.js';
import { wasmExports } from './wasm-module.js';

interface Exports {
  memory: WebAssembly.Memory;
  logits(q: number, k: number, key: number, out: number, n: number, kk: number, dimBytes: number, stride: number): void;
  softmax(p: number, bias: number, rpb: number, hasRpb: number, n: number, kk: number, scale: number): void;
  aggregate(
    v: number,
    key: number,
    p: number,
    out: number,
    n: number,
    kk: number,
    dimBytes: number,
    stride: number,
    outStride: number,
  ): void;
}

/** Where (b, m, position) of q, k, v and the output sit in their host arrays (d is contiguous). */
export interface NaHostLayout {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** offsets of q, k, v's element 0 in their arrays */
  qOff: number;
  kOff: number;
  vOff: number;
  /** strides of b, m, position in the inputs, and in the output */
  inStrides: readonly [number, number, number];
  outStrides: readonly [number, number, number];
}

/** The compiled module, or null where this WebAssembly has no SIMD. */
export function neighborhoodSimdModule(): Exports | null {
  return wasmExports<Exports>(neighborhoodAttentionWasm);
}

const align = (bytes: number): number => Math.ceil(bytes / 16) * 16;

/**
 * The most bytes the module takes for one image (its share of q, k, v, the window table, one head's
 * logits, the image's output); above it, or where its memory cannot grow, the scalar loop runs. DAT-T++
 * at 1024² needs ~80 MB at stage 0. The memory stays at the largest size used.
 */
export const NA_SIMD_MAX_BYTES = 2 ** 30;

/**
 * The fused attention of `shape` [B, M, H, W, D] over the window tables `key` (key position per query and
 * slot) and `bias` (rpb index per query and slot): softmax(scale·q·k + rpb)·v per query, written with the
 * output strides into `result` (B·M·H·W·D values). False (nothing written) where the module cannot run
 * here or D is not a multiple of 4 (the caller then takes the scalar loop).
 */
export function neighborhoodAttentionSimd(
  L: NaHostLayout,
  shape: readonly [number, number, number, number, number],
  key: Int32Array,
  bias: Int32Array,
  rpb: Float32Array | null,
  kernelSize: number,
  scale: number,
  result: Float32Array,
): boolean {
  const [b, m, h, w, dim] = shape;
  if (dim % 4 !== 0 || dim === 0) return false;
  const mod = neighborhoodSimdModule();
  if (!mod) return false;
  const kk = kernelSize * kernelSize;
  const span2 = (2 * kernelSize - 1) ** 2;
  const hw = h * w;
  const [sb, sm, sp] = L.inStrides;
  const [ob, om, op] = L.outStrides;
  const perImage = m * hw * dim; // output values of one image (ob)
  // byte layout of the module's memory, one image at a time: each distinct input array's share of the
  // image, the window table, one head's logits, the image's output
  const arrays = [...new Set([L.q, L.k, L.v])];
  const offsets = new Map<Float32Array, number>();
  let end = 0;
  for (const a of arrays) {
    offsets.set(a, end);
    end = align(end + sb * 4);
  }
  const keyAt = end;
  end = align(end + key.length * 4);
  const biasAt = end;
  end = rpb ? align(end + bias.length * 4) : end;
  const rpbAt = end;
  end = rpb ? align(end + rpb.length * 4) : end;
  const logitsAt = end;
  end = align(end + hw * kk * 4 + 16); // the softmax's e^x goes four values at a time
  const outAt = end;
  end = align(end + perImage * 4);
  if (end > NA_SIMD_MAX_BYTES) return false;
  const have = mod.memory.buffer.byteLength;
  try {
    if (have < end) mod.memory.grow(Math.ceil((end - have) / 65536));
  } catch {
    return false; // the memory cannot grow here: the scalar loop runs
  }
  const f32 = new Float32Array(mod.memory.buffer);
  new Int32Array(mod.memory.buffer, keyAt, key.length).set(key);
  if (rpb) {
    new Int32Array(mod.memory.buffer, biasAt, bias.length).set(bias);
    f32.set(rpb, rpbAt / 4);
  }
  for (let bi = 0; bi < b; bi++) {
    for (const a of arrays) f32.set(a.subarray(bi * sb, (bi + 1) * sb), offsets.get(a)! / 4);
    for (let mi = 0; mi < m; mi++) {
      const base = mi * sm;
      const q = offsets.get(L.q)! + (L.qOff + base) * 4;
      const k = offsets.get(L.k)! + (L.kOff + base) * 4;
      const v = offsets.get(L.v)! + (L.vOff + base) * 4;
      mod.logits(q, k, keyAt, logitsAt, hw, kk, dim * 4, sp * 4);
      // softmax over each query's window of scale·q·k + rpb
      mod.softmax(logitsAt, biasAt, rpbAt + mi * span2 * 4, rpb ? 1 : 0, hw, kk, scale);
      mod.aggregate(v, keyAt, logitsAt, outAt + mi * om * 4, hw, kk, dim * 4, sp * 4, op * 4);
    }
    result.set(f32.subarray(outAt / 4, outAt / 4 + perImage), bi * ob);
  }
  return true;
}
