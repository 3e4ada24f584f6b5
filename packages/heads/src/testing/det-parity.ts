/**
 * Parity of the detection heads against golden io files (heads.md §9): the `ParityModel` the parity
 * harness builds (`run` and `runAsync` produce every non-debug golden output; `compare` matches the discrete ones
 * as sets), and a staged check that feeds the golden maps / proposals / detections into each stage
 * so a failure is located.
 *
 * Matching rules: continuous tensors element-wise (max|d| ≤ tol·max(1, max|ref|)); proposals and
 * detections one to one, greedily in golden order, each golden row to the closest unmatched row of
 * the same class with every number within `match`·max(1, |ref|) (1e-3); per-RoI / per-detection
 * outputs (rcnn.*, mask_*) compared through that matching; mask pixels may differ in at most the
 * golden's `summary.mask_pixels_within_1e-4_of_thr` pixels per image. For `masks.b`, `maxAbs` is
 * the number of differing pixels and `maxRef` is budget / tolerance, so the harness-wide rule
 * `maxAbs ≤ tolerance · max(1, maxRef)` reads "differing pixels ≤ budget" (and ranks the row
 * sensibly among the continuous ones); `relL2` is the fraction of differing pixels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type SafetensorsFile, toFloat32 } from '@dynavit/core';
import { compareArrays, type HostTensor, type OutputParity, type ParityModel } from '@dynavit/core/testing';
import type { DetectionHead } from '../detector.js';
import { hostMapFromNchw, toNchw } from '../host.js';
import { MaskRCNNHead } from '../mask-rcnn.js';
import { retinaDetections } from '../retinanet.js';
import type { HostFeatureMap } from '../roi-align.js';
import type { ImageDetections, ImageMeta } from '../roi-heads.js';
import { runAsync, runSync, type Steps } from '../steps.js';
import { goldenFeatures } from './golden.js';

/** Relative tolerance for matching proposals / detections one to one. */
export const MATCH_TOLERANCE = 1e-3;

interface GoldenMeta {
  ori_shape: number[];
  img_shape: number[];
  scale_factor: number[];
}

/** mmdet `img_metas` from golden io metadata. */
export function imageMetasFromGolden(md: Readonly<Record<string, string>>): ImageMeta[] {
  const raw = md['img_metas'];
  if (!raw) throw new InvalidArgumentError('golden io metadata lacks "img_metas"');
  return (JSON.parse(raw) as GoldenMeta[]).map((m) => ({
    oriShape: [m.ori_shape[0]!, m.ori_shape[1]!],
    imgShape: [m.img_shape[0]!, m.img_shape[1]!],
    scaleFactor: [m.scale_factor[0]!, m.scale_factor[1]!, m.scale_factor[2]!, m.scale_factor[3]!].map(Math.fround) as [
      number,
      number,
      number,
      number,
    ],
  }));
}

const nchwTensor = (m: HostFeatureMap): tf.Tensor => {
  const { data, shape } = toNchw(m);
  return tf.tensor4d(data, shape);
};

/** Golden-named outputs of a detection head on golden backbone features (NCHW `input.0..3`), read with `dataSync`. */
export function runDetectionHead(
  head: DetectionHead,
  inputs: Readonly<Record<string, tf.Tensor>>,
  io: Readonly<Record<string, string>>,
): Record<string, tf.Tensor> {
  return runSync(detectionHeadSteps(head, inputs, io));
}

/** `runDetectionHead` reading with `data()`: the one WebGPU in Node can run (no synchronous read there). */
export function runDetectionHeadAsync(
  head: DetectionHead,
  inputs: Readonly<Record<string, tf.Tensor>>,
  io: Readonly<Record<string, string>>,
): Promise<Record<string, tf.Tensor>> {
  return runAsync(detectionHeadSteps(head, inputs, io));
}

