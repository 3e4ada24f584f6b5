/**
 * Drawing the recorded mechanisms over the picture the network saw. Coordinates: a trace's map is
 * H×W; the network input is inputH×inputW; map pixel (i, j) covers input pixels around
 * ((i + ½)·inputH/H, (j + ½)·inputW/W). The canvas shows the input scaled by (sx, sy).
 */
import type { BraTrace, DatTrace, DbraTrace, GlmixTrace, MechanismTrace } from './capture.js';

/** How the network input maps onto the canvas. */
export interface View {
  /** network input size */
  inputHeight: number;
  inputWidth: number;
  /** canvas size */
  width: number;
  height: number;
}

/** The network input, and the top-left part of it that shows the image when the rest is padding. */
export interface InputArea {
  inputHeight: number;
  inputWidth: number;
  shown?: { height: number; width: number };
}

/**
 * The canvas for an input: the image part only (a padded input's padding is left out), the longer side
 * `max` pixels. Draw on it with `viewOnCanvas`.
 */
export function croppedCanvas(a: InputArea, max: number): { width: number; height: number } {
  const v = a.shown ?? { height: a.inputHeight, width: a.inputWidth };
  const s = max / Math.max(v.width, v.height);
  return { width: Math.round(v.width * s), height: Math.round(v.height * s) };
}

/**
 * The View of an input on a cw×ch canvas that shows its image part (`croppedCanvas`): its width and height
 * are those of the whole input at the canvas' scale, so the padding falls off the right and bottom edges.
 */
export function viewOnCanvas(a: InputArea, cw: number, ch: number): View {
  const v = a.shown ?? { height: a.inputHeight, width: a.inputWidth };
  return {
    inputHeight: a.inputHeight,
    inputWidth: a.inputWidth,
    width: (cw * a.inputWidth) / v.width,
    height: (ch * a.inputHeight) / v.height,
  };
}

/** What the user picked on the canvas: a region (BRA/DBRA) or a slot (GLMix), or nothing. */
export interface Selection {
  region?: number;
  slot?: number;
  group?: number;
}

/** Distinct colours: golden-angle hues (index i → hsl). */
export function paletteColour(i: number, alpha = 1, lightness = 55): string {
  return `hsla(${Math.round((i * 137.508) % 360)}, 80%, ${lightness}%, ${alpha})`;
}

/** [r, g, b] of `paletteColour(i)` (for pixel buffers). */
export function paletteRgb(i: number, lightness = 55): [number, number, number] {
  const h = (i * 137.508) % 360;
  const s = 0.8;
  const l = lightness / 100;
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, 9 - k(n), 1));
  return [Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4))];
}

/** Map-pixel (fractional row fy, column fx) of an H×W map → canvas point. */
function mapToCanvas(view: View, H: number, W: number, fy: number, fx: number): [number, number] {
  const x = ((fx + 0.5) * view.inputWidth) / W;
  const y = ((fy + 0.5) * view.inputHeight) / H;
  return [(x * view.width) / view.inputWidth, (y * view.height) / view.inputHeight];
}

/** Align-corners normalised coordinate v ∈ [−1, 1] over n pixels → fractional pixel index. */
const unnorm = (v: number, n: number) => ((v + 1) / 2) * (n - 1);

function arrow(ctx: CanvasRenderingContext2D, x0: number, y0: number, x1: number, y1: number, colour: string): void {
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1.25;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

function dot(
  ctx: CanvasRenderingContext2D,
  x: number,
  y: number,
  r: number,
  fill: string,
  stroke = 'rgba(0,0,0,0.7)',
): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = fill;
  ctx.fill();
  ctx.lineWidth = 1;
  ctx.strokeStyle = stroke;
  ctx.stroke();
}

function ring(ctx: CanvasRenderingContext2D, x: number, y: number, r: number, colour: string): void {
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.lineWidth = 1.25;
  ctx.strokeStyle = colour;
  ctx.stroke();
}

/** Number of points/regions/pixels drawn, for tests and captions. */
export interface DrawStats {
  points: number;
  regions: number;
  pixels: number;
}

/**
 * DAT: per group (one colour each), every sampling point as a dot, joined to its reference point
 * (a ring): the offset the network predicted for this image.
 */
