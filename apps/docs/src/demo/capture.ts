/**
 * Watching the mechanisms at work: during one forward pass, every DAT deformable attention, DeBiFormer
 * BRA/DBRA and GLMix block of a model is run with `run(x, true)` (its intermediates) instead of
 * `forward(x)`, and what the demo draws is kept: DAT's sampling points, DBRA's routed regions and
 * sampling points, GLMix's slot assignment. Only the first image of the batch is recorded.
 *
 * The instance methods are patched for one pass and restored afterwards; the models are not changed.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@dynavit/core';
import { DAttentionBaseline } from '@dynavit/dat';
import { BiLevelRoutingAttention, DeBiLevelRoutingAttention } from '@dynavit/dbra';
import { GLMixBlock } from '@dynavit/glmix';

interface TraceBase {
  /** the module's state_dict path, e.g. `stages.1.attns.1` */
  path: string;
  /** height × width of the map entering the module */
  height: number;
  width: number;
}

/** DAT deformable attention (`DAttentionBaseline`): G groups of Hk×Wk sampling points. */
export interface DatTrace extends TraceBase {
  kind: 'dat';
  groups: number;
  hk: number;
  wk: number;
  /** [G, Hk, Wk, 2] (y, x), normalised to [−1, 1] over the H×W map (align-corners convention) */
  pos: Float32Array;
  /** [Hk, Wk, 2] (y, x), the reference points before the offsets (same convention) */
  reference: Float32Array;
}

/** DeBiFormer bi-level routing attention (BRA): S×S regions, each routed to its top-k regions. */
export interface BraTrace extends TraceBase {
  kind: 'bra';
  nWin: number;
  topk: number;
  /** padded map (multiples of nWin) */
  paddedHeight: number;
  paddedWidth: number;
  /** [S², topk] region indices (region = row·S + column), best first */
  routeIdx: Int32Array;
}

/** DeBiFormer deformable bi-level routing attention (DBRA): sampled agents, routed to token regions. */
export interface DbraTrace extends Omit<BraTrace, 'kind'> {
  kind: 'dbra';
  groups: number;
  hk: number;
  wk: number;
  /** [g, Hk, Wk, 2] (x, y), clamped sampling positions, normalised over the padded map (align corners) */
  gridXY: Float32Array;
}

/** GLMix: soft assignment of every pixel to S slots (the dispatch weights). */
export interface GlmixTrace extends TraceBase {
  kind: 'glmix';
  slots: number;
  /** [L, S] dispatch weights, softmax over the slots; L = H·W, pixel l = row·W + column */
  dispatch: Float32Array;
}

export type MechanismTrace = DatTrace | BraTrace | DbraTrace | GlmixTrace;

type HostArrays = 'pos' | 'reference' | 'routeIdx' | 'gridXY' | 'dispatch';
/** A trace without its host arrays (distributes over the union). */
type TraceHead<T = MechanismTrace> = T extends MechanismTrace ? Omit<T, HostArrays> : never;
type Pending = { trace: TraceHead; tensors: Record<string, tf.Tensor> };

/** Every module of a tree with its state_dict path. */
export function* walkModules(root: Module, prefix = ''): Generator<[string, Module]> {
  yield [prefix, root];
  for (const [name, child] of root.children()) yield* walkModules(child, prefix ? `${prefix}.${name}` : name);
}

/** How many modules of each kind a model has (what `capture` will record). */
export function mechanismCounts(root: Module): Record<MechanismTrace['kind'], number> {
  const n = { dat: 0, bra: 0, dbra: 0, glmix: 0 };
  for (const [, m] of walkModules(root)) {
    if (m instanceof DAttentionBaseline) n.dat++;
    else if (m instanceof DeBiLevelRoutingAttention) n.dbra++;
    else if (m instanceof BiLevelRoutingAttention) n.bra++;
    else if (m instanceof GLMixBlock) n.glmix++;
  }
  return n;
}

/** Keep the first `rows` rows of t (tf.keep: it must outlive the tidy it was made in). */
const firstRows = (t: tf.Tensor, rows: number): tf.Tensor =>
  tf.keep(t.shape[0] === rows ? t.clone() : tf.slice(t, 0, rows));

const ceilTo = (a: number, s: number) => Math.ceil(a / s) * s;

/**
 * Run `fn` (a forward pass of `root`, or of a model containing it; it may be async, like
 * `Detector.detect`) with every mechanism module recording; the modules are restored once fn's promise
 * settles. Returns fn's result and the traces (read back asynchronously, so this works on WebGPU).
 */
