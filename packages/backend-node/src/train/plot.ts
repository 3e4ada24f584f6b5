/**
 * `dynavit train --plot`: the loss and accuracy curves as a PNG, drawn as an SVG (two panels: training
 * loss per update and per epoch, validation loss; validation top-1/top-5, of the EMA weights too) and
 * rasterised by sharp.
 */
import type { EpochSummary } from '@dynavit/train';
import sharp from 'sharp';
import { writeFileAtomic } from '../files.js';

export interface Curves {
  /** per epoch, from the training state (all epochs, resumed ones included) */
  history: readonly EpochSummary[];
  /** per update of this process: x in epochs (fractional), the update's loss */
  steps: readonly (readonly [number, number])[];
  title: string;
}

const W = 960;
const H = 420;
const PAD = { left: 58, right: 16, top: 40, bottom: 44 };
const COLORS = {
  train: '#4c78a8',
  trainEpoch: '#1f3b73',
  val: '#e45756',
  top1: '#54a24b',
  top5: '#b279a2',
  ema: '#f58518',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

interface Series {
  label: string;
  color: string;
  points: readonly (readonly [number, number])[];
  thin?: boolean;
}

/** One panel: axes, ticks, a polyline (and dots) per series, a legend. */
function panel(x0: number, width: number, title: string, series: Series[], yRange?: [number, number]): string {
  const pts = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = pts.map(([x]) => x);
  const ys = pts.map(([, y]) => y);
  const xMin = 0;
  const xMax = Math.max(1, ...xs);
  let [yMin, yMax] = yRange ?? [Math.min(0, ...ys), Math.max(1e-6, ...ys)];
  if (yMax <= yMin) yMax = yMin + 1;
  const iw = width - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const px = (x: number) => x0 + PAD.left + ((x - xMin) / (xMax - xMin)) * iw;
  const py = (y: number) => PAD.top + ih - ((y - yMin) / (yMax - yMin)) * ih;
  const parts: string[] = [];
  parts.push(
    `<text x="${x0 + PAD.left}" y="${PAD.top - 14}" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${x0 + PAD.left}" y="${PAD.top}" width="${iw}" height="${ih}" fill="none" stroke="#888"/>`,
  );
  for (let k = 0; k <= 4; k++) {
    const y = yMin + ((yMax - yMin) * k) / 4;
    parts.push(
      `<line x1="${x0 + PAD.left}" x2="${x0 + PAD.left + iw}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`,
      `<text x="${x0 + PAD.left - 6}" y="${py(y) + 4}" font-size="11" text-anchor="end">${fmt(y)}</text>`,
    );
  }
  const xticks = Math.min(10, Math.ceil(xMax));
  for (let k = 0; k <= xticks; k++) {
    const x = xMin + ((xMax - xMin) * k) / xticks;
    parts.push(`<text x="${px(x)}" y="${PAD.top + ih + 16}" font-size="11" text-anchor="middle">${fmt(x)}</text>`);
  }
  parts.push(`<text x="${x0 + PAD.left + iw / 2}" y="${H - 8}" font-size="12" text-anchor="middle">epoch</text>`);
  let ly = PAD.top + 14;
  for (const s of series) {
    const ok = s.points.filter(([, y]) => Number.isFinite(y));
    if (!ok.length) continue;
    if (ok.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${s.color}" stroke-width="${s.thin ? 1 : 2.2}" ${s.thin ? 'stroke-opacity="0.55"' : ''} points="${ok.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}"/>`,
      );
    if (!s.thin) for (const [x, y] of ok) parts.push(`<circle cx="${px(x)}" cy="${py(y)}" r="3.2" fill="${s.color}"/>`);
    parts.push(
      `<rect x="${x0 + PAD.left + iw - 150}" y="${ly - 9}" width="12" height="4" fill="${s.color}"/>`,
      `<text x="${x0 + PAD.left + iw - 132}" y="${ly - 4}" font-size="11">${esc(s.label)}</text>`,
    );
    ly += 16;
  }
  return parts.join('\n');
}

/** The curves as an SVG document. */
export function curvesSvg(c: Curves): string {
  const h = c.history;
  const at = (e: EpochSummary) => e.epoch + 1;
  const loss: Series[] = [
    { label: 'train loss (update)', color: COLORS.train, points: c.steps, thin: true },
    { label: 'train loss (epoch)', color: COLORS.trainEpoch, points: h.map((e) => [at(e), e.trainLoss] as const) },
    {
      label: 'val loss',
      color: COLORS.val,
      points: h.filter((e) => e.eval).map((e) => [at(e), e.eval!.loss] as const),
    },
  ];
  const pct = (v: number) => 100 * v;
  const acc: Series[] = [
    {
      label: 'val top-1 %',
      color: COLORS.top1,
      points: h.filter((e) => e.eval).map((e) => [at(e), pct(e.eval!.top1)] as const),
    },
    {
      label: 'val top-5 %',
      color: COLORS.top5,
      points: h.filter((e) => e.eval).map((e) => [at(e), pct(e.eval!.top5)] as const),
    },
    {
      label: 'EMA top-1 %',
      color: COLORS.ema,
      points: h.filter((e) => e.evalEma).map((e) => [at(e), pct(e.evalEma!.top1)] as const),
    },
  ];
  const half = W / 2;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 24}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<g transform="translate(0,24)">`,
    panel(0, half, 'loss', loss),
    panel(half, half, 'validation accuracy', acc, [0, 100]),
    '</g>',
    `<text x="${W / 2}" y="18" font-size="14" text-anchor="middle">${esc(c.title)}</text>`,
    '</svg>',
  ].join('\n');
}

/** Render the curves to a PNG file (atomically). */
export async function writeCurvesPng(path: string, c: Curves): Promise<void> {
  const png = await sharp(Buffer.from(curvesSvg(c)))
    .png()
    .toBuffer();
  await writeFileAtomic(path, new Uint8Array(png.buffer, png.byteOffset, png.byteLength));
}
