/**
 * mmdet 2.x `AnchorGenerator` (heads.md §6.1), host side, float32 arithmetic as torch does it.
 *
 * Base anchors per level (base_size = stride, centre offset 0, scale-major): h_r = √ratio,
 * w_r = 1/h_r, ws = stride·w_r·scale, hs = stride·h_r·scale, flattened ratio-major (a = r·nScales + c),
 * base = [−ws/2, −hs/2, ws/2, hs/2]. Grid anchors for cell (y, x) = base + [x·s, y·s, x·s, y·s]
 * (centred on the cell's top-left corner), flattened (y, x, a) — the NHWC order of the head outputs.
 */
import { InvalidArgumentError } from '@dynavit/core';

const f32 = Math.fround;

export interface AnchorGeneratorConfig {
  /** one stride per pyramid level (also the base size): Mask R-CNN RPN [4..64], RetinaNet [8..128] */
  strides: readonly number[];
  ratios: readonly number[];
  /** explicit anchor scales (Mask R-CNN RPN: [8]) */
  scales?: readonly number[];
  /** RetinaNet: scales = octave_base_scale · 2^(i/scales_per_octave), i = 0..scales_per_octave−1 */
  octaveBaseScale?: number;
  scalesPerOctave?: number;
}

export class AnchorGenerator {
  readonly strides: readonly number[];
  /** float32 ratios and scales, as torch stores them */
  readonly ratios: Float32Array;
  readonly scales: Float32Array;
  readonly #base: Float32Array[];

  constructor(readonly config: AnchorGeneratorConfig) {
    const { strides, ratios } = config;
    if (strides.length === 0 || strides.some((s) => !(s > 0)))
      throw new InvalidArgumentError(`AnchorGenerator: strides must be positive, got [${strides.join(', ')}]`);
    if (ratios.length === 0 || ratios.some((r) => !(r > 0)))
      throw new InvalidArgumentError(`AnchorGenerator: ratios must be positive, got [${ratios.join(', ')}]`);
    let scales: number[];
    if (config.scales) scales = [...config.scales];
    else if (config.octaveBaseScale !== undefined && config.scalesPerOctave !== undefined) {
      const { octaveBaseScale: b, scalesPerOctave: n } = config;
      // numpy float64, then torch.Tensor → float32
      scales = Array.from({ length: n }, (_, i) => 2 ** (i / n) * b);
    } else throw new InvalidArgumentError('AnchorGenerator: give either scales or octaveBaseScale + scalesPerOctave');
    this.strides = [...strides];
    this.ratios = Float32Array.from(ratios);
    this.scales = Float32Array.from(scales);
    this.#base = this.strides.map((s) => this.#baseAnchors(s));
  }

  /** anchors per location (A = ratios × scales) */
  get numAnchors(): number {
    return this.ratios.length * this.scales.length;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  #baseAnchors(stride: number): Float32Array {
    const nr = this.ratios.length;
    const ns = this.scales.length;
    const out = new Float32Array(nr * ns * 4);
    for (let r = 0; r < nr; r++) {
      const hr = f32(Math.sqrt(this.ratios[r]!));
      const wr = f32(1 / hr);
      for (let c = 0; c < ns; c++) {
        const ws = f32(f32(stride * wr) * this.scales[c]!);
        const hs = f32(f32(stride * hr) * this.scales[c]!);
        const a = (r * ns + c) * 4;
        out[a] = f32(0 - f32(0.5 * ws));
        out[a + 1] = f32(0 - f32(0.5 * hs));
        out[a + 2] = f32(0 + f32(0.5 * ws));
        out[a + 3] = f32(0 + f32(0.5 * hs));
      }
    }
    return out;
  }

  #level(level: number): number {
    if (!Number.isInteger(level) || level < 0 || level >= this.strides.length)
      throw new InvalidArgumentError(`AnchorGenerator: level ${level} out of range (${this.strides.length} levels)`);
    return this.strides[level]!;
  }

  /** Base anchors of a level, [A·4] (x1, y1, x2, y2). A fresh copy. */
  baseAnchors(level: number): Float32Array {
    this.#level(level);
    return this.#base[level]!.slice();
  }

  /** All anchors of an h×w level, [h·w·A·4], rows in (y, x, a) order. */
  gridAnchors(level: number, height: number, width: number): Float32Array {
    const s = this.#level(level);
    const base = this.#base[level]!;
    const A = this.numAnchors;
    const out = new Float32Array(height * width * A * 4);
    let o = 0;
    for (let y = 0; y < height; y++) {
      const sy = y * s;
      for (let x = 0; x < width; x++) {
        const sx = x * s;
        for (let a = 0; a < A * 4; a += 4) {
          out[o++] = f32(base[a]! + sx);
          out[o++] = f32(base[a + 1]! + sy);
          out[o++] = f32(base[a + 2]! + sx);
          out[o++] = f32(base[a + 3]! + sy);
        }
      }
    }
    return out;
  }
}
