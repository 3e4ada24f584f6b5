/**
 * `dynavit ablate --plot`: the ablation as a PNG, three panels of horizontal bars, one row per mechanism
 * (test top-1 %, training images/s, inference ms), drawn as an SVG and rasterised by sharp.
 */
import sharp from 'sharp';
import type { AblationReport, AblationRow } from '../commands/ablate.js';
import { writeFileAtomic } from '../files.js';

const W = 1080;
const ROW = 26;
const TOP = 58;
const LABEL = 150;
const GAP = 24;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Column {
  title: string;
  color: string;
  value: (r: AblationRow) => number | null;
  fmt: (v: number) => string;
}

const COLUMNS: Column[] = [
  {
    title: 'test top-1 (%)',
    color: '#54a24b',
    value: (r) => (r.top1 === null ? null : 100 * r.top1),
    fmt: (v) => v.toFixed(1),
  },
  { title: 'training images/s', color: '#4c78a8', value: (r) => r.trainImagesPerSecond, fmt: (v) => v.toFixed(1) },
  { title: 'inference ms (batch 1)', color: '#e45756', value: (r) => r.inferenceMs, fmt: (v) => v.toFixed(1) },
];

/** The ablation as an SVG document. */
export function ablationSvg(r: AblationReport): string {
  const h = TOP + r.rows.length * ROW + 24;
  const colW = (W - LABEL - GAP * COLUMNS.length) / COLUMNS.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" font-family="DejaVu Sans, Arial, sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${W / 2}" y="20" font-size="14" text-anchor="middle">${esc(
      `${r.skeleton}, every stage swapped: ${r.limit} images, ${r.epochs} epoch(s), batch ${r.batchSize}, ${r.size}² on ${r.backend}`,
    )}</text>`,
  ];
  r.rows.forEach((row, i) => {
    parts.push(
      `<text x="${LABEL - 8}" y="${TOP + i * ROW + 17}" font-size="12" text-anchor="end">${esc(row.mechanism)}</text>`,
    );
  });
  COLUMNS.forEach((c, k) => {
    const x0 = LABEL + k * (colW + GAP);
    const vals = r.rows.map(c.value);
    const max = Math.max(1e-9, ...vals.filter((v): v is number => v !== null && Number.isFinite(v)));
    parts.push(`<text x="${x0}" y="${TOP - 12}" font-size="13" font-weight="bold">${esc(c.title)}</text>`);
    vals.forEach((v, i) => {
      const y = TOP + i * ROW + 4;
      if (v === null || !Number.isFinite(v)) {
        parts.push(`<text x="${x0 + 4}" y="${y + 13}" font-size="11">—</text>`);
        return;
      }
      const w = Math.max(1, (v / max) * (colW - 48));
      parts.push(
        `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 8}" fill="${c.color}"/>`,
        `<text x="${(x0 + w + 4).toFixed(1)}" y="${y + 13}" font-size="11">${c.fmt(v)}</text>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Render the ablation to a PNG file (atomically). */
export async function writeAblationPng(path: string, r: AblationReport): Promise<void> {
  const png = await sharp(Buffer.from(ablationSvg(r)))
    .png()
    .toBuffer();
  await writeFileAtomic(path, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
}