/** The head's test path as steps (steps.ts), then its results as golden-named tensors. */
function* detectionHeadSteps(
  head: DetectionHead,
  inputs: Readonly<Record<string, tf.Tensor>>,
  io: Readonly<Record<string, string>>,
): Steps<Record<string, tf.Tensor>> {
  const metas = imageMetasFromGolden(io);
  const feats = tf.tidy(() => goldenFeatures(inputs));
  const outs: Record<string, tf.Tensor> = {};
  const A = head.anchors.numAnchors;
  try {
    if (head instanceof MaskRCNNHead) {
      const r = yield* head.testSteps(feats, metas, { trace: true, keepMaskLogits: 4 });
      for (const [i, m] of r.neck.entries()) outs[`neck.${i}`] = nchwTensor(m);
      for (const [l, m] of r.rpnCls.entries()) outs[`rpn.cls_score.${l}`] = nchwTensor(m);
      for (const [l, m] of r.rpnReg.entries()) outs[`rpn.bbox_pred.${l}`] = nchwTensor(m);
      for (let l = 0; l < head.anchors.numLevels; l++) {
        outs[`anchors.base.${l}`] = tf.tensor2d(head.anchors.baseAnchors(l), [A, 4]);
        if (l >= 2)
          outs[`anchors.${l}`] = tf.tensor2d(head.anchors.gridAnchors(l, r.rpnCls[l]!.height, r.rpnCls[l]!.width), [
            r.rpnCls[l]!.height * r.rpnCls[l]!.width * A,
            4,
          ]);
      }
      const n = head.numClasses;
      const R = r.bbox.rois.length / 5;
      outs['rcnn.cls_score'] = tf.tensor2d(r.bbox.clsScore, [R, n + 1]);
      outs['rcnn.bbox_pred'] = tf.tensor2d(r.bbox.bboxPred, [R, 4 * n]);
      metas.forEach((m, b) => {
        const p = r.proposals[b]!;
        outs[`proposals.${b}`] = tf.tensor2d(p, [p.length / 5, 5]);
        const d = r.detections[b]!;
        const K = d.labels.length;
        outs[`det_bboxes.${b}`] = tf.tensor2d(d.bboxes, [K, 5]);
        outs[`det_labels.${b}`] = tf.tensor1d(d.labels, 'int32');
        if (r.mask) {
          const S = head.roi_head.maskRoiSize * 2;
          const logits = r.mask.logits?.[b] ?? new Float32Array(0);
          outs[`mask_pred.${b}`] = tf.tensor4d(logits, [logits.length / (n * S * S), n, S, S]);
          outs[`mask_prob.${b}`] = tf.tensor3d(r.mask.probs[b]!, [K, S, S]);
          const [h, w] = m.oriShape;
          const all = new Int32Array(K * h * w);
          for (const [k, mk] of r.mask.masks[b]!.entries()) all.set(mk, k * h * w);
          outs[`masks.${b}`] = tf.tensor3d(all, [K, h, w], 'int32');
        }
      });
    } else {
      const r = yield* head.testSteps(feats, metas, { trace: true });
      for (const [i, m] of r.neck.entries()) outs[`neck.${i}`] = nchwTensor(m);
      for (const [l, m] of r.cls.entries()) outs[`retina.cls_score.${l}`] = nchwTensor(m);
      for (const [l, m] of r.reg.entries()) outs[`retina.bbox_pred.${l}`] = nchwTensor(m);
      for (let l = 0; l < head.anchors.numLevels; l++)
        outs[`anchors.base.${l}`] = tf.tensor2d(head.anchors.baseAnchors(l), [A, 4]);
      r.detections.forEach((d, b) => {
        outs[`det_bboxes.${b}`] = tf.tensor2d(d.bboxes, [d.labels.length, 5]);
        outs[`det_labels.${b}`] = tf.tensor1d(d.labels, 'int32');
      });
    }
  } finally {
    tf.dispose(feats);
  }
  return outs;
}

// ---- one-to-one matching -------------------------------------------------------------------------

export interface RowMatch {
  /** golden row → matched row of ours, or −1 */
  perm: Int32Array;
  matched: number;
  /** max |ours − golden| over the matched rows */
  maxAbs: number;
}

/**
 * Match golden rows ([n·width]) one to one with ours, greedily in golden order: each takes the
 * closest unmatched row (max over its numbers of |d|/max(1,|ref|)) of the same label that is within
 * `tol`.
 */
