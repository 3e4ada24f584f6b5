import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { IMAGENET_MEAN, IMAGENET_STD } from '../contracts.js';
import { readSafetensors } from '../io/safetensors.js';
import { centerCrop, classificationPixels, evalResizeSize, resamplePixels, type ResampleFilter } from './resample.js';

// Outputs of Pillow 9.4 (scripts/make-resample-fixture.py); the inputs are this formula.
// (copied into a plain Uint8Array: core's reader slices its input, and Buffer#slice does not copy)
const fixture = readSafetensors(
  new Uint8Array(readFileSync(new URL('./__fixtures__/resample.safetensors', import.meta.url))),
);

function pattern(w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = (x * 31 + y * 17 + ((x * y) % 7) * 40 + c * 85) % 256;
  return out;
}

interface Case {
  name: string;
  in: [number, number];
  out: [number, number];
  filter: ResampleFilter;
}

describe('resamplePixels reproduces Pillow', () => {
  const cases = JSON.parse(fixture.metadata['cases']!) as Case[];
  for (const c of cases) {
    it(`${c.name}: ${c.in.join('x')} → ${c.out.join('x')} ${c.filter}`, () => {
      const [iw, ih] = c.in;
      const [ow, oh] = c.out;
      const got = resamplePixels(pattern(iw, ih), iw, ih, 3, ow, oh, c.filter);
      const ref = fixture.tensors.get(c.name)!.data as Uint8Array;
      expect(got.length).toBe(ref.length);
      let diff = 0;
      for (let i = 0; i < ref.length; i++) if (got[i] !== ref[i]) diff++;
      expect(diff).toBe(0);
    });
  }
  it('is the identity at the same size and keeps a flat image flat', () => {
    const p = pattern(9, 5);
    expect(resamplePixels(p, 9, 5, 3, 9, 5)).toEqual(p);
    const flat = new Uint8Array(20 * 10 * 3).fill(200);
    expect(resamplePixels(flat, 20, 10, 3, 7, 3).every((v) => v === 200)).toBe(true);
  });
  it('rejects bad sizes', () => {
    expect(() => resamplePixels(new Uint8Array(12), 2, 2, 3, 0, 2)).toThrow(/positive integers/);
    expect(() => resamplePixels(new Uint8Array(11), 2, 2, 3, 1, 1)).toThrow(/do not hold/);
  });
});

describe('classification transform (timm eval + torchvision)', () => {
  it('sizes: square crops keep the aspect ratio, others resize exactly', () => {
    expect(evalResizeSize(47, 61, { size: [32, 32], cropPct: 0.875 })).toEqual([36, 46]);
    expect(evalResizeSize(480, 640, { size: [224, 224], cropPct: 224 / 256 })).toEqual([256, 341]);
    expect(evalResizeSize(640, 480, { size: [224, 224], cropPct: 0.96 })).toEqual([310, 233]);
    expect(evalResizeSize(500, 500, { size: [384, 384], cropPct: 1 })).toEqual([384, 384]);
    // DAT's data/build.py: Resize((256, 256)) then CenterCrop(224), and Resize((384, 384)) at 384 — aspect not kept
    expect(evalResizeSize(480, 640, { size: [224, 224], cropPct: 224 / 256, cropMode: 'squash' })).toEqual([256, 256]);
    expect(evalResizeSize(300, 451, { size: [384, 384], cropPct: 1, cropMode: 'squash' })).toEqual([384, 384]);
    expect(() => evalResizeSize(10, 10, { size: [8, 8], cropPct: 1.5 })).toThrow(/cropPct/);
    expect(evalResizeSize(100, 300, { size: [96, 128], cropPct: 0.875 })).toEqual([109, 146]);
  });
  it('centre crop rounds half to even and pads when the crop is larger', () => {
    const img = { width: 5, height: 1, data: pattern(5, 1) };
    // (5 - 2) / 2 = 1.5 → 2
    expect(centerCrop(img, 1, 2).data).toEqual(img.data.slice(6, 12));
    const small = centerCrop({ width: 1, height: 1, data: new Uint8Array([9, 9, 9]) }, 3, 3);
    expect([...small.data].filter((v) => v === 9).length).toBe(3);
    expect(small.data.slice(12, 15)).toEqual(new Uint8Array([9, 9, 9]));
  });
  it('matches torchvision bit for bit (Resize 36 bicubic, CenterCrop 32, ToTensor, Normalize)', () => {
    const got = classificationPixels(
      { width: 61, height: 47, data: pattern(61, 47) },
      { size: [32, 32], cropPct: 0.875, mean: IMAGENET_MEAN, std: IMAGENET_STD, interpolation: 'bicubic' },
    );
    const ref = fixture.tensors.get('classification')!.data as Float32Array;
    expect(got.length).toBe(32 * 32 * 3);
    expect(Array.from(got)).toEqual(Array.from(ref));
  });
});