export function drawDat(ctx: CanvasRenderingContext2D, t: DatTrace, view: View, sel: Selection = {}): DrawStats {
  const r = Math.max(2.5, Math.min(6, view.width / 90));
  let points = 0;
  for (let g = 0; g < t.groups; g++) {
    if (sel.group !== undefined && sel.group !== g) continue;
    const colour = paletteColour(g);
    for (let i = 0; i < t.hk; i++)
      for (let j = 0; j < t.wk; j++) {
        const n = i * t.wk + j;
        const [ry, rx] = [t.reference[2 * n]!, t.reference[2 * n + 1]!];
        const o = ((g * t.hk + i) * t.wk + j) * 2;
        const [py, px] = [t.pos[o]!, t.pos[o + 1]!];
        const [x0, y0] = mapToCanvas(view, t.height, t.width, unnorm(ry, t.height), unnorm(rx, t.width));
        const [x1, y1] = mapToCanvas(view, t.height, t.width, unnorm(py, t.height), unnorm(px, t.width));
        ring(ctx, x0, y0, r * 0.7, 'rgba(255,255,255,0.85)');
        arrow(ctx, x0, y0, x1, y1, 'rgba(255,255,255,0.85)');
        dot(ctx, x1, y1, r, colour);
        points++;
      }
  }
  return { points, regions: 0, pixels: 0 };
}

/** The canvas rectangle of region `p` of an S×S partition of the padded map. */
function regionRect(t: BraTrace | DbraTrace, view: View, p: number): [number, number, number, number] {
  const S = t.nWin;
  const rh = t.paddedHeight / S;
  const rw = t.paddedWidth / S;
  const row = Math.floor(p / S);
  const col = p % S;
  const [x0, y0] = mapToCanvas(view, t.height, t.width, row * rh - 0.5, col * rw - 0.5);
  const [x1, y1] = mapToCanvas(view, t.height, t.width, (row + 1) * rh - 0.5, (col + 1) * rw - 0.5);
  return [x0, y0, x1 - x0, y1 - y0];
}

/** The region (BRA/DBRA) under a canvas point, or undefined outside the partition. */
export function regionAt(t: BraTrace | DbraTrace, view: View, cx: number, cy: number): number | undefined {
  const S = t.nWin;
  const fy = (cy / view.height) * t.height; // map rows (continuous, 0 at the top edge)
  const fx = (cx / view.width) * t.width;
  const row = Math.floor(fy / (t.paddedHeight / S));
  const col = Math.floor(fx / (t.paddedWidth / S));
  return row >= 0 && row < S && col >= 0 && col < S ? row * S + col : undefined;
}

/** The default query region: the one holding the centre of the image. */
export function centreRegion(t: BraTrace | DbraTrace, view: View): number {
  return regionAt(t, view, view.width / 2, view.height / 2) ?? 0;
}

/**
 * BRA / DBRA: the S×S region grid; the selected query region (outlined) and the top-k regions it is
 * routed to (filled, stronger for higher rank, numbered). DBRA also draws its agents: each sampling
 * position (dot, one colour per offset group) joined to its reference point (ring).
 */
