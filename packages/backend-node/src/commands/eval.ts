/**
 * `dynavit eval --weights FILE --data DATA [--model NAME] [--limit N]`: top-1 / top-5 accuracy and the
 * mean cross-entropy of a classifier on a dataset's test split (fashion-mnist's t10k, a folder's val/ or
 * the whole folder, a CSV), with `@dynavit/train`'s `evaluate()` (eval mode, every image resized to the
 * model's input). The model, its classes and input size come from the weights' metadata (what
 * `dynavit train` writes) or from `run.json` beside a training checkpoint; `--model` names it otherwise
 * (the number of classes is then read from the head's weights). `--model` alone evaluates the weights
 * that ship with a model's package (`dat_fmnist`, `glnet_fmnist`). The last line is one JSON object.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type AttentionOverrides,
  type Classifier,
  findBundled,
  InvalidArgumentError,
  type StateDict,
} from '@dynavit/core';
import { attentionOption } from '../attention-option.js';
import { fetchRelease } from '../cache.js';
import { checkInputFile } from '../files.js';
import { IMAGE_MAX_MEGAPIXELS, checkMinSize, maxMemory, maxPixels, positiveInt } from '../options.js';
import { progressBar } from '../progress.js';
import { createRegistry } from '../registry.js';
import { countingDataset, limitDataset, openData } from '../train/datasets.js';
import { readWeightsFile } from '../weights.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';
import { outOfMemory, type RunRecord, scanProgress } from './train.js';

const options = {
  weights: { type: 'string' },
  data: { type: 'string' },
  model: { type: 'string' },
  limit: { type: 'string' },
  'batch-size': { type: 'string' },
  size: { type: 'string' },
  attention: { type: 'string' },
  key: { type: 'string' },
  'max-memory': { type: 'string' },
  'max-megapixels': { type: 'string' },
} as const satisfies CommandOptions;

export const evalCommand = defineCommand({
  name: 'eval',
  usage:
    'eval (--weights FILE [--model NAME] | --model NAME) --data DATA [--limit N] [--batch-size 64] [--size S] ' +
    '[--attention STAGE=NAME,…] [--key K] [--max-memory MiB] [--max-megapixels 64]\n' +
    'top-1/top-5 accuracy of a classifier on a dataset (the test split: fashion-mnist t10k, a folder, val/, a CSV); ' +
    'the model comes from what dynavit train wrote (or --model); the last line is JSON',
  options,
  backend: { default: 'auto' },
  run: evalRun,
});

interface ModelInfo {
  model: string;
  numClasses?: number;
  size?: number;
  classes?: string[];
  attention?: AttentionOverrides;
  from: string;
}

async function runRecordNear(file: string): Promise<RunRecord | undefined> {
  for (const dir of [dirname(file), dirname(dirname(file))]) {
    try {
      const r = JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as RunRecord;
      if (r.format === 'dynavit-train-run') return r;
    } catch {
      // none here
    }
  }
  return undefined;
}

/** The classifier head's output count in a state dict (`head.weight`, DAT's `cls_head.weight`). */
function headClasses(sd: StateDict): number | undefined {
  for (const k of ['head.weight', 'cls_head.weight']) {
    const t = sd.get(k);
    if (t && t.shape.length === 2) return t.shape[0];
  }
  return undefined;
}

function fromMetadata(meta: Record<string, string>, file: string): ModelInfo | undefined {
  const model = meta['dynavit_model'];
  if (!model) return undefined;
  const json = <T>(k: string): T | undefined => {
    try {
      return meta[k] === undefined ? undefined : (JSON.parse(meta[k]) as T);
    } catch {
      return undefined;
    }
  };
  const classes = json<string[]>('dynavit_classes');
  const attention = json<AttentionOverrides>('dynavit_attention');
  return {
    model,
    ...(meta['dynavit_num_classes'] ? { numClasses: Number(meta['dynavit_num_classes']) } : {}),
    ...(meta['dynavit_input_size'] ? { size: Number(meta['dynavit_input_size']) } : {}),
    ...(classes ? { classes } : {}),
    ...(attention ? { attention } : {}),
    from: `${file} metadata`,
  };
}

