/**
 * `dynavit train --model NAME --data DATA --epochs N --out DIR [options]`: `@dynavit/train`'s `train()`
 * from the command line, with timm `train.py`'s defaults (AdamW lr 5e-4 × batch/512, weight decay 0.05,
 * 5 warm-up epochs, label smoothing 0.1, seed 42, random-resized crop and flip) but batch 64 instead of 128
 * ({@link DEFAULT_BATCH}: the wasm backend's 4 GiB heap).
 *
 * DIR receives `run.json` (the run's options, what `--resume DIR` and `dynavit eval` read), the
 * checkpoint (`checkpoint.json` → `checkpoint-<step>/`: weights as safetensors, optimizer, EMA, JSON
 * state; written all-or-nothing by {@link FileCheckpointStore}) after every epoch, and at the end
 * `model.safetensors` (the final weights, PyTorch keys, with the model's name, classes and input size in
 * its metadata), `model_ema.safetensors` with `--ema`, `curves.png` with `--plot`.
 *
 * Progress: a bar and a line per epoch on a terminal; otherwise one JSON object per line (the trainer's
 * events). The last line is always one JSON object: the run's result.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AttentionOverrides,
  BudgetError,
  type Classifier,
  CheckpointError,
  FileError,
  InvalidArgumentError,
  initializeWeights,
  NumericError,
  printable,
  type StateDict,
  writeSafetensors,
} from '@dynavit/core';
import type { Dataset, EpochSummary, TrainEvent, TrainOptions } from '@dynavit/train';
import { attentionOption, describeOverrides } from '../attention-option.js';
import { checkInputFile, checkOutputDir, writeFileAtomic } from '../files.js';
import { IMAGE_MAX_MEGAPIXELS, checkMinSize, maxPixels, positiveInt } from '../options.js';
import { progressBar } from '../progress.js';
import { median } from '../stats.js';
import { createRegistry } from '../registry.js';
import { FileCheckpointStore } from '../train/checkpoint-store.js';
import { limitDataset, openData, splitDataset } from '../train/datasets.js';
import { writeCurvesPng } from '../train/plot.js';
import { readWeightsFile } from '../weights.js';
import { type CommandContext, type CommandOptions, defineCommand, UsageError } from './command.js';

/**
 * The CLI's default batch: 64, not timm's 128. Training keeps every activation for the backward pass, and the
 * wasm backend's heap ends at 4 GiB: dat_fmnist at 64×64 needs ~4.4 GB at 128 (it fails), ~2.2 GB at 64.
 */
export const DEFAULT_BATCH = 64;

/**
 * A WebAssembly heap exhausted (wasm32 ends at 4 GiB; tfjs-wasm's allocation then fails inside a kernel as a
 * RuntimeError) or a JS allocation refused: a typed error saying what to lower; undefined for anything else.
 */
export function outOfMemory(e: unknown, backend: string, what: string, training: boolean): BudgetError | undefined {
  const wasmTrap = e instanceof WebAssembly.RuntimeError;
  const jsAlloc =
    e instanceof RangeError && /allocation failed|Invalid typed array length|Array buffer/i.test(e.message);
  if (!wasmTrap && !jsAlloc) return undefined;
  const heap = backend === 'wasm' ? "the wasm backend's memory (at most 4 GiB)" : `the ${backend} backend's memory`;
  return new BudgetError(
    `${what} ran out of ${heap} (${printable((e as Error).message, 80)}): lower --batch-size` +
      (training ? ' (--accum-steps N keeps the effective batch) or --size' : ''),
  );
}

