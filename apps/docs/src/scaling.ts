/**
 * The benchmarks page's scaling section: latency and peak memory against the input side (224² to 1024²)
 * of each family's dense backbone alone and under the shared heads, drawn from `scaling` in
 * data/bench.json (`scripts/bench.mjs`, part `scaling`). Each series also gets its growth exponent: the
 * least-squares slope of log(cost) against log(pixels), 1 for a cost linear in pixels, 2 for quadratic.
 */
import { esc, FAMILY_COLOURS, niceMax } from './svg.js';
import { codeName, escHtml } from './table-cells.js';

export interface ScalingEntry {
  /** registry name of the dense backbone */
  model: string;
  label: string;
  /** the registered head composed with it (`dynavit bench --head`), or null for the backbone alone */
  head: string | null;
  headLabel: string;
  /** input side, px (square) */
  size: number;
  /** timed runs after the warm-up */
  runs: number;
  /** median latency, seconds (absent when the size failed: see `error`) */
  seconds?: number;
  spread?: [number, number];
  /** counted MACs of one pass, G */
  gmacs?: number;
  /** peak tensor memory of one pass, weights included, MiB */
  peakMiB?: number;
  /** a detection head: detections per image */
  detections?: number;
  /** why the size could not be measured (out of memory) */
  error?: string;
}

export interface ScalingSeries {
  model: string;
  label: string;
  head: string | null;
  headLabel: string;
  entries: ScalingEntry[];
}

/** Check the `scaling` list of bench.json; throws naming the first problem. */
export function parseScaling(json: unknown): ScalingEntry[] {
  if (json === undefined) return [];
  const fail = (why: string): never => {
    throw new Error(`data/bench.json: ${why}`);
  };
  if (!Array.isArray(json)) return fail('"scaling" must be a list');
  json.forEach((e: Partial<ScalingEntry>, i) => {
    for (const k of ['model', 'label', 'headLabel'] as const)
      if (typeof e[k] !== 'string' || e[k] === '') fail(`scaling[${i}].${k} must be a non-empty string`);
    if (e.head !== null && typeof e.head !== 'string') fail(`scaling[${i}].head must be a head's name or null`);
    if (!Number.isInteger(e.size) || !(e.size! > 0)) fail(`scaling[${i}].size must be a positive integer`);
    if (e.error === undefined) {
      for (const k of ['seconds', 'gmacs', 'peakMiB'] as const)
        if (typeof e[k] !== 'number' || !(e[k]! > 0)) fail(`scaling[${i}].${k} must be a positive number`);
      if (e.spread !== undefined && !(e.spread[0] <= e.seconds! && e.seconds! <= e.spread[1]))
        fail(`scaling[${i}].spread must be [min, max] around the median`);
    } else if (typeof e.error !== 'string' || e.seconds !== undefined)
      fail(`scaling[${i}] has an error, so no seconds`);
  });
  return json as ScalingEntry[];
}

/** The entries grouped by backbone and head, in file order of first appearance, each sorted by size. */
export function scalingSeries(entries: readonly ScalingEntry[]): ScalingSeries[] {
  const series = new Map<string, ScalingSeries>();
  for (const e of entries) {
    const key = `${e.model}|${e.head ?? ''}`;
    const s = series.get(key) ?? { model: e.model, label: e.label, head: e.head, headLabel: e.headLabel, entries: [] };
    s.entries.push(e);
    series.set(key, s);
  }
  const all = [...series.values()];
  for (const s of all) s.entries.sort((a, b) => a.size - b.size);
  // backbones alone first, then each head; families in the order they first appear
  const heads = [...new Set(all.map((s) => s.head))];
  return all.sort((a, b) => heads.indexOf(a.head) - heads.indexOf(b.head));
}

/**
 * Least-squares slope of log(value) against log(pixels) over the measured sizes: cost ∝ pixels^slope.
 * Undefined with fewer than two measured sizes.
 */
