/**
 * Model-zoo page generation for the docs site: one Markdown table row per registered model, built from
 * the registry's listing so the docs never drift from the code.
 */
import type { ModelListing, PretrainedCheckpoint } from '@dynavit/core';
import { breakable, codeName, escHtml } from './table-cells.js';

/** What the papers / official READMEs report for a model (data/papers.json). */
export interface PaperNumbers {
  /** the paper's name for the model */
  name?: string;
  /** GFLOPs as the paper counts them (multiply-accumulates) */
  flops?: number;
  /** ImageNet-1k top-1 (%) */
  top1?: number;
  note?: string;
}

/**
 * Parity against the official code (data/parity.json): what `dynavit golden ../shared/golden --backend
 * wasm,cpu --report data/parity.json` measured, one entry per golden case.
 */
export interface ParityData {
  /** ISO date of the run */
  date: string;
  machine: string;
  backends: readonly string[];
  cases: readonly {
    name: string;
    family: string | null;
    /** per backend: pass / fail / error, and max over outputs of max|out−ref| / max(1, max|ref|) */
    results: Readonly<Record<string, { status: string; worst: number | null }>>;
  }[];
}

/** The extra columns of the full zoo table. */
export interface ZooExtras {
  /** counted MACs in G per model (data/macs.json) */
  gmacs?: Readonly<Record<string, number>>;
  /** input side the MACs were counted at, when not 224 */
  macsSize?: Readonly<Record<string, number>>;
  papers?: Readonly<Record<string, PaperNumbers>>;
  parity?: ParityData;
}

const fmt = (v: number | undefined, digits: number): string => (v === undefined ? '—' : v.toFixed(digits));

/** The MACs cell: the `countMacs` figure (complete: every family reports its attention products), with the input side when not 224. */
export function macsCell(name: string, extras: ZooExtras): string {
  const counted = extras.gmacs?.[name];
  const size = extras.macsSize?.[name];
  if (counted === undefined) return '—';
  return `${counted.toFixed(2)} G${size && size !== 224 ? ` @${size}` : ''}`;
}

const KIND_ORDER: Readonly<Record<string, number>> = { classifier: 0, backbone: 1, head: 2 };

/** The parity of a family with the official code, as one sentence from the measured data. */
export function renderParity(family: string, extras: ZooExtras): string {
  const p = extras.parity;
  const cases = p?.cases.filter((c) => c.family === family) ?? [];
  if (!p || cases.length === 0) return '';
  const on = p.backends.join(' and ');
  const names = cases.map((c) => `\`${c.name.split('/').at(-1)}\``).join(', ');
  const runs = cases.flatMap((c) => p.backends.map((b) => c.results[b]));
  const bad = runs.filter((r) => r?.status !== 'pass').length;
  const worst = Math.max(...runs.map((r) => r?.worst ?? 0));
  const when = `measured ${p.date} by \`dynavit golden --report\``;
  if (bad === 0)
    return (
      `**Parity with the official code**: ✓ all ${cases.length} golden cases pass on ${on} ` +
      `(worst max|out − ref| / max(1, |ref|) = ${worst.toExponential(1)}; ${when}) — ${names}.`
    );
  return `**Parity with the official code**: ✗ ${bad} of ${runs.length} runs fail on ${on} (${when}) — ${names}.`;
}

/**
 * The zoo table. Without \`extras\`: model, family, kind, parameters (sorted by family,
 * size, name). With \`extras\`: the paper's name, the counted MACs, the paper's FLOPs, top-1 and notes,
 * and the parity status (classifiers first, then backbones, then heads, each by size); a column of
 * these without a value in any row (e.g. MACs, FLOPs and top-1 for heads alone) is left out.
 */
