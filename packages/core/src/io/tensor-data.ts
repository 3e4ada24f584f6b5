/**
 * Host-side tensors as checkpoints store them: dtype, PyTorch shape (row-major, contiguous) and data.
 * F16/BF16 keep their raw 16-bit words (`Uint16Array`) until `toFloat32` upcasts them; I64 keeps
 * `BigInt64Array`. A `StateDict` is an insertion-ordered map, like PyTorch's OrderedDict.
 */
import { InvalidArgumentError } from '../errors.js';

export type DType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8';

export type TensorArray = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface TensorData {
  dtype: DType;
  shape: number[];
  data: TensorArray;
}

export type StateDict = Map<string, TensorData>;

export const DTYPE_BYTES: Readonly<Record<DType, number>> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, U8: 1 };

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** IEEE half → float. */
export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float → IEEE half, round to nearest even. */
export function f32ToF16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  e = half >>> 10;
  return sign | half;
}

/** Upcast any floating/int tensor to float32 values (I64 via Number). */
export function toFloat32(t: TensorData): Float32Array {
  const { dtype, data } = t;
  switch (dtype) {
    case 'F32':
      return data as Float32Array;
    case 'F16': {
      const src = data as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = f16ToF32(src[i]!);
      return out;
    }
    case 'BF16': {
      const src = data as Uint16Array;
      const out = new Float32Array(src.length);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) u[i] = src[i]! << 16;
      return out;
    }
    case 'I64':
      return Float32Array.from(data as BigInt64Array, (v) => Number(v));
    case 'I32':
    case 'U8':
      return Float32Array.from(data as Int32Array | Uint8Array);
    default:
      throw new InvalidArgumentError(`toFloat32: unsupported dtype ${String(dtype)}`);
  }
}

/** Convert a float32 tensor to F16/BF16/F32. */
export function fromFloat32(values: Float32Array, shape: number[], dtype: 'F32' | 'F16' | 'BF16'): TensorData {
  if (dtype === 'F32') return { dtype, shape, data: values };
  const out = new Uint16Array(values.length);
  if (dtype === 'F16') for (let i = 0; i < values.length; i++) out[i] = f32ToF16(values[i]!);
  else {
    const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < values.length; i++) {
      const x = u[i]!;
      // round to nearest even on the dropped 16 bits (NaN kept quiet)
      out[i] =
        (x & 0x7f800000) === 0x7f800000 && x & 0x7fffff ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return { dtype, shape, data: out };
}
