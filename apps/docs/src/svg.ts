/** Helpers of the docs' static SVG charts (bench.ts, scaling.ts). */

/** Text escaped for SVG/XML content and attribute values. */
export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A "nice" axis maximum (1, 2, 2.5, 5 × 10^k) at or above `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Colours of the three families, by registry name. */
export const FAMILY_COLOURS: ReadonlyArray<[RegExp, string]> = [
  [/^dat/, '#3c78d8'],
  [/^debi/, '#e69138'],
  [/^glnet/, '#6aa84f'],
];