export function drawRouting(
  ctx: CanvasRenderingContext2D,
  t: BraTrace | DbraTrace,
  view: View,
  sel: Selection = {},
): DrawStats {
  const S = t.nWin;
  const q = sel.region ?? centreRegion(t, view);
  ctx.save();
  // grid
  ctx.strokeStyle = 'rgba(255,255,255,0.45)';
  ctx.lineWidth = 1;
  for (let p = 0; p < S * S; p++) {
    const [x, y, w, h] = regionRect(t, view, p);
    ctx.strokeRect(x, y, w, h);
  }
  // routed regions of q
  const k = t.topk;
  const routed = Array.from(t.routeIdx.subarray(q * k, q * k + k));
  routed.forEach((p, rank) => {
    const [x, y, w, h] = regionRect(t, view, p);
    ctx.fillStyle = `rgba(255, 140, 0, ${0.55 - (0.35 * rank) / Math.max(1, k - 1)})`;
    ctx.fillRect(x, y, w, h);
    if (k <= 16 && w > 14) {
      ctx.fillStyle = 'white';
      ctx.font = `${Math.max(10, Math.min(16, w / 3))}px system-ui, sans-serif`;
      ctx.fillText(String(rank + 1), x + 3, y + Math.max(11, Math.min(17, w / 3 + 2)));
    }
  });
  const [qx, qy, qw, qh] = regionRect(t, view, q);
  ctx.lineWidth = 3;
  ctx.strokeStyle = '#1e90ff';
  ctx.strokeRect(qx + 1.5, qy + 1.5, qw - 3, qh - 3);
  let points = 0;
  if (t.kind === 'dbra') {
    const r = Math.max(2, Math.min(5, view.width / 110));
    for (let g = 0; g < t.groups; g++) {
      if (sel.group !== undefined && sel.group !== g) continue;
      for (let a = 0; a < t.hk; a++)
        for (let b = 0; b < t.wk; b++) {
          // agent reference points use the pixel-centre convention, positions are clamped (x, y)
          const rx = ((b + 0.5) / t.wk) * 2 - 1;
          const ry = ((a + 0.5) / t.hk) * 2 - 1;
          const o = ((g * t.hk + a) * t.wk + b) * 2;
          const [x0, y0] = mapToCanvas(view, t.height, t.width, unnorm(ry, t.paddedHeight), unnorm(rx, t.paddedWidth));
          const [x1, y1] = mapToCanvas(
            view,
            t.height,
            t.width,
            unnorm(t.gridXY[o + 1]!, t.paddedHeight),
            unnorm(t.gridXY[o]!, t.paddedWidth),
          );
          ring(ctx, x0, y0, r * 0.7, 'rgba(255,255,255,0.8)');
          arrow(ctx, x0, y0, x1, y1, 'rgba(255,255,255,0.8)');
          dot(ctx, x1, y1, r, paletteColour(g + 3));
          points++;
        }
    }
  }
  ctx.restore();
  return { points, regions: routed.length, pixels: 0 };
}

/** The map pixel under a canvas point (GLMix), or undefined. */
export function pixelAt(t: GlmixTrace, view: View, cx: number, cy: number): number | undefined {
  const i = Math.floor((cy / view.height) * t.height);
  const j = Math.floor((cx / view.width) * t.width);
  return i >= 0 && i < t.height && j >= 0 && j < t.width ? i * t.width + j : undefined;
}

/** The slot each pixel is dispatched to most (argmax over S), and that weight. */
export function slotAssignment(t: GlmixTrace): { slot: Int32Array; weight: Float32Array } {
  const L = t.height * t.width;
  const S = t.slots;
  const slot = new Int32Array(L);
  const weight = new Float32Array(L);
  for (let l = 0; l < L; l++) {
    let best = 0;
    let bw = -1;
    for (let s = 0; s < S; s++) {
      const w = t.dispatch[l * S + s]!;
      if (w > bw) {
        bw = w;
        best = s;
      }
    }
    slot[l] = best;
    weight[l] = bw;
  }
  return { slot, weight };
}

/**
 * GLMix: without a selected slot, every pixel coloured by the slot it is dispatched to most (opacity
 * by that weight); with one, that slot's dispatch weight as a heat map (normalised to its maximum).
 */
export function drawSlots(ctx: CanvasRenderingContext2D, t: GlmixTrace, view: View, sel: Selection = {}): DrawStats {
  const { slot, weight } = slotAssignment(t);
  const S = t.slots;
  const img = ctx.createImageData(t.width, t.height);
  if (sel.slot === undefined) {
    const maxW = Math.max(...weight);
    for (let l = 0; l < slot.length; l++) {
      const [r, g, b] = paletteRgb(slot[l]!);
      img.data.set([r, g, b, Math.round(255 * (0.35 + (0.5 * weight[l]!) / (maxW || 1)))], 4 * l);
    }
  } else {
    let max = 0;
    for (let l = 0; l < slot.length; l++) max = Math.max(max, t.dispatch[l * S + sel.slot]!);
    for (let l = 0; l < slot.length; l++) {
      const v = t.dispatch[l * S + sel.slot]! / (max || 1);
      img.data.set([255, Math.round(60 + 160 * v), 0, Math.round(230 * v)], 4 * l);
    }
  }
  // scale the per-pixel map onto the canvas (each map pixel covers inputH/H input pixels)
  const tmp = new OffscreenCanvas(t.width, t.height);
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  ctx.save();
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, view.width, view.height);
  ctx.restore();
  return { points: 0, regions: 0, pixels: slot.length };
}