const options = {
  model: { type: 'string' },
  data: { type: 'string' },
  epochs: { type: 'string' },
  out: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  'min-lr': { type: 'string' },
  'weight-decay': { type: 'string' },
  'warmup-epochs': { type: 'string' },
  'sched-on-updates': { type: 'boolean' },
  smoothing: { type: 'string' },
  'drop-path': { type: 'string' },
  'clip-grad': { type: 'string' },
  ema: { type: 'boolean' },
  'ema-decay': { type: 'string' },
  'accum-steps': { type: 'string' },
  'no-aug': { type: 'boolean' },
  limit: { type: 'string' },
  'val-split': { type: 'string' },
  size: { type: 'string' },
  'num-classes': { type: 'string' },
  attention: { type: 'string' },
  weights: { type: 'string' },
  'freeze-stages': { type: 'string' },
  'backbone-lr-scale': { type: 'string' },
  'checkpoint-steps': { type: 'string' },
  resume: { type: 'string' },
  seed: { type: 'string' },
  plot: { type: 'boolean', default: false },
  'max-megapixels': { type: 'string' },
} as const satisfies CommandOptions;

export const trainCommand = defineCommand({
  name: 'train',
  usage:
    'train --model NAME --data DATA --epochs N --out DIR [--batch-size 64] [--lr 5e-4×batch/512] ' +
    '[--min-lr 1e-5] [--weight-decay 0.05] [--warmup-epochs 5] [--sched-on-updates] [--smoothing 0.1] [--drop-path R] [--clip-grad NORM] ' +
    '[--ema [--ema-decay 0.9998]] [--accum-steps 1] [--no-aug] [--limit N] [--val-split F] [--size S] ' +
    '[--num-classes N] [--attention STAGE=NAME,…] [--weights CKPT [--freeze-stages 0,1] ' +
    '[--backbone-lr-scale F]] [--checkpoint-steps N] [--resume DIR] [--seed 42] [--plot] [--max-megapixels 64]\n' +
    "train a classifier (timm train.py's defaults but batch 64, for wasm's 4 GiB; *_fmnist are small models to train from scratch).\n" +
    'DATA: fashion-mnist (Debian dataset-fashion-mnist), a folder of class folders (or train/ and val/), ' +
    'a CSV of path,label, or a folder of IDX files. --weights fine-tunes (a new number of classes gets a fresh ' +
    'head); --resume DIR continues a run exactly. DIR gets run.json, checkpoints, model.safetensors',
  options,
  backend: { default: 'auto' },
  run: trainRun,
});

/** The options a run is defined by (run.json); a resumed run takes them from there. */
export interface RunRecord {
  format: 'dynavit-train-run';
  version: 1;
  model: string;
  data: string;
  dataDescription: string;
  epochs: number;
  batchSize: number;
  lr?: number;
  minLr?: number;
  weightDecay?: number;
  warmupEpochs?: number;
  /** the rate set at every update (timm `--sched-on-updates`), not once per epoch */
  schedOnUpdates?: boolean;
  smoothing?: number;
  clipGrad?: number;
  ema?: number;
  accumSteps: number;
  augment: boolean;
  limit?: number;
  valSplit?: number;
  size: number;
  numClasses: number;
  classes: string[];
  attention?: Record<string, string>;
  weights?: string;
  freezeStages?: number[];
  backboneLrScale?: number;
  checkpointSteps?: number;
  /** stochastic depth rate (the model's drop_path_rate) when --drop-path was given */
  dropPath?: number;
  seed: number;
}

/** `--NAME` as a finite number in [min, max] (undefined when not given). */
function num(name: string, v: string | undefined, min: number, max: number, openMin = false): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || (openMin && n === min) || n > max)
    throw new InvalidArgumentError(
      `--${name} must be a number ${openMin ? '>' : '≥'} ${min}${max < Number.MAX_VALUE ? ` and ≤ ${max}` : ''}, got "${v}"`,
    );
  return n;
}

const optInt = (name: string, v: string | undefined) => (v === undefined ? undefined : positiveInt(name, v, 1));

