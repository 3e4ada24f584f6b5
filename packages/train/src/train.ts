/**
 * `train()` and `evaluate()`: timm's `train.py` loop (train_one_epoch, validate, the scheduler and EMA
 * calls in its order) on a dynavit classifier, runtime-neutral (no file system: checkpoints go through a
 * {@link CheckpointStore}, progress through events).
 *
 * Defaults: timm `train.py`'s loop defaults (batch 128, seed 42, cosine schedule set per epoch with a
 * 5-epoch linear warm-up, label smoothing 0.1, random-resized crop (0.08–1, 3/4–4/3) and horizontal flip
 * 0.5, EMA decay 0.9998 when enabled, the training loader dropping its last partial batch) with the
 * optimizer of the families' official ImageNet recipes (DeiT's, which DAT, DeBiFormer and GLNet
 * follow): AdamW, lr 5e-4 × batch/512, weight decay 0.05, warm-up from 1e-6, minimum 1e-5.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type Classifier,
  DropPath,
  IMAGENET_MEAN,
  IMAGENET_STD,
  InvalidArgumentError,
  initializeWeights,
  type Module,
  NumericError,
  Parameter,
  type RGB,
  type StateDict,
  resizeBilinear,
  seedDropPaths,
} from '@dynavit/core';
import { type AugmentOptions, augmentImage } from './augment.js';
import {
  type CheckpointStore,
  type EpochSummary,
  type EvalResult,
  loadCheckpoint,
  saveCheckpoint,
  type TrainingState,
} from './checkpoint.js';
import type { Dataset, Sample } from './data.js';
import { ModelEma } from './ema.js';
import { ensureGradients } from './gradients.js';
import { labelSmoothingCrossEntropy, topkCorrect } from './loss.js';
import { AdamW, clipGradNorm, isNoWeightDecay, type OptimizedParam } from './optimizer.js';
import { Rng, permutation } from './rng.js';
import { cosineLr } from './schedule.js';

/** Progress, as a discriminated union on `type` (a CLI prints a bar or one JSON line per event). */
export type TrainEvent =
  | {
      type: 'start';
      epochs: number;
      updatesPerEpoch: number;
      batchesPerEpoch: number;
      step: number;
      epoch: number;
      resumed: boolean;
      parameters: number;
      trainable: number;
    }
  | {
      type: 'step';
      epoch: number;
      /** updates done (global) */
      step: number;
      /** micro-batches of this epoch done, of `batches` */
      batch: number;
      batches: number;
      /** mean loss of this update's micro-batches */
      loss: number;
      lr: number;
      /** global gradient norm before clipping (when clipping) */
      gradNorm?: number;
      imagesPerSecond: number;
    }
  | ({ type: 'epoch'; seconds: number } & EpochSummary)
  | { type: 'checkpoint'; epoch: number; step: number; batchInEpoch: number }
  | { type: 'end'; step: number; history: EpochSummary[] };

export interface TrainOptions {
  /** training data; shuffled each epoch when it has random access (`get`) */
  dataset: Dataset;
  /** evaluated after each epoch (top-1/top-5) */
  evalDataset?: Dataset;
  epochs: number;
  /** default 128 (timm) */
  batchSize?: number;
  /** micro-batches per update (timm `--grad-accum-steps`), default 1 */
  accumulate?: number;
  /** model input [height, width] (or side); default: the first sample's size */
  inputSize?: number | readonly [number, number];
  /** normalisation, default ImageNet's */
  mean?: RGB;
  std?: RGB;
  /** peak learning rate, default 5e-4 × batchSize·accumulate / 512 */
  lr?: number;
  /** default 1e-5 */
  minLr?: number;
  /** default 5 (capped at the number of epochs − 1) */
  warmupEpochs?: number;
  /** default 1e-6 */
  warmupLr?: number;
  /** set the rate once per epoch (timm's default) or at every update (`--sched-on-updates`); default 'epoch' */
  scheduleOn?: 'epoch' | 'step';
  /** default 0.05 */
  weightDecay?: number;
  /** which parameters get no weight decay; default {@link isNoWeightDecay} */
  noWeightDecay?: (name: string, torchShape: readonly number[]) => boolean;
  betas?: readonly [number, number];
  eps?: number;
  /** default 0.1 */
  labelSmoothing?: number;
  /** clip the global gradient norm at this value (timm `--clip-grad`, mode norm); default off */
  clipGrad?: number;
  /** EMA decay (timm `--model-ema-decay`, typically 0.9998); default off */
  ema?: number;
  /** augmentation options, or false for none (resize only); default torchvision's */
  augment?: AugmentOptions | false;
  /** default 42 (timm) */
  seed?: number;
  /** learning-rate multiplier of everything but the classifier head (fine-tuning), default 1 */
  backboneLrScale?: number;
  /** key prefixes of the classifier head, default {@link HEAD_KEYS} */
  headKeys?: readonly string[];
  /** 0-based stages whose parameters are frozen (their down-sampling included; BatchNorm kept in eval mode) */
  freezeStages?: readonly number[];
  /** where checkpoints go; with `resume`, where a run continues from */
  store?: CheckpointStore;
  /** checkpoint every n epochs (default 1, with a store) */
  checkpointEvery?: number;
  /** also checkpoint every n updates within an epoch (default off) */
  checkpointEverySteps?: number;
  /** continue from the checkpoint in `store` when there is one (default false) */
  resume?: boolean;
  onEvent?: (event: TrainEvent) => void | Promise<void>;
  /** stop between updates; resolves with the history so far */
  signal?: AbortSignal;
}