/** Draw any trace; returns what was drawn. */
export function drawTrace(
  ctx: CanvasRenderingContext2D,
  t: MechanismTrace,
  view: View,
  sel: Selection = {},
): DrawStats {
  switch (t.kind) {
    case 'dat':
      return drawDat(ctx, t, view, sel);
    case 'bra':
    case 'dbra':
      return drawRouting(ctx, t, view, sel);
    case 'glmix':
      return drawSlots(ctx, t, view, sel);
  }
}

/** Colour a class map (row-major, one class index per pixel) with a palette, into RGBA. */
export function classMapRgba(
  classMap: Int32Array,
  colours: ReadonlyArray<readonly [number, number, number]> | null,
  alpha = 150,
): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(classMap.length * 4);
  for (let i = 0; i < classMap.length; i++) {
    const c = classMap[i]!;
    const [r, g, b] = colours?.[c] ?? paletteRgb(c, 50);
    out[4 * i] = r;
    out[4 * i + 1] = g;
    out[4 * i + 2] = b;
    out[4 * i + 3] = alpha;
  }
  return out;
}

/** A detection as the demo draws it: box in original-image pixels, optional mask at the original size. */
export interface DrawnObject {
  box: readonly [number, number, number, number];
  score: number;
  name: string;
  mask?: Uint8Array;
}

/**
 * The instance masks of `objects` as one RGBA overlay of the original image (width × height): object k
 * in palette colour k; where masks overlap, the better-scored (earlier) object stays on top.
 */
export function instanceMasksRgba(
  objects: readonly DrawnObject[],
  width: number,
  height: number,
  alpha = 120,
): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(width * height * 4);
  for (let k = objects.length - 1; k >= 0; k--) {
    const m = objects[k]!.mask;
    if (!m) continue;
    if (m.length !== width * height)
      throw new Error(`instanceMasksRgba: mask ${k} has ${m.length} pixels, expected ${width}×${height}`);
    const [r, g, b] = paletteRgb(k, 50);
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      out[4 * i] = r;
      out[4 * i + 1] = g;
      out[4 * i + 2] = b;
      out[4 * i + 3] = alpha;
    }
  }
  return out;
}

/**
 * Draw detections over the original image already on the canvas at `scale` canvas pixels per image
 * pixel: masks (if any), then boxes with "name score" tags. Returns how many boxes were drawn.
 */
export function drawDetections(
  ctx: CanvasRenderingContext2D,
  det: { width: number; height: number; objects: readonly DrawnObject[] },
  scale: number,
): number {
  if (det.objects.some((o) => o.mask)) {
    const tmp = new OffscreenCanvas(det.width, det.height);
    tmp
      .getContext('2d')!
      .putImageData(new ImageData(instanceMasksRgba(det.objects, det.width, det.height), det.width, det.height), 0, 0);
    ctx.drawImage(tmp, 0, 0, det.width * scale, det.height * scale);
  }
  ctx.font = '12px system-ui, sans-serif';
  ctx.lineWidth = 2;
  let drawn = 0;
  det.objects.forEach((o, k) => {
    const [x1, y1, x2, y2] = o.box.map((v) => v * scale) as [number, number, number, number];
    if (!(x2 > x1 && y2 > y1)) return;
    ctx.strokeStyle = paletteColour(k);
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const tag = `${o.name} ${(o.score * 100).toFixed(0)}%`;
    const tw = ctx.measureText(tag).width + 6;
    const ty = y1 >= 16 ? y1 - 16 : y1;
    ctx.fillStyle = paletteColour(k, 0.85);
    ctx.fillRect(x1, ty, tw, 16);
    ctx.fillStyle = 'white';
    ctx.fillText(tag, x1 + 3, ty + 12);
    drawn++;
  });
  return drawn;
}
