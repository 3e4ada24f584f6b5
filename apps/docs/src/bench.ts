/**
 * The benchmarks page: a static SVG bar chart and a table, both drawn from one JSON file of measured
 * numbers (data/bench.json, written by `scripts/bench.mjs` from `dynavit bench` runs).
 */

import { parseScaling, type ScalingEntry } from './scaling.js';
import { esc, FAMILY_COLOURS, niceMax } from './svg.js';
import { codeName, escHtml } from './table-cells.js';

export { niceMax };

export interface BenchResult {
  /** registry name */
  model: string;
  /** label on the chart */
  label: string;
  /** where it ran: `Node 20.20.2`, `Chromium 142` */
  runtime: string;
  /** the tfjs backend: wasm, webgpu, cpu, tensorflow */
  backend: string;
  /** what the backend ran on: the CPU, or the GPU adapter (`SwiftShader (software Vulkan)`, a real GPU) */
  device: string;
  /** median latency in seconds */
  seconds: number;
  /** fastest and slowest of the timed runs, seconds */
  spread?: [number, number];
  /** timed runs after the warm-up */
  runs?: number;
  note?: string;
}

export interface BenchProfileEntry {
  name: string;
  ms: number;
  calls: number;
}

/** `dynavit bench --profile` of one model: time by kernel and by module (self time), top entries. */
export interface BenchProfile {
  model: string;
  label: string;
  backend: string;
  /** wall time of the profiled pass, ms */
  totalMs: number;
  kernels: readonly BenchProfileEntry[];
  modules: readonly BenchProfileEntry[];
}

export interface BenchData {
  title: string;
  unit: 's';
  /** when it was measured, YYYY-MM-DD */
  date: string;
  /** the machine, in words (CPU, cores, memory; the GPU when one was used) */
  machine: string;
  command: string;
  note?: string;
  results: readonly BenchResult[];
  profiles?: readonly BenchProfile[];
  /** latency and peak memory against the input side (see scaling.ts) */
  scaling?: readonly ScalingEntry[];
  /** how the scaling entries were measured */
  scalingNote?: string;
}

/** Check the shape of a parsed bench.json; throws naming the first problem. */
export function parseBenchData(json: unknown): BenchData {
  const d = json as Partial<BenchData>;
  const fail = (why: string): never => {
    throw new Error(`data/bench.json: ${why}`);
  };
  if (typeof d !== 'object' || d === null) fail('not an object');
  for (const k of ['title', 'machine', 'command', 'date'] as const)
    if (typeof d[k] !== 'string') fail(`"${k}" must be a string`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d.date!)) fail('"date" must be YYYY-MM-DD');
  if (d.unit !== 's') fail('"unit" must be "s"');
  if (!Array.isArray(d.results) || d.results.length === 0) fail('"results" must be a non-empty list');
  d.results!.forEach((r, i) => {
    for (const k of ['model', 'label', 'runtime', 'backend', 'device'] as const)
      if (typeof r[k] !== 'string' || r[k] === '') fail(`results[${i}].${k} must be a non-empty string`);
    if (typeof r.seconds !== 'number' || !(r.seconds > 0)) fail(`results[${i}].seconds must be a positive number`);
    if (r.spread !== undefined && !(r.spread.length === 2 && r.spread[0] <= r.seconds && r.seconds <= r.spread[1]))
      fail(`results[${i}].spread must be [min, max] around the median`);
  });
  (d.profiles ?? []).forEach((p, i) => {
    if (typeof p.model !== 'string' || !(p.totalMs > 0) || !Array.isArray(p.kernels) || !Array.isArray(p.modules))
      fail(`profiles[${i}] needs model, totalMs > 0, kernels and modules`);
  });
  parseScaling(d.scaling);
  return d as BenchData;
}