export function matchRows(
  ref: ArrayLike<number>,
  got: ArrayLike<number>,
  width: number,
  tol: number,
  refLabels?: ArrayLike<number>,
  gotLabels?: ArrayLike<number>,
): RowMatch {
  const n = ref.length / width;
  const m = got.length / width;
  const perm = new Int32Array(n).fill(-1);
  const used = new Uint8Array(m);
  let matched = 0;
  let maxAbs = 0;
  const dist = (g: number, o: number): number => {
    let d = 0;
    for (let k = 0; k < width; k++) {
      const r = ref[g * width + k]!;
      d = Math.max(d, Math.abs(got[o * width + k]! - r) / Math.max(1, Math.abs(r)));
    }
    return d;
  };
  for (let g = 0; g < n; g++) {
    let best = -1;
    let bestD = Number.POSITIVE_INFINITY;
    // the same position first: almost always the match, and then no search is needed
    const cands = g < m && !used[g] ? [g] : [];
    for (const pass of [cands, null]) {
      for (let o = 0; o < (pass ? pass.length : m); o++) {
        const j = pass ? pass[o]! : o;
        if (used[j] || (refLabels && gotLabels && refLabels[g] !== gotLabels[j])) continue;
        const d = dist(g, j);
        if (d < bestD) {
          bestD = d;
          best = j;
        }
      }
      if (bestD <= tol) break;
    }
    if (best >= 0 && bestD <= tol) {
      perm[g] = best;
      used[best] = 1;
      matched++;
      for (let k = 0; k < width; k++) maxAbs = Math.max(maxAbs, Math.abs(got[best * width + k]! - ref[g * width + k]!));
    }
  }
  return { perm, matched, maxAbs };
}

const f32 = (t: { data: ArrayLike<number> } | undefined): Float32Array =>
  t ? Float32Array.from(t.data) : new Float32Array(0);
const maxAbsOf = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
};

function setParity(
  name: string,
  shape: number[],
  ref: ArrayLike<number>,
  got: ArrayLike<number>,
  width: number,
  match: RowMatch,
): OutputParity {
  const n = ref.length / width;
  const m = got.length / width;
  const ok = n === m && match.matched === n;
  return {
    name,
    shape,
    maxAbs: ok ? match.maxAbs : Number.POSITIVE_INFINITY,
    maxRef: maxAbsOf(ref),
    relL2: ok ? 0 : 1 - match.matched / Math.max(n, 1),
    ok,
  };
}

/** Rows `perm[g]` of `got` (row width w) gathered in golden order; unmatched rows are skipped in both. */
function gatherMatched(
  ref: ArrayLike<number>,
  got: ArrayLike<number>,
  w: number,
  perm: ArrayLike<number>,
  rows = perm.length,
): { ref: Float32Array; got: Float32Array; complete: boolean } {
  const r: number[] = [];
  const o: number[] = [];
  let complete = true;
  for (let g = 0; g < rows; g++) {
    const j = perm[g]!;
    if (j < 0 || (j + 1) * w > got.length) {
      complete = false;
      continue;
    }
    for (let k = 0; k < w; k++) {
      r.push(ref[g * w + k]!);
      o.push(got[j * w + k]!);
    }
  }
  return { ref: Float32Array.from(r), got: Float32Array.from(o), complete };
}

function throughMatch(
  name: string,
  shape: number[],
  ref: ArrayLike<number>,
  got: ArrayLike<number>,
  w: number,
  perm: ArrayLike<number>,
  tolerance: number,
  rows?: number,
): OutputParity {
  const g = gatherMatched(ref, got, w, perm, rows);
  const p = compareArrays(name, shape, g.got, g.ref, tolerance);
  return g.complete ? p : { ...p, ok: false };
}

function maskBudget(io: SafetensorsFile, b: number): number {
  const s = io.metadata['summary'];
  if (!s) return 0;
  const list =
    (JSON.parse(s) as { 'mask_pixels_within_1e-4_of_thr'?: [string, number][] })['mask_pixels_within_1e-4_of_thr'] ??
    [];
  return list.find(([k]) => k === `img${b}`)?.[1] ?? 0;
}

/**
 * Golden masks of image b: `masks.b` [K,h,w], or — in trimmed vendored files — `debug.masks_bits.b`,
 * the same values bit-packed (numpy `packbits` order: first pixel in the high bit).
 */