export function renderModelZoo(models: readonly ModelListing[], extras?: ZooExtras): string {
  if (!extras) {
    const sorted = [...models].sort(
      (a, b) => a.family.localeCompare(b.family) || a.params - b.params || a.name.localeCompare(b.name),
    );
    const rows = sorted.map((m) => `| \`${m.name}\` | ${m.family} | ${m.kind} | ${(m.params / 1e6).toFixed(2)} M |`);
    return ['| model | family | kind | parameters |', '|---|---|---|---:|', ...rows].join('\n');
  }
  const sorted = [...models].sort(
    (a, b) =>
      a.family.localeCompare(b.family) ||
      (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) ||
      a.params - b.params ||
      a.name.localeCompare(b.name),
  );
  const rows = sorted.map((m) => {
    const paper = extras.papers?.[m.name];
    const name = paper?.name ? `${paper.name}<br>` : '';
    const flops = paper?.flops !== undefined ? `${paper.flops.toFixed(1)} G` : '—';
    return [
      `${name}\`${m.name}\``,
      m.kind,
      `${(m.params / 1e6).toFixed(2)} M`,
      m.kind === 'head' ? '—' : macsCell(m.name, extras),
      flops,
      fmt(paper?.top1, 1),
      paper?.note ?? '',
    ];
  });
  const header = ['model', 'kind', 'parameters', 'MACs @224', 'FLOPs (paper)', 'top-1 % (paper)', 'notes'];
  const align = ['---', '---', '---:', '---:', '---:', '---:', '---'];
  // a data column no row has a number for (the heads: no MACs alone, no ImageNet top-1) is left out
  const keep = header.map((_, j) => j < 3 || rows.some((r) => r[j] !== '—' && r[j] !== ''));
  const pick = (cells: readonly string[]) => cells.filter((_, j) => keep[j]);
  const line = (cells: readonly string[]) => `| ${pick(cells).join(' | ')} |`;
  return [line(header), `|${pick(align).join('|')}|`, ...rows.map(line)].join('\n');
}

/** One section per family: heading, parity status, table. */
export function renderModelZooByFamily(
  models: readonly ModelListing[],
  extras: ZooExtras,
  families: ReadonlyArray<{ family: string; title: string }>,
): string {
  return families
    .map(({ family, title }) => {
      const ms = models.filter((m) => m.family === family);
      if (!ms.length) return '';
      const parity = renderParity(family, extras);
      return `## ${title}\n\n${parity ? `${parity}\n\n` : ''}${renderModelZoo(ms, extras)}\n`;
    })
    .filter(Boolean)
    .join('\n');
}

/** Free text for a table cell: links made clickable, and long words (file names, URLs) given break points. */
const cellText = (s: string): string =>
  s
    .split(/(https?:\/\/[^\s)]+)/)
    .map((part, i) =>
      i % 2 === 1
        ? `<a href="${escHtml(part)}">${breakable(escHtml(part))}</a>`
        : escHtml(part).replace(/\S{16,}/g, (w) => breakable(w)),
    )
    .join('');

/**
 * The released checkpoints of one family as a Markdown table (from the family's `pretrained` table).
 * Names, file names and links carry break points so that the table wraps inside the page's column.
 */
export function renderReleases(releases: readonly PretrainedCheckpoint[]): string {
  const rows = releases.map((e) => {
    const model = e.head
      ? `${codeName(e.model)} + ${e.head.startsWith('unsupported:') ? `${escHtml(e.head.slice(12))} (not implemented)` : codeName(e.head)}`
      : codeName(e.model);
    const metric =
      (e.metrics.map((m) => `${m.name} ${m.value}`).join(', ') || '—') + (e.bundled ? ' (trained by dynavit)' : '');
    // a bundled file's link is a path on the machine that rendered the page: name the file instead
    const link = e.bundled
      ? `bundled with the package (${codeName(e.file)})`
      : e.urls.length
        ? e.urls.map((u, i) => `[${i === 0 ? 'download' : `mirror ${i}`}](${u})`).join(' · ')
        : `by hand: ${cellText(e.manual ?? '')}`;
    return `| ${codeName(e.id)} | ${model} | ${e.task} | ${e.dataset} | ${escHtml(e.resolution)} | ${metric} | ${link} | ${e.key ? codeName(e.key) : '—'} |`;
  });
  return [
    '| release | model | task | dataset | resolution | metric (paper) | weights | key |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
