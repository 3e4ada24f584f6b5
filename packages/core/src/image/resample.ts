/**
 * Classification pre-processing on host pixels, as the official evaluations ran it: torchvision
 * `Resize(scale, bicubic)` on a PIL image → `CenterCrop(size)` → `ToTensor` → `Normalize(mean, std)`,
 * with timm's `scale = ⌊size / crop_pct⌋`. Everything here works on plain `Uint8Array` RGB pixels
 * (row-major HWC), touches no DOM and no tensor, and gives the same bytes on every backend and in
 * Node, so it can be shared by both runtimes.
 *
 * The resampler reproduces Pillow's `Image.resize` for 8-bit images (the antialiasing resampler that
 * torchvision calls for PIL input): separable, horizontal pass first, each pass rounding to 8 bits;
 * the filter is widened by the downscale factor (antialiasing); taps are normalised, then quantised to
 * 22-bit fixed point, and each output is ⌊(Σ pixel·tap + 2²¹) / 2²²⌋ clamped to 0–255.
 */
import type { InputConfig } from '../contracts.js';
import { InvalidArgumentError } from '../errors.js';

/** Host RGB pixels, row-major HWC, 8 bits per channel. */
export interface RgbImage {
  width: number;
  height: number;
  /** length width·height·3 */
  data: Uint8Array;
}

export type ResampleFilter = 'bicubic' | 'bilinear';

interface Filter {
  support: number;
  weight(x: number): number;
}

const FILTERS: Readonly<Record<ResampleFilter, Filter>> = {
  // Keys' cubic convolution with a = −0.5 (Pillow's BICUBIC)
  bicubic: {
    support: 2,
    weight(x) {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  // triangle (Pillow's BILINEAR)
  bilinear: {
    support: 1,
    weight(x) {
      const t = Math.abs(x);
      return t < 1 ? 1 - t : 0;
    },
  },
};

const PRECISION_BITS = 22;
const ONE = 2 ** PRECISION_BITS;

/** For each output index: first source index, tap count and fixed-point taps (ksize per output). */
interface AxisTaps {
  start: Int32Array;
  count: Int32Array;
  ksize: number;
  taps: Int32Array;
}

/** Pillow's per-axis coefficient table for resampling `inSize` samples to `outSize`. */
function axisTaps(inSize: number, outSize: number, filter: Filter): AxisTaps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const taps = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const inv = 1 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // C casts truncate toward zero; the lower bound is clamped to 0 right after, so trunc is exact here
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = hi - lo;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      k[i] = filter.weight((i + lo - center + 0.5) * inv);
      sum += k[i]!;
    }
    for (let i = 0; i < n; i++) {
      const w = sum !== 0 ? k[i]! / sum : k[i]!;
      // to fixed point, rounding half away from zero
      taps[o * ksize + i] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, ksize, taps };
}

const clip8 = (acc: number) => {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
};

/**
 * Resize 8-bit interleaved pixels (`channels` per pixel, row-major) to `outW`×`outH` exactly as
 * Pillow's `Image.resize((outW, outH), filter)` does for 8-bit images.
 */