function stagesList(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const s = v.split(',').map((x) => x.trim());
  if (!s.every((x) => /^[0-3]$/.test(x)))
    throw new InvalidArgumentError(`--freeze-stages must be stage indices 0–3, comma-separated (e.g. 0,1), got "${v}"`);
  return [...new Set(s.map(Number))].sort();
}

/** run.json keys for the CLI options that define a run (compared on --resume). */
const RECORD_KEYS: Record<string, keyof RunRecord> = {
  model: 'model',
  data: 'data',
  'batch-size': 'batchSize',
  lr: 'lr',
  'min-lr': 'minLr',
  'weight-decay': 'weightDecay',
  'warmup-epochs': 'warmupEpochs',
  smoothing: 'smoothing',
  'clip-grad': 'clipGrad',
  'accum-steps': 'accumSteps',
  limit: 'limit',
  'val-split': 'valSplit',
  size: 'size',
  'num-classes': 'numClasses',
  weights: 'weights',
  'freeze-stages': 'freezeStages',
  'backbone-lr-scale': 'backboneLrScale',
  'checkpoint-steps': 'checkpointSteps',
  'drop-path': 'dropPath',
  seed: 'seed',
};

async function readRunRecord(dir: string): Promise<RunRecord> {
  const path = join(dir, 'run.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new FileError(`--resume ${dir}: no run.json there (not a dynavit train output folder)`);
    throw new FileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const r = JSON.parse(text) as RunRecord;
    if (r.format !== 'dynavit-train-run') throw new Error('format');
    return r;
  } catch {
    throw new CheckpointError(`${path}: not a dynavit training run record`);
  }
}

type Values = CommandContext<typeof options>['values'];

/** The run's definition from the command line (a new run). */
async function recordFromOptions(
  values: Values,
): Promise<
  Omit<RunRecord, 'dataDescription' | 'classes' | 'numClasses' | 'size'> & { size?: number; numClasses?: number }
> {
  if (!values.model) throw new UsageError('train needs --model NAME (see `dynavit list`), or --resume DIR');
  if (!values.data) throw new UsageError('train needs --data DATA (fashion-mnist, a folder of class folders, a CSV)');
  if (values.epochs === undefined) throw new UsageError('train needs --epochs N');
  if (!values.out) throw new UsageError('train needs --out DIR (where checkpoints and the weights go)');
  const ema = values.ema ? (num('ema-decay', values['ema-decay'] ?? '0.9998', 0, 1) ?? 0.9998) : undefined;
  if (!values.ema && values['ema-decay'] !== undefined) throw new InvalidArgumentError('--ema-decay needs --ema');
  if (
    values.weights === undefined &&
    (values['freeze-stages'] !== undefined || values['backbone-lr-scale'] !== undefined)
  )
    throw new InvalidArgumentError(
      '--freeze-stages and --backbone-lr-scale are for fine-tuning: they need --weights CKPT',
    );
  const r = {
    format: 'dynavit-train-run' as const,
    version: 1 as const,
    model: values.model,
    data: values.data,
    epochs: positiveInt('epochs', values.epochs, 1, 100_000),
    batchSize: positiveInt('batch-size', values['batch-size'], DEFAULT_BATCH, 65_536),
    lr: num('lr', values.lr, 0, 1e38, true),
    minLr: num('min-lr', values['min-lr'], 0, 1e38),
    weightDecay: num('weight-decay', values['weight-decay'], 0, 1e38),
    warmupEpochs: num('warmup-epochs', values['warmup-epochs'], 0, 100_000),
    schedOnUpdates: values['sched-on-updates'] ? true : undefined,
    smoothing: num('smoothing', values.smoothing, 0, 1),
    clipGrad: num('clip-grad', values['clip-grad'], 0, 1e38, true),
    ema,
    accumSteps: positiveInt('accum-steps', values['accum-steps'], 1, 4096),
    augment: !values['no-aug'],
    limit: optInt('limit', values.limit),
    valSplit: num('val-split', values['val-split'], 0, 1, true),
    size: optInt('size', values.size),
    numClasses: optInt('num-classes', values['num-classes']),
    weights: values.weights,
    freezeStages: stagesList(values['freeze-stages']),
    backboneLrScale: num('backbone-lr-scale', values['backbone-lr-scale'], 0, 1e6),
    checkpointSteps: optInt('checkpoint-steps', values['checkpoint-steps']),
    dropPath: num('drop-path', values['drop-path'], 0, 1),
    seed: values.seed === undefined ? 42 : Number(values.seed),
  };
  if (!Number.isSafeInteger(r.seed) || r.seed < 0)
    throw new InvalidArgumentError(`--seed must be an integer ≥ 0, got "${values.seed}"`);
  if (r.warmupEpochs !== undefined && !Number.isInteger(r.warmupEpochs))
    throw new InvalidArgumentError(`--warmup-epochs must be a whole number, got "${values['warmup-epochs']}"`);
  if (r.valSplit !== undefined && r.valSplit >= 1)
    throw new InvalidArgumentError(`--val-split must be below 1, got "${values['val-split']}"`);
  if (r.dropPath !== undefined && r.dropPath >= 1)
    throw new InvalidArgumentError(`--drop-path must be below 1, got "${values['drop-path']}"`);
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as typeof r;
}