export function goldenMasks(io: SafetensorsFile, b: number): { shape: number[]; data: ArrayLike<number> } | null {
  const full = io.tensors.get(`masks.${b}`);
  if (full) return { shape: full.shape, data: toFloat32(full) };
  const bits = io.tensors.get(`debug.masks_bits.${b}`);
  const labels = io.tensors.get(`det_labels.${b}`);
  if (!bits || !labels) return null;
  const [h, w] = imageMetasFromGolden(io.metadata)[b]!.oriShape;
  const K = labels.shape[0]!;
  const packed = bits.data as Uint8Array;
  const data = new Uint8Array(K * h * w);
  for (let i = 0; i < data.length; i++) data[i] = (packed[i >> 3]! >> (7 - (i & 7))) & 1;
  return { shape: [K, h, w], data };
}

/**
 * Pixels differing between matched masks (golden [K,h,w] vs ours), all golden detections matched;
 * maxAbs = differing pixels, maxRef = budget / tolerance (see the file comment).
 */
function maskParity(
  name: string,
  shape: number[],
  ref: ArrayLike<number>,
  got: ArrayLike<number>,
  perm: ArrayLike<number>,
  budget: number,
  tolerance: number,
): OutputParity {
  const hw = (shape[1] ?? 0) * (shape[2] ?? 0);
  let diff = 0;
  let complete = true;
  for (let g = 0; g < perm.length; g++) {
    const j = perm[g]!;
    if (j < 0 || (j + 1) * hw > got.length) {
      complete = false;
      continue;
    }
    for (let p = 0; p < hw; p++) if ((ref[g * hw + p]! !== 0) !== (got[j * hw + p]! !== 0)) diff++;
  }
  const total = perm.length * hw;
  return {
    name,
    shape,
    maxAbs: diff,
    maxRef: budget / tolerance,
    relL2: total ? diff / total : 0,
    ok: complete && diff <= budget,
  };
}

const imagesIn = (io: SafetensorsFile): number[] =>
  [...io.tensors.keys()]
    .filter((k) => k.startsWith('det_bboxes.'))
    .map((k) => Number(k.slice('det_bboxes.'.length)))
    .sort((a, b) => a - b);

/** `compare` hook: discrete outputs as sets, per-RoI / per-detection outputs through the matching. */
export function compareDetections(
  outputs: Readonly<Record<string, HostTensor>>,
  io: SafetensorsFile,
  tolerance: number,
  match = Math.max(MATCH_TOLERANCE, tolerance),
): OutputParity[] {
  const res: OutputParity[] = [];
  const ref = (k: string) => io.tensors.get(k);
  const refData = (k: string) => toFloat32(ref(k)!);
  const images = imagesIn(io);
  // proposals → rcnn rows (image-major)
  if (ref('proposals.0')) {
    const permAll: number[] = [];
    let gotOffset = 0;
    for (const b of images) {
      const name = `proposals.${b}`;
      const r = refData(name);
      const g = f32(outputs[name]);
      const m = matchRows(r, g, 5, match);
      res.push(setParity(name, ref(name)!.shape, r, g, 5, m));
      for (const j of m.perm) permAll.push(j < 0 ? -1 : j + gotOffset);
      gotOffset += g.length / 5;
    }
    for (const name of ['rcnn.cls_score', 'rcnn.bbox_pred']) {
      const t = ref(name);
      if (!t) continue;
      res.push(throughMatch(name, t.shape, toFloat32(t), f32(outputs[name]), t.shape[1]!, permAll, tolerance));
    }
  }
  for (const b of images) {
    const bn = `det_bboxes.${b}`;
    const ln = `det_labels.${b}`;
    const rb = refData(bn);
    const rl = refData(ln);
    const gb = f32(outputs[bn]);
    const gl = f32(outputs[ln]);
    const m = matchRows(rb, gb, 5, match, rl, gl);
    res.push(setParity(bn, ref(bn)!.shape, rb, gb, 5, m));
    const labelsOk = rl.length === gl.length && m.matched === rl.length;
    res.push({
      name: ln,
      shape: ref(ln)!.shape,
      maxAbs: labelsOk ? 0 : Number.POSITIVE_INFINITY,
      maxRef: maxAbsOf(rl),
      relL2: labelsOk ? 0 : 1,
      ok: labelsOk,
    });
    const pn = `mask_prob.${b}`;
    if (ref(pn)) {
      const s = ref(pn)!.shape;
      res.push(throughMatch(pn, s, refData(pn), f32(outputs[pn]), s[1]! * s[2]!, m.perm, tolerance));
    }
    const mp = `mask_pred.${b}`;
    if (ref(mp)) {
      const s = ref(mp)!.shape;
      res.push(throughMatch(mp, s, refData(mp), f32(outputs[mp]), s[1]! * s[2]! * s[3]!, m.perm, tolerance, s[0]!));
    }
    const mn = `masks.${b}`;
    const gm = goldenMasks(io, b);
    if (gm) res.push(maskParity(mn, gm.shape, gm.data, outputs[mn]?.data ?? [], m.perm, maskBudget(io, b), tolerance));
  }
  return res;
}

