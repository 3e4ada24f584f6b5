import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type BenchData,
  benchGroups,
  niceMax,
  parseBenchData,
  renderBenchChart,
  renderBenchCharts,
  renderBenchProfiles,
  renderBenchTable,
} from './bench.js';

const data = parseBenchData(JSON.parse(readFileSync(new URL('../data/bench.json', import.meta.url), 'utf8')));

const sample: BenchData = {
  title: 't',
  unit: 's',
  date: '2026-12-02',
  machine: '2 × CPU',
  command: 'c',
  results: [
    { model: 'm', label: 'M', runtime: 'Node 20', backend: 'wasm', device: 'cpu', seconds: 0.5, spread: [0.4, 0.7] },
    { model: 'm', label: 'M', runtime: 'Chromium 142', backend: 'webgpu', device: 'SwiftShader', seconds: 30 },
    { model: 'n', label: 'N', runtime: 'Node 20', backend: 'wasm', device: 'cpu', seconds: 0.25 },
  ],
  profiles: [
    {
      model: 'm',
      label: 'M',
      backend: 'wasm',
      totalMs: 500,
      kernels: [
        { name: 'BatchMatMul', ms: 300, calls: 40 },
        { name: 'Add', ms: 100, calls: 90 },
      ],
      modules: [{ name: 'Attention', ms: 250, calls: 12 }],
    },
  ],
};

describe('data/bench.json', () => {
  it('is well-formed, dated, and covers every family on wasm and on WebGPU, naming the WebGPU device', () => {
    expect(data.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    const nodeWasm = data.results.filter((r) => r.runtime.startsWith('Node') && r.backend === 'wasm');
    const webgpu = data.results.filter((r) => r.backend === 'webgpu');
    for (const family of [/^dat_/, /^debi_/, /^glnet_/]) {
      expect(nodeWasm.some((r) => family.test(r.model))).toBe(true);
      expect(webgpu.some((r) => family.test(r.model))).toBe(true);
    }
    // a software adapter is called one, so nobody reads its seconds as a GPU's
    for (const r of webgpu) expect(r.device).toMatch(/SwiftShader \(software|NVIDIA|AMD|Intel|Apple/);
  });

  it('has each family on wasm on several threads (--threads), beside its one-thread row', () => {
    const threaded = data.results.filter((r) => /--threads \d+$/.test(r.runtime));
    for (const family of [/^dat_/, /^debi_/, /^glnet_/]) expect(threaded.some((r) => family.test(r.model))).toBe(true);
    for (const r of threaded) {
      const n = Number(/--threads (\d+)$/.exec(r.runtime)![1]);
      expect(n).toBeGreaterThan(1);
      expect(r.device).toContain(`(SIMD, ${n} threads)`);
      expect(data.results.some((o) => o.model === r.model && o.device.endsWith('(SIMD, one thread)'))).toBe(true);
    }
  });

  it('refuses what would draw a wrong chart', () => {
    const bad =
      (results: unknown, extra: object = {}) =>
      () =>
        parseBenchData({ ...sample, results, ...extra });
    expect(bad([{ ...sample.results[0], seconds: -1 }])).toThrow(/seconds must be a positive number/);
    expect(bad([{ ...sample.results[0], device: '' }])).toThrow(/device must be a non-empty string/);
    expect(bad([{ ...sample.results[0], spread: [0.6, 0.7] }])).toThrow(/spread must be \[min, max\]/);
    expect(bad(sample.results, { date: 'today' })).toThrow(/"date" must be YYYY-MM-DD/);
  });
});

describe('the benchmarks page', () => {
  it('draws one bar per result, scaled to a nice axis, as a self-contained SVG', () => {
    const svg = renderBenchChart({ title: 'x', results: sample.results }, { m: 4.26 });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<rect /g)).toHaveLength(3);
    expect(svg).not.toMatch(/https?:\/\/(?!www\.w3\.org)/); // nothing fetched from elsewhere
    expect(svg).toContain('0.5 s');
    expect(svg).toContain(`${((2 * 4.26) / 0.5).toFixed(1)} GFLOP/s`);
    expect(niceMax(6.3)).toBe(10);
    expect(niceMax(1.3)).toBe(2);
    // the longest bar is the slowest result
    const widths = [...svg.matchAll(/<rect [^>]*width="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(Math.max(...widths)).toBe(widths[1]);
  });

  it('gives each runtime · backend · device its own chart, in file order', () => {
    expect(benchGroups(sample).map((g) => [g.title, g.results.length])).toEqual([
      ['Node 20 · wasm · cpu', 2],
      ['Chromium 142 · webgpu · SwiftShader', 1],
    ]);
    expect(renderBenchCharts(sample).match(/<svg /g)).toHaveLength(2);
    expect(renderBenchCharts(data).match(/<svg /g)).toHaveLength(benchGroups(data).length);
  });

  it('tabulates the same numbers with the date, the machine and the spread', () => {
    const md = renderBenchTable(sample, { m: 4 }).split('\n');
    expect(md[0]).toBe('Measured 2026-12-02 on 2 × CPU.');
    expect(md).toHaveLength(4 + sample.results.length);
    // GFLOP/s = 2 × MACs / seconds, one decimal
    // no result has a note: that column is left out
    expect(md[2]).toBe(
      '| model | runtime | backend | device | seconds / image (median) | fastest–slowest | GMACs | GFLOP/s |',
    );
    expect(md[4]).toBe('| M (<code>m</code>) | Node 20 | wasm | cpu | 0.5 | 0.4–0.7 | 4.00 | 16.0 |');
    expect(md[5]).toBe('| M (<code>m</code>) | Chromium 142 | webgpu | SwiftShader | 30 |  | 4.00 | 0.3 |');
    expect(md[6]).toBe('| N (<code>n</code>) | Node 20 | wasm | cpu | 0.25 |  | — | — |');
    const noSpread = renderBenchTable({ ...sample, results: [sample.results[2]!] }).split('\n');
    expect(noSpread[2]).toBe('| model | runtime | backend | device | seconds / image (median) |');
    expect(noSpread[4]).toBe('| N (<code>n</code>) | Node 20 | wasm | cpu | 0.25 |');
    // a registry name is one long word: it gets break points so the table wraps inside the page's column
    const long = renderBenchTable({ ...sample, results: [{ ...sample.results[2]!, model: 'dat_plus_tiny' }] });
    expect(long.split('\n')[4]).toBe('| N (<code>dat_<wbr>plus_<wbr>tiny</code>) | Node 20 | wasm | cpu | 0.25 |');
  });

  it('lists each profiled model’s top kernels (share of kernel time) and modules (share of the pass)', () => {
    const md = renderBenchProfiles(sample).split('\n');
    expect(md[0]).toBe('### M (`m`), wasm: 500 ms profiled pass');
    expect(md).toContain('| <code>BatchMatMul</code> | 300.0 | 75.0% | 40 |');
    expect(md).toContain('| <code>Attention</code> | 250.0 | 50.0% | 12 |');
    expect(renderBenchProfiles({ ...sample, profiles: [] })).toBe('');
  });
});