/** --resume DIR: the recorded run, with every option given on the command line checked against it. */
async function recordForResume(values: Values, dir: string): Promise<RunRecord> {
  if (values.out !== undefined && values.out !== dir)
    throw new InvalidArgumentError(
      `--resume ${dir} continues in ${dir}; drop --out ${values.out} (or give the same folder)`,
    );
  const rec = await readRunRecord(dir);
  const given = await recordFromOptions({
    model: rec.model,
    data: rec.data,
    epochs: String(rec.epochs),
    out: dir,
    ...values,
  });
  for (const [flag, key] of Object.entries(RECORD_KEYS)) {
    if ((values as Record<string, unknown>)[flag] === undefined) continue;
    const a = JSON.stringify(given[key as keyof typeof given]);
    const b = JSON.stringify(rec[key]);
    if (a !== b)
      throw new InvalidArgumentError(
        `--${flag} ${printable(String((values as Record<string, unknown>)[flag]), 80)} differs from the run being resumed (${b ?? 'not set'} in ${join(dir, 'run.json')}); a resumed run keeps its options`,
      );
  }
  for (const flag of ['ema', 'no-aug', 'sched-on-updates', 'attention'] as const)
    if (values[flag] !== undefined)
      throw new InvalidArgumentError(`--${flag}: a resumed run keeps its options (${join(dir, 'run.json')})`);
  if (values.epochs !== undefined && given.epochs !== rec.epochs)
    throw new InvalidArgumentError(
      `--epochs ${given.epochs} differs from the run being resumed (${rec.epochs}): the learning-rate schedule depends on it`,
    );
  return rec;
}

function fmtPct(v: number | undefined): string {
  return v === undefined ? '–' : `${(100 * v).toFixed(2)}%`;
}

/** Final weights with what `dynavit eval` needs to rebuild the model in the safetensors metadata. */
function finalWeights(sd: StateDict, rec: RunRecord, step: number): Uint8Array {
  return writeSafetensors(sd, {
    format: 'pt',
    dynavit_model: rec.model,
    dynavit_num_classes: String(rec.numClasses),
    dynavit_input_size: String(rec.size),
    dynavit_classes: JSON.stringify(rec.classes),
    ...(rec.attention ? { dynavit_attention: JSON.stringify(rec.attention) } : {}),
    step: String(step),
  });
}

/** The header check's bar (on a terminal), created when the total is known; `done` ends it and allows a next one. */
export function scanProgress(): { update(done: number, total: number): void; done(): void } {
  let bar: ReturnType<typeof progressBar> | undefined;
  return {
    update(done, total) {
      bar ??= progressBar(total, 'checking images');
      bar.update(done);
    },
    done() {
      bar?.done();
      bar = undefined;
    },
  };
}