export function resamplePixels(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
  filter: ResampleFilter = 'bicubic',
): Uint8Array {
  if (!Number.isInteger(outW) || !Number.isInteger(outH) || outW < 1 || outH < 1)
    throw new InvalidArgumentError(`resample: output size must be positive integers, got ${outW}×${outH}`);
  if (src.length !== width * height * channels)
    throw new InvalidArgumentError(`resample: ${src.length} bytes do not hold ${width}×${height}×${channels} pixels`);
  const f = FILTERS[filter];
  let img = src;
  let w = width;
  const half = ONE / 2;
  if (outW !== width) {
    const t = axisTaps(width, outW, f);
    const out = new Uint8Array(outW * height * channels);
    for (let y = 0; y < height; y++) {
      const row = y * width * channels;
      for (let o = 0; o < outW; o++) {
        const base = o * t.ksize;
        const lo = t.start[o]!;
        const n = t.count[o]!;
        for (let c = 0; c < channels; c++) {
          let acc = half;
          for (let i = 0; i < n; i++) acc += img[row + (lo + i) * channels + c]! * t.taps[base + i]!;
          out[(y * outW + o) * channels + c] = clip8(acc);
        }
      }
    }
    img = out;
    w = outW;
  }
  if (outH !== height) {
    const t = axisTaps(height, outH, f);
    const out = new Uint8Array(w * outH * channels);
    const stride = w * channels;
    for (let o = 0; o < outH; o++) {
      const base = o * t.ksize;
      const lo = t.start[o]!;
      const n = t.count[o]!;
      for (let x = 0; x < stride; x++) {
        let acc = half;
        for (let i = 0; i < n; i++) acc += img[(lo + i) * stride + x]! * t.taps[base + i]!;
        out[o * stride + x] = clip8(acc);
      }
    }
    img = out;
  }
  return img === src ? src.slice() : img;
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The size the evaluation resize produces before the crop (timm `transforms_imagenet_eval` +
 * torchvision `Resize`): with `cropMode: 'squash'` (DAT) or a non-square crop, ⌊h/cropPct⌋×⌊w/cropPct⌋
 * exactly, aspect not kept; otherwise the shorter side becomes ⌊size/cropPct⌋ keeping the aspect ratio
 * (the longer side truncated). Returns [height, width].
 */
export function evalResizeSize(
  height: number,
  width: number,
  input: Pick<InputConfig, 'size' | 'cropPct' | 'cropMode'>,
): [number, number] {
  const [sh, sw] = input.size;
  const cropPct = input.cropPct;
  if (!(cropPct > 0 && cropPct <= 1)) throw new InvalidArgumentError(`cropPct must be in (0, 1], got ${cropPct}`);
  // timm: math.floor(img_size / crop_pct), in doubles as Python computes it
  const scaleH = Math.floor(sh / cropPct);
  const scaleW = Math.floor(sw / cropPct);
  if (input.cropMode === 'squash' || scaleH !== scaleW) return [scaleH, scaleW];
  const short = Math.min(height, width);
  const long = Math.max(height, width);
  const newLong = Math.trunc((scaleH * long) / short);
  return width <= height ? [newLong, scaleH] : [scaleH, newLong];
}

/** torchvision `CenterCrop`: offsets rounded half to even; zero padding when the crop is larger. */
export function centerCrop(img: RgbImage, cropH: number, cropW: number): RgbImage {
  const { width, height, data } = img;
  const top = height >= cropH ? roundHalfEven((height - cropH) / 2) : -Math.floor((cropH - height) / 2);
  const left = width >= cropW ? roundHalfEven((width - cropW) / 2) : -Math.floor((cropW - width) / 2);
  const out = new Uint8Array(cropH * cropW * 3);
  for (let y = 0; y < cropH; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < cropW; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= width) continue;
      const s = (sy * width + sx) * 3;
      const d = (y * cropW + x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { width: cropW, height: cropH, data: out };
}

/**
 * The whole classification transform on host pixels: resize, centre crop, then `ToTensor` and
 * `Normalize` in float32 as torch computes them ((p/255 − mean)/std). Returns NHWC-ordered values
 * for a [1, size[0], size[1], 3] tensor.
 */
export function classificationPixels(img: RgbImage, input: InputConfig): Float32Array {
  if (img.data.length !== img.width * img.height * 3)
    throw new InvalidArgumentError(`image data holds ${img.data.length} bytes, expected ${img.width}×${img.height}×3`);
  const [rh, rw] = evalResizeSize(img.height, img.width, input);
  const resized: RgbImage = {
    width: rw,
    height: rh,
    data: resamplePixels(img.data, img.width, img.height, 3, rw, rh, input.interpolation),
  };
  const [ch, cw] = input.size;
  const crop = centerCrop(resized, ch, cw);
  const f = Math.fround;
  const mean = input.mean.map(f);
  const std = input.std.map(f);
  const out = new Float32Array(crop.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % 3;
    out[i] = f(f(f(crop.data[i]! / 255) - mean[c]!) / std[c]!);
  }
  return out;
}
