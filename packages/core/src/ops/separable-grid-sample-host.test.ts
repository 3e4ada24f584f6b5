import { describe, expect, it } from 'vitest';
import { values } from '../test-utils/backends.js';
import { axisTaps, sampleInModule, sampleLoop, type Taps } from './separable-grid-sample-host.js';

/** Taps of random grids in −2 … 2 (some taps outside the table), [n, hq, p] and [n, wq, p]. */
function taps(
  nt: number,
  th: number,
  tw: number,
  c: number,
  n: number,
  hq: number,
  wq: number,
  p: number,
  align: boolean,
): Taps {
  const gy = values(n * hq * p, 7 + hq).map((v) => 2 * v);
  const gx = values(n * wq * p, 8 + wq).map((v) => 2 * v);
  return { nt, th, tw, c, n, hq, wq, p, y: axisTaps(gy, th, align), x: axisTaps(gx, tw, align), sy: 0, sx: 0 };
}

describe('separable grid sampling in WebAssembly', () => {
  it('equals the JavaScript loop bit for bit and sets every value: one table, one per row, per group; taps outside', () => {
    for (const [nt, th, tw, c, n, hq, wq, p, align] of [
      [1, 27, 27, 2, 1, 14, 14, 49, false], // DAT-T++ stage 2 at 224²
      [4, 5, 7, 3, 4, 3, 6, 5, true], // a table per row
      [2, 9, 9, 1, 6, 4, 2, 7, false], // per-group tables (row b·G + g reads table g)
      [1, 3, 3, 4, 2, 1, 1, 1, true],
    ] as const) {
      const t = taps(nt, th, tw, c, n, hq, wq, p, align);
      const table = values(nt * th * tw * c, 3 + c);
      const size = n * c * hq * wq * p;
      const wasm = new Float32Array(size).fill(Number.NaN);
      const js = new Float32Array(size).fill(Number.NaN);
      const label = `${nt} tables ${th}×${tw}×${c}, grids ${n}×${hq}×${wq}×${p}`;
      expect(sampleInModule(wasm, table, t), label).toBe(true);
      sampleLoop(js, table, t);
      expect(wasm.some(Number.isNaN), label).toBe(false);
      expect(Array.from(wasm)).toEqual(Array.from(js));
      if (size >= 100) {
        // some samples fall wholly outside the table (0), most inside
        expect(
          js.some((v) => v === 0),
          label,
        ).toBe(true);
        expect(
          js.some((v) => v !== 0),
          label,
        ).toBe(true);
      }
    }
  });
});