async function evalRun(ctx: CommandContext<typeof options>): Promise<number> {
  const { out, warn } = ctx;
  const registry = createRegistry();
  if (ctx.values.model !== undefined) registry.variant(ctx.values.model); // an unknown name lists the known ones
  // a model whose trained weights ship with its package (dat_fmnist, glnet_fmnist): those, without --weights
  const bundled =
    ctx.values.weights === undefined && ctx.values.model !== undefined
      ? findBundled(registry.pretrained(), ctx.values.model)
      : undefined;
  const values = bundled
    ? { ...ctx.values, weights: (await fetchRelease(bundled)).path, model: undefined }
    : ctx.values;
  if (!values.weights)
    throw new InvalidArgumentError(
      'eval needs --weights FILE (e.g. the model.safetensors dynavit train wrote), or --model NAME of a model whose weights ship with its package',
    );
  if (!values.data)
    throw new InvalidArgumentError('eval needs --data DATA (fashion-mnist, a folder of class folders, a CSV)');
  const limit = values.limit === undefined ? undefined : positiveInt('limit', values.limit, 1);
  const batchSize = positiveInt('batch-size', values['batch-size'], 64, 65_536);
  const pixels = maxPixels(values['max-megapixels'], IMAGE_MAX_MEGAPIXELS);
  const budget = maxMemory(values['max-memory']);
  await checkInputFile(values.weights);
  const w = await readWeightsFile(values.weights, {
    ...budget,
    ...(values.key !== undefined ? { key: values.key } : {}),
    warn,
  });
  let info = fromMetadata(w.metadata, values.weights);
  if (!info) {
    const r = await runRecordNear(values.weights);
    if (r)
      info = {
        model: r.model,
        numClasses: r.numClasses,
        size: r.size,
        classes: r.classes,
        ...(r.attention ? { attention: r.attention } : {}),
        from: 'run.json',
      };
  }
  if (values.model !== undefined && info && info.model !== values.model) info = undefined;
  if (values.model === undefined && !info)
    throw new InvalidArgumentError(
      `eval: ${values.weights} does not say which model it is (no dynavit metadata, no run.json beside it): pass --model NAME`,
    );
  const name = values.model ?? info!.model;
  const { variant } = registry.variant(name);
  if (variant.kind !== 'classifier')
    throw new InvalidArgumentError(`eval: ${name} is a ${variant.kind}, not a classifier`);
  const attention = attentionOption(values.attention, registry, name) ?? info?.attention;
  const numClasses = info?.numClasses ?? headClasses(w.tensors);
  const size =
    values.size !== undefined
      ? positiveInt('size', values.size, 1, 4096)
      : (info?.size ?? variant.input?.size[0] ?? 224);

  const backend = await ctx.useBackend();
  const model = registry.createModel(name, {
    ...(numClasses !== undefined ? { numClasses } : {}),
    ...(attention ? { attention } : {}),
  }) as Classifier;
  try {
    checkMinSize(name, size, model.minInputSize);
    model.loadStateDict(w.tensors, { source: values.weights });
    const scan = scanProgress();
    const data = await openData(values.data, {
      split: 'test',
      size,
      minSide: model.minInputSize,
      maxPixels: pixels,
      numClasses: model.numClasses,
      ...(info?.classes ? { classes: info.classes } : {}),
      onScan: scan.update,
    });
    scan.done();
    const ds = limitDataset(data.dataset, limit);
    const bar = progressBar(ds.length, `eval ${name}`);
    const { evaluate } = await import('@dynavit/train');
    const t0 = performance.now();
    const r = await evaluate(
      model,
      countingDataset(ds, (n) => bar.update(n)),
      { batchSize, inputSize: size }, // ImageNet normalisation, as dynavit train
    ).catch((e: unknown) => {
      throw outOfMemory(e, backend.backend, `evaluation at --batch-size ${batchSize}`, false) ?? e;
    });
    bar.done();
    const seconds = (performance.now() - t0) / 1000;
    out(
      `${name} on ${data.description}: top-1 ${(100 * r.top1).toFixed(2)}%, top-5 ${(100 * r.top5).toFixed(2)}% ` +
        `(${r.count} images, loss ${r.loss.toFixed(4)}, ${seconds.toFixed(1)} s on ${backend.backend})`,
    );
    out(
      JSON.stringify({
        type: 'eval',
        model: name,
        weights: values.weights,
        data: data.description,
        backend: backend.backend,
        count: r.count,
        top1: r.top1,
        top5: r.top5,
        loss: r.loss,
        size,
        seconds,
      }),
    );
  } finally {
    model.dispose();
  }
  return 0;
}