/** The parity model of a golden detection case: every golden output, detections compared as sets. */
export function detectionParityModel(head: DetectionHead): ParityModel {
  return {
    model: head,
    run: (inputs, io) => runDetectionHead(head, inputs, io),
    runAsync: (inputs, io) => runDetectionHeadAsync(head, inputs, io),
    compare: (outputs, io, tolerance) => compareDetections(outputs, io, tolerance),
  };
}

// ---- staged parity ---------------------------------------------------------------------------------

const goldenMaps = (io: SafetensorsFile, prefix: string): HostFeatureMap[] => {
  const out: HostFeatureMap[] = [];
  for (let l = 0; io.tensors.has(`${prefix}${l}`); l++) {
    const t = io.tensors.get(`${prefix}${l}`)!;
    out.push(hostMapFromNchw(toFloat32(t), t.shape));
  }
  return out;
};

/**
 * Stage-wise parity (heads.md §9 "How to test"): each stage runs on the GOLDEN outputs of the stage
 * before, so one small difference cannot cascade:
 * 1. Mask R-CNN: golden `rpn.*` maps → `proposals.b` (as a set); RetinaNet: golden `retina.*` maps →
 *    `det_*`.
 * 2. golden `neck.*` + `proposals.b` → `debug.roi_levels` (exact), `debug.bbox_roi_feats`,
 *    `rcnn.cls_score`, `rcnn.bbox_pred` (row-aligned), `det_*` (as sets).
 * 3. golden `neck.*` + `det_*` → `debug.mask_roi_levels` (exact), `mask_prob.b`, `mask_pred.b`,
 *    `masks.b` (pixel budget).
 * Outputs whose golden tensors are missing from `io` are skipped. The model must hold the weights.
 */