export interface TrainResult {
  history: EpochSummary[];
  /** optimizer updates done */
  step: number;
  /** the EMA weights (PyTorch layout), when `ema` was set */
  ema?: StateDict;
}

/** Key prefixes of the classifier heads (DAT's `cls_head`, DeBiFormer's and GLNet's `head`, GLNet-tklb's aux head). */
export const HEAD_KEYS: readonly string[] = ['head.', 'cls_head.', 'tklb_aux_head.'];

/** Key prefixes of stage i and the down-sampling before it, across the families. */
export function stagePrefixes(i: number): string[] {
  return [`stages.${i}.`, `downsample_layers.${i}.`, i === 0 ? 'patch_proj.' : `down_projs.${i - 1}.`];
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

function sideOf(size: number | readonly [number, number]): [number, number] {
  return typeof size === 'number' ? [size, size] : [size[0], size[1]];
}

function imageSize(s: Sample): [number, number] {
  return s.image instanceof tf.Tensor ? [s.image.shape[0], s.image.shape[1]] : [s.image.height, s.image.width];
}

/** A sample's image as a float [H, W, 3] tensor in [0, 1] (a new tensor for pixels, the sample's own otherwise). */
function imageTensor(s: Sample): tf.Tensor3D {
  if (s.image instanceof tf.Tensor) return s.image;
  const { data, width, height } = s.image;
  return tf.tidy(() => tf.div(tf.tensor3d(Float32Array.from(data), [height, width, 3]), 255));
}

interface BatchSpec {
  size: [number, number];
  mean: RGB;
  std: RGB;
  rng?: Rng;
  augment?: AugmentOptions | false;
}

/** Samples → normalised NHWC batch (augmented when `rng` is given) and labels. */
function makeBatch(samples: readonly Sample[], spec: BatchSpec): { x: tf.Tensor4D; y: tf.Tensor1D } {
  return tf.tidy(() => {
    const imgs = samples.map((s) => {
      const img = imageTensor(s);
      if (spec.rng && spec.augment !== false) return augmentImage(img, spec.size, spec.rng, spec.augment ?? {});
      const [h, w] = img.shape;
      if (h === spec.size[0] && w === spec.size[1]) return img;
      return tf.squeeze(resizeBilinear(tf.expandDims(img, 0) as tf.Tensor4D, spec.size), [0]) as tf.Tensor3D;
    });
    const x = tf.div(tf.sub(tf.stack(imgs), tf.tensor1d([...spec.mean])), tf.tensor1d([...spec.std])) as tf.Tensor4D;
    return {
      x,
      y: tf.tensor1d(
        samples.map((s) => s.label),
        'int32',
      ),
    };
  });
}

async function readSamples(ds: Dataset, indices: readonly number[]): Promise<Sample[]> {
  if (!ds.get) throw new InvalidArgumentError('dataset: random access (get) is needed here');
  return Promise.all(indices.map((i) => ds.get!(i)));
}

export interface EvaluateOptions {
  batchSize?: number;
  inputSize?: number | readonly [number, number];
  mean?: RGB;
  std?: RGB;
}

/**
 * Top-1 / top-5 accuracy and mean cross-entropy of `model` on `dataset` (timm's `validate`), in eval
 * mode, every sample once (the last batch may be smaller). Images are resized to `inputSize` if needed.
 */
export async function evaluate(
  model: Classifier,
  dataset: Dataset,
  options: EvaluateOptions = {},
): Promise<EvalResult> {
  const bs = options.batchSize ?? 128;
  const wasTraining = model.training;
  model.eval();
  let loss = 0;
  let c1 = 0;
  let c5 = 0;
  let n = 0;
  let size = options.inputSize ? sideOf(options.inputSize) : undefined;
  const run = async (batch: Sample[]) => {
    size ??= imageSize(batch[0]!);
    const { x, y } = makeBatch(batch, { size, mean: options.mean ?? IMAGENET_MEAN, std: options.std ?? IMAGENET_STD });
    const logits = model.forward(x);
    const l = labelSmoothingCrossEntropy(logits, y, 0);
    try {
      loss += (await l.data())[0]! * batch.length;
      const [a, b] = await topkCorrect(
        logits,
        batch.map((s) => s.label),
        [1, 5],
      );
      c1 += a!;
      c5 += b!;
      n += batch.length;
    } finally {
      tf.dispose([x, y, logits, l]);
    }
  };
  try {
    let batch: Sample[] = [];
    for await (const s of dataset) {
      batch.push(s);
      if (batch.length === bs) {
        await run(batch);
        batch = [];
        await tick();
      }
    }
    if (batch.length) await run(batch);
  } finally {
    model.train(wasTraining);
  }
  return { loss: n ? loss / n : Number.NaN, top1: n ? c1 / n : 0, top5: n ? c5 / n : 0, count: n };
}

/** The order of epoch e's samples: a fixed function of the seed and the epoch (so a resumed run repeats it). */
function epochOrder(ds: Dataset, seed: number, epoch: number): number[] {
  if (!ds.get) return Array.from({ length: ds.length }, (_, i) => i);
  return permutation(ds.length, new Rng((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0));
}

/**
 * Float buffers (BatchNorm running statistics) and host counters, to undo a failed forward: `undo(true)`
 * puts them back, `undo(false)` keeps the model as it is; both free the copies.
 */
function snapshotBuffers(model: Module): (restore: boolean) => void {
  const saved: Array<[Parameter, tf.Tensor]> = [];
  const host: Array<[{ value: bigint }, bigint]> = [];
  for (const e of model.namedEntries()) {
    if (e.kind !== 'buffer') continue;
    if (e.ref instanceof Parameter) saved.push([e.ref, tf.clone(e.ref.variable)]);
    else host.push([e.ref, e.ref.value]);
  }
  return (restore) => {
    if (restore) {
      for (const [p, t] of saved) p.variable.assign(t);
      for (const [b, v] of host) b.value = v;
    }
    tf.dispose(saved.map(([, t]) => t));
  };
}

/**
 * Train `model` (a classifier built by the registry, e.g. with `numClasses` for fine-tuning) on
 * `options.dataset`. Runs on the active tfjs backend; registers tfjs's gradients when needed
 * ({@link ensureGradients}). A non-finite loss stops training with a `NumericError`; the model, the
 * optimizer and the BatchNorm statistics then hold the last good update, and the store the last checkpoint.
 * The model trains in training mode: BatchNorm on batch statistics, stochastic depth at the rate it was
 * built with (`createModel(name, { dropPathRate })`, default the variant's official rate), its masks
 * drawn from the seeded generator so that a resumed run repeats them.
 */
export async function train(model: Classifier, options: TrainOptions): Promise<TrainResult> {
  await ensureGradients();
  const ds = options.dataset;
  if (ds.numClasses > model.numClasses)
    throw new InvalidArgumentError(`train: the dataset has ${ds.numClasses} classes, the model ${model.numClasses}`);
  const epochs = options.epochs;
  const bs = options.batchSize ?? 128;
  const accum = options.accumulate ?? 1;
  if (!(Number.isInteger(epochs) && epochs > 0))
    throw new InvalidArgumentError(`train: epochs must be a positive integer, got ${epochs}`);
  if (!(Number.isInteger(bs) && bs > 0))
    throw new InvalidArgumentError(`train: batchSize must be a positive integer, got ${bs}`);
  if (!(Number.isInteger(accum) && accum > 0))
    throw new InvalidArgumentError(`train: accumulate must be a positive integer, got ${accum}`);
  const batches = Math.floor(ds.length / bs); // timm's training loader drops the last partial batch
  if (batches === 0)
    throw new InvalidArgumentError(`train: the dataset (${ds.length} samples) is smaller than one batch (${bs})`);
  const updatesPerEpoch = Math.ceil(batches / accum);
  const lastAccum = batches % accum || accum;
  const seed = options.seed ?? 42;
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const lr = options.lr ?? (5e-4 * bs * accum) / 512;
  const warmupEpochs = Math.min(options.warmupEpochs ?? 5, epochs - 1);
  const perStep = options.scheduleOn === 'step';
  const schedule = {
    lr,
    minLr: options.minLr ?? 1e-5,
    warmupLr: options.warmupLr ?? 1e-6,
    tInitial: perStep ? epochs * updatesPerEpoch : epochs,
    warmupT: perStep ? warmupEpochs * updatesPerEpoch : warmupEpochs,
  };
  const smoothing = options.labelSmoothing ?? 0.1;
  const wd = options.weightDecay ?? 0.05;
  const noWd = options.noWeightDecay ?? isNoWeightDecay;
  const headKeys = options.headKeys ?? HEAD_KEYS;
  const frozen = (options.freezeStages ?? []).flatMap(stagePrefixes);
  const isHead = (k: string) => headKeys.some((h) => k.startsWith(h));

  // parameters: frozen ones left out; weight decay and learning-rate scale per parameter
  const params: OptimizedParam[] = [];
  let total = 0;
  for (const [name, p] of model.namedParameters()) {
    total += p.size;
    if (frozen.some((f) => name.startsWith(f))) continue;
    params.push({
      name,
      variable: p.variable,
      weightDecay: noWd(name, p.torchShape) ? 0 : wd,
      lrScale: isHead(name) ? 1 : (options.backboneLrScale ?? 1),
      layout: p.layout,
      torchShape: p.torchShape,
    });
  }
  const byVarName = new Map(params.map((p) => [p.variable.name, p.name]));
  const vars = params.map((p) => p.variable);
  const optimizer = new AdamW(params, {
    ...(options.betas ? { betas: options.betas } : {}),
    ...(options.eps !== undefined ? { eps: options.eps } : {}),
  });
  const ema = options.ema !== undefined ? new ModelEma(model, options.ema) : undefined;
  const setTrainMode = () => {
    model.train();
    for (const [k, m] of model.namedModules()) if (frozen.includes(k)) m.eval();
  };

  // resume
  let state: TrainingState = {
    format: 'dynavit-train',
    version: 1,
    epoch: 0,
    batchInEpoch: 0,
    step: 0,
    rng: seed >>> 0,
    seed,
    epochLossSum: 0,
    epochSamples: 0,
    lr: cosineLr(0, schedule),
    history: [],
    ema: ema !== undefined,
    momentsLayout: 'torch',
  };
  let resumed = false;
  if (options.resume && options.store) {
    const ck = await loadCheckpoint(options.store);
    if (ck) {
      model.loadStateDict(ck.model, { source: 'training checkpoint' });
      optimizer.loadStateDict(ck.optimizer, ck.state.step, ck.state.momentsLayout ?? 'device-v1');
      if (ema && ck.ema) ema.loadStateDict(ck.ema);
      state = { ...ck.state, momentsLayout: 'torch' }; // the next checkpoint writes them in PyTorch's layout
      resumed = true;
    }
  }
  const rng = new Rng(state.rng);
  const stochasticDepth = [...model.namedModules()].some(([, m]) => m instanceof DropPath && m.p > 0);
  let size = options.inputSize ? sideOf(options.inputSize) : undefined;
  const emit = async (e: TrainEvent) => {
    await options.onEvent?.(e);
  };
  const checkpoint = async () => {
    if (!options.store) return;
    state.rng = rng.state;
    await saveCheckpoint(options.store, {
      state: structuredClone(state),
      model: model.stateDict(),
      optimizer: optimizer.stateDict(),
      ...(ema ? { ema: ema.stateDict() } : {}),
    });
    await emit({ type: 'checkpoint', epoch: state.epoch, step: state.step, batchInEpoch: state.batchInEpoch });
  };

  await emit({
    type: 'start',
    epochs,
    updatesPerEpoch,
    batchesPerEpoch: batches,
    step: state.step,
    epoch: state.epoch,
    resumed,
    parameters: total,
    trainable: params.reduce((a, p) => a + p.variable.size, 0),
  });
  let emaWeights: StateDict | undefined;
  try {
    for (; state.epoch < epochs; state.epoch++) {
      const epoch = state.epoch;
      const t0 = performance.now();
      const order = epochOrder(ds, state.seed, epoch);
      const iter = ds.get ? undefined : ds[Symbol.asyncIterator]();
      if (iter) for (let b = 0; b < state.batchInEpoch * bs; b++) await iter.next(); // a stream: skip what was done
      setTrainMode();
      while (state.batchInEpoch < batches) {
        if (options.signal?.aborted)
          return { history: state.history, step: state.step, ...(ema ? { ema: ema.stateDict() } : {}) };
        // one update: `group` micro-batches (the epoch's last update may have fewer, as timm's last_accum_steps)
        const first = state.batchInEpoch;
        const group = first >= batches - lastAccum ? lastAccum : accum;
        const stepLr = perStep ? cosineLr(state.step, schedule) : cosineLr(epoch, schedule);
        const tStart = performance.now();
        const undo = snapshotBuffers(model);
        const grads = new Map<string, tf.Tensor>();
        let lossSum = 0;
        try {
          for (let k = 0; k < group; k++) {
            const b = first + k;
            let samples: Sample[];
            if (iter) {
              samples = [];
              for (let j = 0; j < bs; j++) {
                const r = await iter.next();
                if (r.done) throw new InvalidArgumentError(`train: the dataset ended before its length (${ds.length})`);
                samples.push(r.value);
              }
            } else samples = await readSamples(ds, order.slice(b * bs, (b + 1) * bs));
            size ??= imageSize(samples[0]!);
            const { x, y } = makeBatch(samples, { size, mean, std, rng, augment: options.augment ?? {} });
            // drop-path masks from the trainer's generator: the same on every backend and after a resume
            if (stochasticDepth) seedDropPaths(model, rng.seed());
            const { value, grads: g } = tf.variableGrads(
              () => tf.div(labelSmoothingCrossEntropy(model.forward(x), y, smoothing), group) as tf.Scalar,
              vars,
            );
            // asynchronous read-back: no GPU stall (and SwiftShader's synchronous one returns zeros)
            const l = (await value.data())[0]! * group;
            tf.dispose([x, y, value]);
            for (const [vn, t] of Object.entries(g)) {
              const name = byVarName.get(vn)!;
              const prev = grads.get(name);
              if (prev) {
                grads.set(name, tf.add(prev, t));
                tf.dispose([prev, t]);
              } else grads.set(name, t);
            }
            if (!Number.isFinite(l))
              throw new NumericError(
                `training loss is ${l} at epoch ${epoch}, update ${state.step + 1} (micro-batch ${b} of ${batches}); the model, the optimizer and the BatchNorm statistics hold the last good update (${state.step}). Lower the learning rate or clip gradients (clipGrad).`,
              );
            lossSum += l * bs;
            await tick();
          }
        } catch (e) {
          undo(true);
          tf.dispose([...grads.values()]);
          throw e;
        }
        undo(false);
        let final = grads;
        let gradNorm: number | undefined;
        if (options.clipGrad !== undefined) {
          const c = await clipGradNorm(grads, options.clipGrad);
          final = c.grads;
          gradNorm = c.norm;
        }
        optimizer.apply(final, stepLr);
        tf.dispose([...final.values()]);
        ema?.update();
        state.step++;
        state.batchInEpoch += group;
        state.epochLossSum += lossSum;
        state.epochSamples += group * bs;
        state.lr = stepLr;
        const dt = (performance.now() - tStart) / 1000;
        await emit({
          type: 'step',
          epoch,
          step: state.step,
          batch: state.batchInEpoch,
          batches,
          loss: lossSum / (group * bs),
          lr: stepLr,
          ...(gradNorm !== undefined ? { gradNorm } : {}),
          imagesPerSecond: (group * bs) / dt,
        });
        if (
          options.checkpointEverySteps &&
          state.step % options.checkpointEverySteps === 0 &&
          state.batchInEpoch < batches
        )
          await checkpoint();
        await tick();
      }
      // end of epoch: evaluate (model, then EMA), record, checkpoint
      const summary: EpochSummary = { epoch, trainLoss: state.epochLossSum / state.epochSamples, lr: state.lr };
      const evalOpts = { batchSize: bs, ...(size ? { inputSize: size } : {}), mean, std };
      if (options.evalDataset) {
        summary.eval = await evaluate(model, options.evalDataset, evalOpts);
        if (ema) summary.evalEma = await ema.withWeights(() => evaluate(model, options.evalDataset!, evalOpts));
      }
      state.history.push(summary);
      state.batchInEpoch = 0;
      state.epochLossSum = 0;
      state.epochSamples = 0;
      await emit({ type: 'epoch', seconds: (performance.now() - t0) / 1000, ...summary });
      if (options.store && ((epoch + 1) % (options.checkpointEvery ?? 1) === 0 || epoch + 1 === epochs)) {
        state.epoch++;
        await checkpoint();
        state.epoch--;
      }
    }
  } finally {
    model.eval();
    optimizer.dispose();
    emaWeights = ema?.stateDict(); // also on an abort or an error: the EMA copies are freed either way
    ema?.dispose();
  }
  await emit({ type: 'end', step: state.step, history: state.history });
  return { history: state.history, step: state.step, ...(emaWeights ? { ema: emaWeights } : {}) };
}

export interface FineTuneLoadResult {
  /** keys loaded from the checkpoint */
  loaded: string[];
  /** head parameters re-initialised (trunc-normal std 0.02 weights, zero biases) */
  reinitialised: string[];
  /** checkpoint keys the model does not have (ignored) */
  unexpected: string[];
}

/**
 * Load pretrained weights for fine-tuning, as the official fine-tuning code does (timm / DeiT: drop the
 * checkpoint's classifier when its shape differs, load the rest, keep the fresh head): every key whose
 * shape matches is loaded; the classifier head (`headKeys`) is re-initialised with core's
 * `initializeWeights` (linear weights truncated normal std 0.02, biases 0) when any of its tensors is
 * missing or misshapen (a new number of classes). Any other missing or misshapen key is an error.
 */
export function loadForFineTuning(
  model: Classifier,
  weights: StateDict,
  options: { headKeys?: readonly string[]; seed?: number } = {},
): FineTuneLoadResult {
  const headKeys = options.headKeys ?? HEAD_KEYS;
  const headOf = (k: string) => headKeys.find((h) => k.startsWith(h));
  const fits = (k: string, s: readonly number[]) => {
    const w = weights.get(k);
    return w !== undefined && w.shape.length === s.length && w.shape.every((d, i) => d === s[i]);
  };
  const entries = [...model.namedEntries()].filter((e) => e.ref instanceof Parameter);
  const misfits = entries.filter((e) => !fits(e.key, e.torchShape)).map((e) => e.key);
  const backboneMisfits = misfits.filter((k) => headOf(k) === undefined);
  if (backboneMisfits.length)
    throw new InvalidArgumentError(
      `loadForFineTuning: the checkpoint does not fit the backbone (missing or misshapen): ${backboneMisfits.slice(0, 12).join(', ')}${backboneMisfits.length > 12 ? ', …' : ''}`,
    );
  const heads = new Set(misfits.map((k) => headOf(k)!));
  const keep: StateDict = new Map();
  for (const e of entries) {
    const h = headOf(e.key);
    if (h === undefined || !heads.has(h)) keep.set(e.key, weights.get(e.key)!);
  }
  // integer buffers (BatchNorm's num_batches_tracked) come along when the checkpoint has them, as in torch
  for (const e of model.namedEntries())
    if (!(e.ref instanceof Parameter) && headOf(e.key) === undefined && weights.has(e.key))
      keep.set(e.key, weights.get(e.key)!);
  model.loadStateDict(keep, { strict: false });
  const reinitialised: string[] = [];
  for (const [prefix, m] of model.namedModules())
    if (heads.has(prefix)) {
      for (const [, p] of m.namedParameters()) tf.tidy(() => p.variable.assign(tf.zerosLike(p.variable))); // biases stay 0
      initializeWeights(m, options.seed ?? 0);
      for (const [k] of m.namedParameters(prefix)) reinitialised.push(k);
    }
  const known = new Set(model.stateDictShapes().map(([k]) => k));
  return { loaded: [...keep.keys()], reinitialised, unexpected: [...weights.keys()].filter((k) => !known.has(k)) };
}
