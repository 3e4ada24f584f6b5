import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { niceMax, parseBenchData, renderBenchChart, renderBenchTable } from './bench.js';

const data = parseBenchData(JSON.parse(readFileSync(new URL('../data/bench.json', import.meta.url), 'utf8')));

describe('the benchmarks chart', () => {
  it('reads data/bench.json', () => {
    expect(data.results.map((r) => r.model)).toEqual(expect.arrayContaining(['dat_pp_tiny', 'debi_tiny', 'glnet_4g']));
    expect(() =>
      parseBenchData({ ...data, results: [{ model: 'x', label: 'x', backend: 'wasm', seconds: -1 }] }),
    ).toThrow(/seconds must be a positive number/);
  });

  it('draws one bar per result, scaled to a nice axis, as a self-contained SVG', () => {
    const svg = renderBenchChart(data, { dat_pp_tiny: 4.26 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect /g)).toHaveLength(data.results.length);
    expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org)/); // nothing fetched from elsewhere
    expect(svg).toContain(`${data.results[0]!.seconds} s`);
    expect(svg).toContain('GFLOP/s');
    expect(niceMax(6.3)).toBe(10);
    expect(niceMax(1.3)).toBe(2);
    // the longest bar is the slowest model
    const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    const slowest = data.results.reduce((a, r, i) => (r.seconds > data.results[a]!.seconds ? i : a), 0);
    expect(Math.max(...widths)).toBe(widths[slowest]);
  });

  it('tabulates the same numbers', () => {
    const md = renderBenchTable(data, { glnet_4g: 4.48 });
    expect(md.split('\n')).toHaveLength(2 + data.results.length);
    // GFLOP/s = 2 × MACs / seconds, one decimal
    const s = data.results.find((r) => r.model === 'glnet_4g')!.seconds;
    expect(md).toContain(`| GLNet-4G (\`glnet_4g\`) | wasm | ${s} | 4.48 | ${((2 * 4.48) / s).toFixed(1)} |`);
    expect(
      renderBenchTable({ ...data, results: [{ model: 'm', label: 'M', backend: 'wasm', seconds: 0.5 }] }, { m: 4 }),
    ).toContain('| M (`m`) | wasm | 0.5 | 4.00 | 16.0 |');
  });
});