export async function capture<T>(
  root: Module,
  fn: () => T | Promise<T>,
): Promise<{ result: T; traces: MechanismTrace[] }> {
  const pending: Pending[] = [];
  const restore: Array<() => void> = [];
  const patch = <M extends Module & { forward(x: tf.Tensor4D): tf.Tensor4D }>(
    m: M,
    fwd: (x: tf.Tensor4D) => tf.Tensor4D,
  ) => {
    const own = Object.hasOwn(m, 'forward');
    const prev = m.forward;
    m.forward = fwd;
    restore.push(() => {
      if (own) m.forward = prev;
      else delete (m as Partial<Pick<M, 'forward'>>).forward;
    });
  };
  for (const [path, m] of walkModules(root)) {
    if (m instanceof DAttentionBaseline) {
      patch(m, (x) => {
        const { out, intermediates: im } = m.run(x, true);
        const [, height, width] = x.shape;
        const [, hk, wk] = im!.pos.shape;
        pending.push({
          trace: { kind: 'dat', path, height, width, groups: m.groups, hk, wk },
          tensors: { pos: firstRows(im!.pos, m.groups), reference: firstRows(im!.reference, 1) },
        });
        return out;
      });
    } else if (m instanceof DeBiLevelRoutingAttention || m instanceof BiLevelRoutingAttention) {
      patch(m, (x) => {
        const [, height, width] = x.shape;
        const S = m.nWin;
        const base = {
          path,
          height,
          width,
          nWin: S,
          topk: m.topk,
          paddedHeight: ceilTo(height, S),
          paddedWidth: ceilTo(width, S),
        };
        if (m instanceof DeBiLevelRoutingAttention) {
          const { out, intermediates: im } = m.run(x, true);
          const [, hk, wk] = im!.sampleGridXY.shape;
          pending.push({
            trace: { kind: 'dbra', ...base, groups: m.groups, hk, wk },
            tensors: { routeIdx: firstRows(im!.routeIdx, 1), gridXY: firstRows(im!.sampleGridXY, m.groups) },
          });
          return out;
        }
        const { out, intermediates: im } = m.run(x, true);
        pending.push({ trace: { kind: 'bra', ...base }, tensors: { routeIdx: firstRows(im!.routeIdx, 1) } });
        return out;
      });
    } else if (m instanceof GLMixBlock) {
      patch(m, (x) => {
        const { out, intermediates: im } = m.run(x, true);
        const [, height, width] = x.shape;
        const S = im!.logits.shape[1];
        // dispatch = softmax over the slots of the assignment logits, pixel-major: [L, S]
        const dispatch = tf.keep(
          tf.tidy(() => tf.softmax(tf.transpose(tf.squeeze(tf.slice(im!.logits, 0, 1), [0]), [1, 0]))),
        );
        pending.push({ trace: { kind: 'glmix', path, height, width, slots: S }, tensors: { dispatch } });
        return out;
      });
    }
  }
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    for (const p of pending) tf.dispose(Object.values(p.tensors));
    throw e;
  } finally {
    for (const r of restore.reverse()) r();
  }
  const traces: MechanismTrace[] = [];
  try {
    for (const p of pending) {
      const host: Record<string, Float32Array | Int32Array> = {};
      for (const [k, t] of Object.entries(p.tensors)) {
        const d = await t.data();
        host[k] = d instanceof Int32Array ? d : new Float32Array(d);
      }
      traces.push({ ...p.trace, ...host } as MechanismTrace);
    }
  } finally {
    for (const p of pending) tf.dispose(Object.values(p.tensors));
  }
  return { result, traces };
}

/** A one-line description of a trace for menus. */
export function describeTrace(t: MechanismTrace): string {
  const where = `${t.path} · ${t.height}×${t.width} map`;
  switch (t.kind) {
    case 'dat':
      return `${where} · deformable attention, ${t.groups} group${t.groups > 1 ? 's' : ''} × ${t.hk}×${t.wk} points`;
    case 'bra':
      return `${where} · BRA, ${t.nWin}×${t.nWin} regions, top-${t.topk}`;
    case 'dbra':
      return `${where} · DBRA, ${t.hk}×${t.wk} agents × ${t.groups} group${t.groups > 1 ? 's' : ''}, ${t.nWin}×${t.nWin} regions, top-${t.topk}`;
    case 'glmix':
      return `${where} · GLMix, ${t.slots} slots`;
  }
}