async function trainRun(ctx: CommandContext<typeof options>): Promise<number> {
  const { values, out, warn } = ctx;
  const resumeDir = values.resume;
  const registry = createRegistry();
  let rec: RunRecord | undefined;
  let partial: Awaited<ReturnType<typeof recordFromOptions>>;
  let attention: AttentionOverrides | undefined;
  if (resumeDir !== undefined) {
    rec = await recordForResume(values, resumeDir);
    partial = rec;
    attention = rec.attention;
  } else {
    partial = await recordFromOptions(values);
    attention = attentionOption(values.attention, registry, partial.model);
  }
  const dir = resumeDir ?? values.out!;
  const { variant } = registry.variant(partial.model);
  if (variant.kind !== 'classifier')
    throw new InvalidArgumentError(
      `train: ${partial.model} is a ${variant.kind}; training is for classifiers (dynavit list)`,
    );
  const pixels = maxPixels(values['max-megapixels'], IMAGE_MAX_MEGAPIXELS);
  // cheap checks first: the weights file, the output folder
  const weightsArg = partial.weights;
  await checkOutputDir(dir);
  const store = new FileCheckpointStore(dir);
  const hasCheckpoint = (await store.pointer()) !== undefined;
  // the fine-tuning weights are read only when there is no checkpoint to continue from
  if (weightsArg !== undefined && weightsArg !== 'pretrained' && !hasCheckpoint) await checkInputFile(weightsArg);
  if (resumeDir === undefined && hasCheckpoint)
    throw new InvalidArgumentError(
      `${dir} already holds a training checkpoint: continue it with --resume ${dir}, or pick another --out`,
    );

  const backend = await ctx.useBackend();
  const tty = process.stdout.isTTY === true;
  const size = partial.size ?? variant.input?.size[0] ?? 224;
  // a probe model for the smallest input side (the real one needs the number of classes)
  const probe = registry.createModel(partial.model, attention ? { attention } : {}) as Classifier;
  const minSide = probe.minInputSize;
  probe.dispose();
  checkMinSize(partial.model, size, minSide);

  // data
  const scan = scanProgress();
  const openOpts = {
    size,
    minSide,
    maxPixels: pixels,
    ...(partial.numClasses !== undefined ? { numClasses: partial.numClasses } : {}),
    ...(rec ? { classes: rec.classes, numClasses: rec.numClasses } : {}),
    onScan: scan.update,
  };
  const trainData = await openData(partial.data, { ...openOpts, split: 'train' });
  scan.done();
  let trainSet: Dataset = limitDataset(trainData.dataset, partial.limit);
  let valSet: Dataset | undefined;
  if (partial.valSplit !== undefined) {
    const s = splitDataset(trainSet, partial.valSplit, partial.seed);
    trainSet = s.train;
    valSet = s.val;
  } else if (trainData.hasTestSplit) {
    const test = await openData(partial.data, {
      ...openOpts,
      split: 'test',
      classes: trainData.classes,
      numClasses: trainData.dataset.numClasses,
    });
    scan.done();
    valSet = limitDataset(test.dataset, partial.limit);
  }
  const numClasses = partial.numClasses ?? trainData.dataset.numClasses;
  rec ??= {
    ...partial,
    size,
    numClasses,
    classes: trainData.classes,
    dataDescription: trainData.description,
    ...(attention ? { attention: Object.fromEntries(Object.entries(attention).map(([k, v]) => [k, String(v)])) } : {}),
  } as RunRecord;
  if (resumeDir === undefined) await writeFileAtomic(join(dir, 'run.json'), `${JSON.stringify(rec, null, 1)}\n`);

  // the model: fresh (from scratch), or fine-tuned from --weights (its head re-initialised when the classes differ)
  const model = registry.createModel(rec.model, {
    numClasses: rec.numClasses,
    ...(rec.dropPath !== undefined ? { dropPathRate: rec.dropPath } : {}),
    ...(attention ? { attention } : {}),
  });
  if (model.kind !== 'classifier') throw new InvalidArgumentError(`${rec.model} is not a classifier`);
  const train = await import('@dynavit/train');
  const steps: [number, number][] = [];
  const rates: number[] = []; // images/s of each update of this process
  let history: EpochSummary[] = [];
  let updatesPerEpoch = 1;
  let bar: ReturnType<typeof progressBar> | undefined;
  // from scratch: the official initialisation (trunc-normal linear weights …), seeded
  initializeWeights(model, rec.seed);
  try {
    if (weightsArg !== undefined && !hasCheckpoint) {
      let path = weightsArg;
      if (weightsArg === 'pretrained') {
        const { fetchRelease } = await import('../cache.js');
        path = (await fetchRelease(registry.findPretrained({ model: rec.model, task: 'image-classification' }))).path;
      }
      const w = await readWeightsFile(path, {
        ...(variant.checkpointKey ? { preferKeys: [variant.checkpointKey] } : {}),
        warn,
      });
      const r = train.loadForFineTuning(model, w.tensors, { seed: rec.seed });
      warn(
        `dynavit: fine-tuning from ${path}: ${r.loaded.length} tensors loaded` +
          (r.reinitialised.length
            ? `, head re-initialised for ${rec.numClasses} classes (${r.reinitialised.join(', ')})`
            : '') +
          (r.unexpected.length ? `, ${r.unexpected.length} checkpoint tensors not in the model ignored` : ''),
      );
    }
    if (attention) warn(`dynavit: attention: ${describeOverrides(attention)}`);
    const onEvent = async (e: TrainEvent) => {
      if (e.type === 'step') {
        steps.push([e.epoch + e.batch / e.batches, e.loss]);
        rates.push(e.imagesPerSecond);
      }
      if (e.type === 'start') updatesPerEpoch = e.updatesPerEpoch;
      if (!tty) {
        out(JSON.stringify(e.type === 'end' ? { type: 'end', step: e.step } : e));
        return;
      }
      if (e.type === 'start')
        warn(
          `dynavit: training ${rec!.model} (${e.parameters.toLocaleString('en-US')} parameters, ${e.trainable.toLocaleString('en-US')} trained) on ${backend.backend}: ` +
            `${trainSet.length} images, ${rec!.numClasses} classes, ${e.epochs} epochs of ${e.updatesPerEpoch} updates${e.resumed ? `, resumed at epoch ${e.epoch + 1}, update ${e.step}` : ''}`,
        );
      if (e.type === 'step') {
        bar ??= progressBar(e.batches, `epoch ${e.epoch + 1}/${rec!.epochs}`);
        bar.update(
          e.batch,
          `loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.imagesPerSecond.toFixed(1)} img/s`,
        );
      }
      if (e.type === 'epoch') {
        bar?.done();
        bar = undefined;
        out(
          `epoch ${e.epoch + 1}/${rec!.epochs}: train loss ${e.trainLoss.toFixed(4)}` +
            (e.eval
              ? `, val loss ${e.eval.loss.toFixed(4)} top-1 ${fmtPct(e.eval.top1)} top-5 ${fmtPct(e.eval.top5)}`
              : '') +
            (e.evalEma ? `, EMA top-1 ${fmtPct(e.evalEma.top1)}` : '') +
            ` (${e.seconds.toFixed(1)} s)`,
        );
      }
    };
    const opts: TrainOptions = {
      dataset: trainSet,
      ...(valSet ? { evalDataset: valSet } : {}),
      epochs: rec.epochs,
      batchSize: rec.batchSize,
      accumulate: rec.accumSteps,
      inputSize: rec.size,
      ...(rec.lr !== undefined ? { lr: rec.lr } : {}),
      ...(rec.minLr !== undefined ? { minLr: rec.minLr } : {}),
      ...(rec.weightDecay !== undefined ? { weightDecay: rec.weightDecay } : {}),
      ...(rec.warmupEpochs !== undefined ? { warmupEpochs: rec.warmupEpochs } : {}),
      ...(rec.schedOnUpdates ? { scheduleOn: 'step' as const } : {}),
      ...(rec.smoothing !== undefined ? { labelSmoothing: rec.smoothing } : {}),
      ...(rec.clipGrad !== undefined ? { clipGrad: rec.clipGrad } : {}),
      ...(rec.ema !== undefined ? { ema: rec.ema } : {}),
      ...(rec.augment ? {} : { augment: false as const }),
      ...(rec.freezeStages ? { freezeStages: rec.freezeStages } : {}),
      ...(rec.backboneLrScale !== undefined ? { backboneLrScale: rec.backboneLrScale } : {}),
      ...(rec.checkpointSteps !== undefined ? { checkpointEverySteps: rec.checkpointSteps } : {}),
      seed: rec.seed,
      store,
      resume: true,
      onEvent,
    };
    if (trainSet.length < rec.batchSize)
      throw new InvalidArgumentError(
        `train: ${trainSet.length} training images are fewer than one batch (--batch-size ${rec.batchSize}); lower --batch-size`,
      );
    let result: Awaited<ReturnType<typeof train.train>>;
    try {
      result = await train.train(model, opts);
    } catch (e) {
      bar?.done();
      if (e instanceof NumericError) {
        const p = await store.pointer();
        const msg = e.message.replace(
          'Lower the learning rate or clip gradients (clipGrad).',
          'Lower --lr or clip gradients (--clip-grad).',
        );
        throw new NumericError(
          `${msg} Training stopped; ${p ? `the last good checkpoint (epoch ${p.epoch}, update ${p.step}) is in ${join(dir, p.current)}` : 'no checkpoint was written yet'}.`,
        );
      }
      throw outOfMemory(e, backend.backend, `training at --batch-size ${rec.batchSize}`, true) ?? e;
    }
    history = result.history;
    await writeFileAtomic(join(dir, 'model.safetensors'), finalWeights(model.stateDict(), rec, result.step));
    if (result.ema)
      await writeFileAtomic(join(dir, 'model_ema.safetensors'), finalWeights(result.ema, rec, result.step));
    if (values.plot)
      await writeCurvesPng(join(dir, 'curves.png'), {
        history,
        steps,
        title: `${rec.model} on ${rec.data}`,
      });
    const last = history.at(-1);
    out(
      JSON.stringify({
        type: 'result',
        model: rec.model,
        data: rec.dataDescription,
        backend: backend.backend,
        epochs: rec.epochs,
        steps: result.step,
        updatesPerEpoch,
        images: trainSet.length,
        trainLoss: last?.trainLoss ?? null,
        // the median update of this process (the first, which warms the kernels up, left out when there are others)
        imagesPerSecond: rates.length ? median(rates.length > 1 ? rates.slice(1) : rates) : null,
        ...(last?.eval
          ? { top1: last.eval.top1, top5: last.eval.top5, valLoss: last.eval.loss, valCount: last.eval.count }
          : {}),
        ...(last?.evalEma ? { emaTop1: last.evalEma.top1, emaTop5: last.evalEma.top5 } : {}),
        weights: join(dir, 'model.safetensors'),
        ...(result.ema ? { emaWeights: join(dir, 'model_ema.safetensors') } : {}),
        ...(values.plot ? { plot: join(dir, 'curves.png') } : {}),
        checkpoint: (await store.currentDir()) ?? null,
      }),
    );
  } finally {
    model.dispose();
  }
  return 0;
}