export function stagedDetectionParity(
  head: DetectionHead,
  io: SafetensorsFile,
  tolerance = 1e-4,
  match = MATCH_TOLERANCE,
): OutputParity[] {
  const metas = imageMetasFromGolden(io.metadata);
  const res: OutputParity[] = [];
  const has = (k: string) => io.tensors.has(k);
  const refData = (k: string) => toFloat32(io.tensors.get(k)!);
  const shape = (k: string) => io.tensors.get(k)!.shape;
  const outs: Record<string, HostTensor> = {};
  const put = (k: string, s: number[], data: ArrayLike<number>): void => {
    outs[k] = { shape: s, data };
  };
  const pushExact = (name: string, got: ArrayLike<number>) => {
    if (!has(name)) return;
    const r = refData(name);
    const same = r.length === got.length && r.every((v, i) => v === got[i]);
    res.push({
      name: `staged ${name}`,
      shape: shape(name),
      maxAbs: same ? 0 : Number.POSITIVE_INFINITY,
      maxRef: maxAbsOf(r),
      relL2: same ? 0 : 1,
      ok: same,
    });
  };
  const rename = (ps: OutputParity[]) => ps.map((p) => ({ ...p, name: `staged ${p.name}` }));
  if (head instanceof MaskRCNNHead) {
    const cls = goldenMaps(io, 'rpn.cls_score.');
    const reg = goldenMaps(io, 'rpn.bbox_pred.');
    if (cls.length) {
      const props = head.proposals(cls, reg, metas);
      for (const [b, p] of props.entries()) put(`proposals.${b}`, [p.length / 5, 5], p);
    }
    const neck = goldenMaps(io, 'neck.');
    if (neck.length && has('proposals.0')) {
      const golden = metas.map((_, b) => refData(`proposals.${b}`));
      const bbox = runSync(
        head.roi_head.bboxSteps(neck, golden, metas, head.rcnnCfg, {
          keepRoiFeats: has('debug.bbox_roi_feats') ? shape('debug.bbox_roi_feats')[0]! : 0,
        }),
      );
      pushExact('debug.roi_levels', bbox.levels);
      if (has('debug.bbox_roi_feats') && bbox.roiFeats)
        res.push({
          ...compareArrays(
            'debug.bbox_roi_feats',
            shape('debug.bbox_roi_feats'),
            bbox.roiFeats,
            refData('debug.bbox_roi_feats'),
            tolerance,
          ),
          name: 'staged debug.bbox_roi_feats',
        });
      const n = head.numClasses;
      const R = bbox.rois.length / 5;
      // golden proposals in → rows line up with the golden's
      const ident = Int32Array.from({ length: R }, (_, i) => i);
      for (const [name, data, w] of [
        ['rcnn.cls_score', bbox.clsScore, n + 1],
        ['rcnn.bbox_pred', bbox.bboxPred, 4 * n],
      ] as const)
        if (has(name))
          res.push({
            ...throughMatch(name, shape(name), refData(name), data, w, ident, tolerance),
            name: `staged ${name}`,
          });
      bbox.detections.forEach((d, b) => {
        put(`det_bboxes.${b}`, [d.labels.length, 5], d.bboxes);
        put(`det_labels.${b}`, [d.labels.length], d.labels);
      });
      // masks from the golden detections
      if (head.roi_head.mask_head && has('det_bboxes.0')) {
        const dets: ImageDetections[] = metas.map((_, b) => ({
          bboxes: refData(`det_bboxes.${b}`),
          labels: Int32Array.from(refData(`det_labels.${b}`)),
        }));
        const m = runSync(head.roi_head.maskSteps(neck, dets, metas, head.rcnnCfg, { keepMaskLogits: 4 }));
        pushExact('debug.mask_roi_levels', m.levels);
        const S = head.roi_head.maskRoiSize * 2;
        metas.forEach((meta, b) => {
          const K = dets[b]!.labels.length;
          const ident = Int32Array.from({ length: K }, (_, i) => i);
          if (has(`mask_prob.${b}`))
            res.push({
              ...throughMatch(
                `mask_prob.${b}`,
                shape(`mask_prob.${b}`),
                refData(`mask_prob.${b}`),
                m.probs[b]!,
                S * S,
                ident,
                tolerance,
              ),
              name: `staged mask_prob.${b}`,
            });
          if (has(`mask_pred.${b}`) && m.logits) {
            const s = shape(`mask_pred.${b}`);
            res.push({
              ...throughMatch(
                `mask_pred.${b}`,
                s,
                refData(`mask_pred.${b}`),
                m.logits[b]!,
                n * S * S,
                ident,
                tolerance,
                s[0]!,
              ),
              name: `staged mask_pred.${b}`,
            });
          }
          const mk = goldenMasks(io, b);
          if (mk) {
            const [h, w] = meta.oriShape;
            const all = new Uint8Array(K * h * w);
            for (const [k, x] of m.masks[b]!.entries()) all.set(x, k * h * w);
            res.push({
              ...maskParity(`masks.${b}`, mk.shape, mk.data, all, ident, maskBudget(io, b), tolerance),
              name: `staged masks.${b}`,
            });
          }
        });
      }
    }
  } else {
    const cls = goldenMaps(io, 'retina.cls_score.');
    const reg = goldenMaps(io, 'retina.bbox_pred.');
    if (cls.length) {
      metas.forEach((meta, b) => {
        const d = retinaDetections(cls, reg, b, head.anchors, head.numClasses, meta, head.testCfg);
        put(`det_bboxes.${b}`, [d.labels.length, 5], d.bboxes);
        put(`det_labels.${b}`, [d.labels.length], d.labels);
      });
    }
  }
  // proposals and detections as sets (only those this stage produced)
  const sub: SafetensorsFile = {
    metadata: io.metadata,
    tensors: new Map([...io.tensors].filter(([k]) => k in outs || k.startsWith('det_'))),
  };
  const discrete = compareDetections(outs, sub, tolerance, match).filter((p) => p.name in outs);
  res.push(...rename(discrete));
  return res;
}