export function growthExponent(entries: readonly ScalingEntry[], value: (e: ScalingEntry) => number | undefined) {
  const pts = entries.flatMap((e) => {
    const v = value(e);
    return v !== undefined && v > 0 ? [[Math.log(e.size * e.size), Math.log(v)] as const] : [];
  });
  if (pts.length < 2) return undefined;
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of pts) {
    sxy += (x - mx) * (y - my);
    sxx += (x - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : undefined;
}

const DASHES = ['', '7 4', '2 3', '10 3 2 3'];

/**
 * One line chart: `value` of each series against megapixels (both axes linear, from 0), a marker per
 * measured size; self-contained SVG sized by its viewBox. Colour is the family, the dash the head.
 */
export function renderScalingChart(
  series: readonly ScalingSeries[],
  opts: { title: string; unit: string; value: (e: ScalingEntry) => number | undefined },
): string {
  const [left, right, top, plotW, plotH] = [64, 240, 40, 440, 260];
  const width = left + plotW + right;
  const height = top + plotH + 52;
  const measured = series.flatMap((s) => s.entries.filter((e) => opts.value(e) !== undefined));
  const mp = (e: ScalingEntry) => (e.size * e.size) / 1e6;
  const maxX = niceMax(Math.max(...measured.map(mp)));
  const maxY = niceMax(Math.max(...measured.map((e) => opts.value(e)!)));
  const x = (v: number) => left + (v / maxX) * plotW;
  const y = (v: number) => top + plotH - (v / maxY) * plotH;
  const heads = [...new Set(series.map((s) => s.head))];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(opts.title)}" class="bench-chart" font-family="system-ui, sans-serif" font-size="13">`,
    `<title>${esc(opts.title)}</title>`,
    `<text x="${left}" y="22" font-size="15" font-weight="600" fill="currentColor">${esc(opts.title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const tx = x((maxX * i) / 5).toFixed(1);
    const ty = y((maxY * i) / 5).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + plotH}" stroke="currentColor" stroke-opacity="0.12"/>`,
      `<text x="${tx}" y="${top + plotH + 16}" text-anchor="middle" fill="currentColor" fill-opacity="0.7">${+((maxX * i) / 5).toFixed(2)}</text>`,
      `<line x1="${left}" y1="${ty}" x2="${left + plotW}" y2="${ty}" stroke="currentColor" stroke-opacity="0.12"/>`,
      `<text x="${left - 6}" y="${(Number(ty) + 4).toFixed(1)}" text-anchor="end" fill="currentColor" fill-opacity="0.7">${+((maxY * i) / 5).toFixed(2)}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" fill="currentColor" fill-opacity="0.8">megapixels (224² = 0.05, 1024² = 1.05)</text>`,
    `<text x="16" y="${top + plotH / 2}" text-anchor="middle" fill="currentColor" fill-opacity="0.8" transform="rotate(-90 16 ${top + plotH / 2})">${esc(opts.unit)}</text>`,
  );
  series.forEach((s, i) => {
    const colour = FAMILY_COLOURS.find(([re]) => re.test(s.model))?.[1] ?? '#888';
    const dash = DASHES[heads.indexOf(s.head) % DASHES.length]!;
    const pts = s.entries.filter((e) => opts.value(e) !== undefined);
    const name = `${s.label}${s.head ? ` + ${s.headLabel}` : ''}`;
    if (pts.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.map((e) => `${x(mp(e)).toFixed(1)},${y(opts.value(e)!).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const e of pts)
      parts.push(
        `<circle cx="${x(mp(e)).toFixed(1)}" cy="${y(opts.value(e)!).toFixed(1)}" r="3" fill="${colour}"><title>${esc(`${name}, ${e.size}²: ${opts.value(e)} ${opts.unit}`)}</title></circle>`,
      );
    const ly = top + 8 + i * 20;
    parts.push(
      `<line x1="${left + plotW + 14}" y1="${ly}" x2="${left + plotW + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
      `<text x="${left + plotW + 46}" y="${ly + 4}" fill="currentColor">${esc(name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * The charts: latency of the backbones alone, latency under the heads (each on its own scale: a head
 * costs several times its backbone), and peak memory of all, against pixels.
 */
export function renderScalingCharts(entries: readonly ScalingEntry[]): string {
  const series = scalingSeries(entries);
  if (series.length === 0) return '';
  const alone = series.filter((s) => s.head === null);
  const composed = series.filter((s) => s.head !== null);
  const seconds = (e: ScalingEntry) => e.seconds;
  return [
    ...(alone.length
      ? [renderScalingChart(alone, { title: 'Backbone latency against input size', unit: 's', value: seconds })]
      : []),
    ...(composed.length
      ? [
          renderScalingChart(composed, {
            title: 'Backbone + head latency against input size',
            unit: 's',
            value: seconds,
          }),
        ]
      : []),
    renderScalingChart(series, {
      title: 'Peak tensor memory against input size',
      unit: 'MiB',
      value: (e) => (e.seconds !== undefined ? e.peakMiB : undefined),
    }),
  ]
    .map((svg) => `<div class="bench-chart-wrap">\n${svg}\n</div>`)
    .join('\n\n');
}

const exp = (v: number | undefined): string => (v === undefined ? '—' : v.toFixed(2));

/**
 * A table: per series, seconds and peak MiB at each size (or why the size failed), and the growth
 * exponents of the time and of the counted MACs.
 */
export function renderScalingTable(entries: readonly ScalingEntry[]): string {
  const series = scalingSeries(entries);
  if (series.length === 0) return '';
  const sizes = [...new Set(entries.map((e) => e.size))].sort((a, b) => a - b);
  const header = ['model', ...sizes.map((s) => `${s}²`), 'time ∝ pixels^k', 'MACs ∝ pixels^k'];
  const rows = series.map((s) => {
    const cells = sizes.map((size) => {
      const e = s.entries.find((v) => v.size === size);
      if (!e) return '';
      if (e.error !== undefined) return escHtml(e.error.replace(/^dynavit: /, ''));
      return `${e.seconds} s · ${e.peakMiB} MiB`;
    });
    return [
      `${escHtml(s.label)}${s.head ? ` + ${escHtml(s.headLabel)}` : ''} (${codeName(s.model)}${s.head ? ` + ${codeName(s.head)}` : ''})`,
      ...cells,
      exp(growthExponent(s.entries, (e) => e.seconds)),
      exp(growthExponent(s.entries, (e) => (e.seconds !== undefined ? e.gmacs : undefined))),
    ];
  });
  return [
    `| ${header.join(' | ')} |`,
    `|---|${sizes.map(() => '---:').join('|')}|---:|---:|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
