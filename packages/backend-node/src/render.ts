/**
 * Pictures of pipeline results, drawn with sharp at the original image size: top-k labels for
 * classification, a colour overlay with a legend for segmentation, boxes/labels/masks for detection.
 * A result of untrained weights carries an "UNTRAINED WEIGHTS" mark. Each picture is written atomically
 * (a temporary file, then a rename).
 */
import {
  type ClassificationLabel,
  classColor,
  type DetectionOutput,
  type LabelSet,
  type SegmentationOutput,
} from '@dynavit/pipelines';
import sharp from 'sharp';
import { writeFileAtomic } from './files.js';
import type { RGBImage } from './images.js';

export interface RenderOptions {
  /** mark the picture: its weights were not trained, so the result means nothing */
  untrained?: boolean;
}

/** A red "UNTRAINED WEIGHTS" band along the bottom edge. */
function untrainedMark(width: number, height: number): Buffer {
  const fs = Math.max(10, Math.min(18, Math.round(width / 28)));
  const h = fs + 10;
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect x="0" y="${height - h}" width="${width}" height="${h}" fill="rgb(180,0,0)" fill-opacity="0.85"/>` +
      `<text x="${width / 2}" y="${height - 6}" text-anchor="middle" font-family="sans-serif" font-weight="bold" font-size="${fs}" fill="white">UNTRAINED WEIGHTS — result is meaningless</text></svg>`,
  );
}

const marks = (img: { width: number; height: number }, opts: RenderOptions) =>
  opts.untrained ? [{ input: untrainedMark(img.width, img.height) }] : [];

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const rgb = ([r, g, b]: [number, number, number]) => `rgb(${r},${g},${b})`;

function panel(lines: { text: string; color?: [number, number, number] }[], width: number, height: number): Buffer {
  const fs = Math.max(10, Math.min(16, Math.round(width / 32)));
  const lh = Math.round(fs * 1.4);
  const pw = Math.min(width - 4, Math.max(...lines.map((l) => l.text.length)) * fs * 0.6 + 2 * fs + 12);
  const ph = Math.min(height - 4, lines.length * lh + 8);
  const rows = lines
    .map(
      (l, i) =>
        `${l.color ? `<rect x="6" y="${6 + i * lh + lh * 0.2}" width="${fs}" height="${fs}" fill="${rgb(l.color)}"/>` : ''}` +
        `<text x="${l.color ? 12 + fs : 8}" y="${4 + (i + 1) * lh - lh * 0.25}" font-family="sans-serif" font-size="${fs}" fill="white">${esc(l.text)}</text>`,
    )
    .join('');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect x="2" y="2" width="${pw}" height="${ph}" fill="black" fill-opacity="0.6"/>${rows}</svg>`,
  );
}

const base = (img: RGBImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

export async function renderClassification(
  img: RGBImage,
  top: readonly ClassificationLabel[],
  out: string,
  opts: RenderOptions = {},
): Promise<void> {
  const lines = top.map((t) => ({ text: `${(t.score * 100).toFixed(1)}%  ${t.label}` }));
  await base(img)
    .composite([{ input: panel(lines, img.width, img.height) }, ...marks(img, opts)])
    .png()
    .toBuffer()
    .then((png) => writeFileAtomic(out, png));
}

export async function renderSegmentation(
  img: RGBImage,
  seg: SegmentationOutput,
  set: LabelSet | null,
  out: string,
  opts: RenderOptions = {},
): Promise<void> {
  const alpha = 0.5;
  const { classMap } = seg;
  const blended = new Uint8Array(img.data.length);
  const counts = new Map<number, number>();
  for (let p = 0; p < classMap.length; p++) {
    const c = classMap[p]!;
    counts.set(c, (counts.get(c) ?? 0) + 1);
    const col = classColor(set, c);
    for (let k = 0; k < 3; k++) blended[p * 3 + k] = Math.round((1 - alpha) * img.data[p * 3 + k]! + alpha * col[k]!);
  }
  const legend = [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([c, n]) => ({
      text: `${seg.labels[c] ?? `class ${c}`} ${((100 * n) / classMap.length).toFixed(0)}%`,
      color: classColor(set, c),
    }));
  await sharp(blended, { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: panel(legend, img.width, img.height) }, ...marks(img, opts)])
    .png()
    .toBuffer()
    .then((png) => writeFileAtomic(out, png));
}

export async function renderDetections(
  img: RGBImage,
  det: DetectionOutput,
  set: LabelSet | null,
  out: string,
  opts: RenderOptions = {},
): Promise<void> {
  const data = new Uint8Array(img.data);
  det.masks?.forEach((mask, i) => {
    const col = classColor(set, det.classes[i]!);
    for (let p = 0; p < mask.length; p++)
      if (mask[p]) for (let k = 0; k < 3; k++) data[p * 3 + k] = Math.round(0.55 * data[p * 3 + k]! + 0.45 * col[k]!);
  });
  const fs = Math.max(10, Math.min(14, Math.round(img.width / 40)));
  const shapes = det.boxes
    .map((box, i) => {
      const [x1, y1, x2, y2] = box;
      const c = rgb(classColor(set, det.classes[i]!));
      const text = `${det.labels[i]} ${(det.scores[i]! * 100).toFixed(0)}%`;
      return (
        `<rect x="${x1}" y="${y1}" width="${Math.max(0, x2 - x1)}" height="${Math.max(0, y2 - y1)}" fill="none" stroke="${c}" stroke-width="2"/>` +
        `<rect x="${x1}" y="${Math.max(0, y1 - fs - 4)}" width="${text.length * fs * 0.6 + 6}" height="${fs + 4}" fill="${c}"/>` +
        `<text x="${x1 + 3}" y="${Math.max(fs, y1 - 4)}" font-family="sans-serif" font-size="${fs}" fill="black">${esc(text)}</text>`
      );
    })
    .join('');
  const svg = Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${img.width}" height="${img.height}">${shapes}</svg>`,
  );
  await sharp(data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .composite([{ input: svg }, ...marks(img, opts)])
    .png()
    .toBuffer()
    .then((png) => writeFileAtomic(out, png));
}