/** The results grouped by where they ran (`Node 20 · wasm · 2 × AMD EPYC`), in file order. */
export function benchGroups(data: BenchData): { title: string; results: BenchResult[] }[] {
  const groups = new Map<string, BenchResult[]>();
  for (const r of data.results) {
    const key = `${r.runtime} · ${r.backend} · ${r.device}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups].map(([title, results]) => ({ title, results }));
}

/**
 * Horizontal bars, one per result, latency on the x axis; with `gmacs` (counted MACs per model) each
 * bar is also labelled with the achieved GFLOP/s (2 FLOPs per MAC). Self-contained SVG (no fonts or
 * scripts from elsewhere), sized by its viewBox.
 */
export function renderBenchChart(
  data: { title: string; results: readonly BenchResult[] },
  gmacs: Readonly<Record<string, number>> = {},
): string {
  const bar = 26;
  const gap = 14;
  const left = 150;
  const right = 150;
  const top = 40;
  const plotW = 420;
  const n = data.results.length;
  const height = top + n * (bar + gap) + 44;
  const width = left + plotW + right;
  const max = niceMax(Math.max(...data.results.map((r) => r.seconds)));
  const x = (s: number) => left + (s / max) * plotW;
  const ticks = Array.from({ length: 6 }, (_, i) => (max * i) / 5);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(data.title)}" class="bench-chart" font-family="system-ui, sans-serif" font-size="13">`,
    `<title>${esc(data.title)}</title>`,
    `<text x="${left}" y="22" font-size="15" font-weight="600" fill="currentColor">${esc(data.title)}</text>`,
  ];
  for (const t of ticks) {
    const tx = x(t).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + n * (bar + gap)}" stroke="currentColor" stroke-opacity="0.15"/>`,
    );
    parts.push(
      `<text x="${tx}" y="${top + n * (bar + gap) + 16}" text-anchor="middle" fill="currentColor" fill-opacity="0.7">${+t.toFixed(2)}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle" fill="currentColor" fill-opacity="0.8">seconds per image (lower is better)</text>`,
  );
  data.results.forEach((r, i) => {
    const y = top + i * (bar + gap);
    const colour = FAMILY_COLOURS.find(([re]) => re.test(r.model))?.[1] ?? '#888';
    const macs = gmacs[r.model];
    const rate = macs !== undefined ? ` · ${((2 * macs) / r.seconds).toFixed(1)} GFLOP/s` : '';
    parts.push(
      `<text x="${left - 10}" y="${y + bar / 2 + 4}" text-anchor="end" fill="currentColor">${esc(r.label)}</text>`,
    );
    parts.push(
      `<rect x="${left}" y="${y}" width="${Math.max(1, x(r.seconds) - left).toFixed(1)}" height="${bar}" rx="3" fill="${colour}"><title>${esc(`${r.label} (${r.model}), ${r.backend}: ${r.seconds} s${r.note ? ` — ${r.note}` : ''}`)}</title></rect>`,
    );
    parts.push(
      `<text x="${(x(r.seconds) + 6).toFixed(1)}" y="${y + bar / 2 + 4}" fill="currentColor">${r.seconds} s · ${esc(r.backend)}${rate}${r.note ? ' *' : ''}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** One chart per group (each on its own scale: software WebGPU and wasm differ a hundredfold). */
export function renderBenchCharts(data: BenchData, gmacs: Readonly<Record<string, number>> = {}): string {
  return benchGroups(data)
    .map((g) => `<div class="bench-chart-wrap">\n${renderBenchChart(g, gmacs)}\n</div>`)
    .join('\n\n');
}

const secs = (v: number): string => String(+v.toFixed(3));

/** The same numbers as a Markdown table (with the notes the chart only marks with `*`). */
export function renderBenchTable(data: BenchData, gmacs: Readonly<Record<string, number>> = {}): string {
  const rows = data.results.map((r) => {
    const macs = gmacs[r.model];
    const spread = r.spread ? `${secs(r.spread[0])}–${secs(r.spread[1])}` : '';
    return [
      `${escHtml(r.label)} (${codeName(r.model)})`,
      r.runtime,
      r.backend,
      r.device,
      String(r.seconds),
      spread,
      macs !== undefined ? macs.toFixed(2) : '—',
      macs !== undefined ? ((2 * macs) / r.seconds).toFixed(1) : '—',
      r.note ?? '',
    ];
  });
  const header = [
    'model',
    'runtime',
    'backend',
    'device',
    'seconds / image (median)',
    'fastest–slowest',
    'GMACs',
    'GFLOP/s',
    'note',
  ];
  const align = ['---', '---', '---', '---', '---:', '---:', '---:', '---:', '---'];
  // a column no result has a value for (no spreads, no notes) is left out, so the table fits the page
  const keep = header.map((_, j) => j < 5 || rows.some((r) => r[j] !== '' && r[j] !== '—'));
  const pick = (cells: readonly string[]) => cells.filter((_, j) => keep[j]);
  return [
    `Measured ${data.date} on ${data.machine}.`,
    '',
    `| ${pick(header).join(' | ')} |`,
    `|${pick(align).join('|')}|`,
    ...rows.map((r) => `| ${pick(r).join(' | ')} |`),
  ].join('\n');
}

/** Each profiled model's top kernels and modules, as two tables under a heading per model. */
export function renderBenchProfiles(data: BenchData, top = 8): string {
  const share = (ms: number, total: number) => `${((100 * ms) / total).toFixed(1)}%`;
  return (data.profiles ?? [])
    .map((p) => {
      const kernelTotal = p.kernels.reduce((a, e) => a + e.ms, 0);
      const table = (head: string, entries: readonly BenchProfileEntry[], total: number) => [
        `| ${head} | ms | share | calls |`,
        '|---|---:|---:|---:|',
        ...entries
          .slice(0, top)
          .map((e) => `| ${codeName(e.name)} | ${e.ms.toFixed(1)} | ${share(e.ms, total)} | ${e.calls} |`),
      ];
      return [
        `### ${p.label} (\`${p.model}\`), ${p.backend}: ${p.totalMs.toFixed(0)} ms profiled pass`,
        '',
        ...table('kernel', p.kernels, kernelTotal),
        '',
        ...table('module (self time)', p.modules, p.totalMs),
      ].join('\n');
    })
    .join('\n\n');
}
