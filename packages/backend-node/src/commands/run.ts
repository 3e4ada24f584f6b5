/**
 * `dynavit run <image…> --model NAME [--weights FILE|URL|pretrained] [--task T] [--head H] [--out DIR]`:
 * a thin layer over `pipeline()`: decode each image, run the task with the official pre- and
 * post-processing, write `<name>.<task>.png` (a picture of the result at the image's size) and
 * `<name>.<task>.json` into DIR. Everything cheap is checked first (options, the model, the weights file,
 * the output folder, each image's header against the pixel budget); outputs are written atomically. A
 * non-finite output (NaN) is reported and makes the exit code 1.
 */
import { basename } from 'node:path';
import { findBundled, InputSizeError, InvalidArgumentError, PIPELINE_TASKS, type PipelineTask } from '@dynavit/core';
import { checkHead, taskKind } from '@dynavit/pipelines';
import { checkInputFile, checkOutputDir } from '../files.js';
import { readImageHeader } from '../images.js';
import { IMAGE_MAX_MEGAPIXELS, maxMemory, maxPixels, mp } from '../options.js';
import type { NodeBackend } from '../backends.js';
import { pipeline } from '../pipeline.js';
import { progressBar } from '../progress.js';
import { checkWorkersWithThreads, WorkerPool, workersOption } from '../pool.js';
import { createRegistry } from '../registry.js';
import { type RunImageOptions, type RunImageResult, runImage, SHORT } from '../run-image.js';
import type { RunWorkerData } from '../workers/run-worker.js';
import { attentionOption } from '../attention-option.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';

/** `--task`: the pipeline task names, and the short names of earlier releases. */
const TASK_ALIASES: Readonly<Record<string, PipelineTask>> = {
  classify: 'image-classification',
  segment: 'semantic-segmentation',
  detect: 'object-detection',
  'instance-segment': 'instance-segmentation',
};

/** The most pixels a dense test scale may have (ADE20K's 2048×512 is 1 MP, COCO's 1333×800 1.1 MP). */
const MAX_SCALE_PIXELS = 8e6;

/** `--scale LONG,SHORT` → the dense test scale, at most 8 MP. */
function parseScale(v: string | undefined): [number, number] | null {
  if (v === undefined) return null;
  const parts = v.split(',').map(Number);
  if (parts.length !== 2 || !parts.every((n) => Number.isInteger(n) && n > 0))
    throw new InvalidArgumentError(`--scale must be LONG,SHORT in pixels (e.g. 2048,512), got "${v}"`);
  if (parts[0]! * parts[1]! > MAX_SCALE_PIXELS)
    throw new InputSizeError(
      `--scale ${v} is too large: ${mp(parts[0]! * parts[1]!)} is over the ${mp(MAX_SCALE_PIXELS)} a dense forward may take`,
    );
  return [parts[0]!, parts[1]!];
}

const options = {
  model: { type: 'string' },
  weights: { type: 'string' },
  key: { type: 'string' },
  task: { type: 'string', default: 'classify' },
  head: { type: 'string' },
  topk: { type: 'string', default: '5' },
  out: { type: 'string', default: 'dynavit-out' },
  scale: { type: 'string' },
  offline: { type: 'boolean', default: false },
  partial: { type: 'boolean', default: false },
  attention: { type: 'string' },
  'max-memory': { type: 'string' },
  'max-megapixels': { type: 'string' },
  workers: { type: 'string' },
} as const satisfies CommandOptions;

export const runCommand = defineCommand({
  name: 'run',
  usage:
    'run <image…> --model NAME [--weights FILE|URL|pretrained] [--key K] [--task classify|segment|detect|' +
    `${PIPELINE_TASKS.join('|')}] [--head H] [--topk 5] [--scale L,S] [--out DIR] [--offline] [--partial] ` +
    '[--attention STAGE=NAME,…] ' +
    '[--max-memory MiB] [--max-megapixels 64] [--workers N]\n' +
    'run a task pipeline on images; writes a picture of the result and a JSON file per image.\n' +
    '--workers N: N worker threads, each with its own backend and model on one thread, share the images\n' +
    '(without it, one forward at a time on --threads, default every core)\n' +
    'NAME is a model (dynavit list) or a release (dynavit list --pretrained); --weights pretrained downloads\n' +
    'the release once into the cache (dynavit cache list); without --weights the weights are untrained,\n' +
    'except for models whose trained weights ship with their package (dynavit list --pretrained: bundled)',
  options,
  positionals: true,
  backend: { default: 'auto' },
  run: runImages,
});

async function runImages(ctx: CommandContext<typeof options>): Promise<number> {
  const { values, positionals, out, warn } = ctx;
  if (!values.model) throw new InvalidArgumentError('run needs --model NAME (see `dynavit list`)');
  if (positionals.length === 0) throw new InvalidArgumentError('run needs at least one image');
  const task = TASK_ALIASES[values.task] ?? (PIPELINE_TASKS.find((t) => t === values.task) as PipelineTask | undefined);
  if (!task)
    throw new InvalidArgumentError(
      `--task must be one of ${[...Object.keys(TASK_ALIASES), ...PIPELINE_TASKS].join(', ')}, got "${values.task}"`,
    );
  const registry = createRegistry();
  const released = registry.pretrained().find((e) => e.id === values.model);
  registry.variant(
    released && !registry.listModels().some((m) => m.name === values.model) ? released.model : values.model,
  );
  if (taskKind(task) === 'classification' && values.head !== undefined)
    throw new InvalidArgumentError("--head is for the dense tasks; classification uses the model's own head");
  if (values.head !== undefined) checkHead(task, values.head);
  const attention = attentionOption(values.attention, registry, released?.model ?? values.model);
  const topk = Number(values.topk);
  if (!Number.isInteger(topk) || topk < 1 || topk > 1000)
    throw new InvalidArgumentError(`--topk must be an integer from 1 to 1000, got "${values.topk}"`);
  const scale = parseScale(values.scale);
  const workers = Math.min(workersOption(values.workers), positionals.length);
  checkWorkersWithThreads(workersOption(values.workers), ctx.threads, ctx.threadsGiven);
  const budget = maxMemory(values['max-memory']);
  const pixels = maxPixels(values['max-megapixels'], IMAGE_MAX_MEGAPIXELS);
  // a model whose trained weights ship with its package (the *_fmnist models) uses them without --weights
  // (not when --attention swaps a stage: those weights were trained for the model as it is)
  const bundled =
    values.weights === undefined && values.attention === undefined && task === 'image-classification'
      ? findBundled(registry.pretrained(), released?.model ?? values.model)
      : undefined;
  const w = values.weights ?? (bundled ? 'pretrained' : undefined);
  const isUrl = w !== undefined && /^https?:\/\//i.test(w);
  // paths and image headers, before any download, decoding, reading of weights, or backend
  if (w !== undefined && w !== 'pretrained' && !isUrl) await checkInputFile(w);
  await checkOutputDir(values.out);
  for (const p of positionals) await readImageHeader(p, pixels);
  const bar = progressBar(100, 'download');
  let downloading = false;
  // what the main thread's pipeline and each worker's share (serialisable)
  const common = {
    weights: w ?? null,
    ...(values.key !== undefined ? { key: values.key } : {}),
    ...(values.head !== undefined ? { head: values.head } : {}),
    ...(values.partial ? { partial: true } : {}),
    ...(budget.maxBytes !== undefined ? { maxBytes: budget.maxBytes } : {}),
    maxMegapixels: pixels / 1e6,
  };
  const p = await pipeline(task, values.model, {
    ...common,
    backend: (ctx.backends[0] ?? 'auto') as NodeBackend | 'auto',
    // one forward on every core (--threads); with workers, one thread each (this one only checks)
    threads: workers > 1 ? 1 : ctx.threadsFor(ctx.backends[0] ?? 'auto'),
    ...(values.offline ? { offline: true } : {}),
    ...(attention ? { attention } : {}),
    onWarning: warn,
    onProgress(e) {
      if (e.stage !== 'download' || !e.total) return;
      downloading = true;
      bar.update(Math.floor((100 * e.loaded) / e.total), `${(e.loaded / 2 ** 20).toFixed(1)} MiB`);
    },
  });
  if (downloading) bar.done();
  const untrained = w === undefined;
  if (untrained)
    warn(
      `dynavit: no --weights given: ${values.model} runs with untrained weights, so its predictions are meaningless ` +
        '(--weights pretrained downloads the released checkpoint)',
    );
  if (!untrained && p.report.fresh.length) {
    const mods = p.report.freshModules;
    warn(
      `dynavit: ${p.report.fresh.length} tensors were not in the weights and are freshly initialised, in ` +
        `${mods.length} module(s): ${mods.slice(0, 8).join(', ')}${mods.length > 8 ? `, … (+${mods.length - 8})` : ''}`,
    );
  }
  const imageOptions: RunImageOptions = {
    task,
    model: values.model,
    out: values.out,
    topk,
    ...(scale ? { scale } : {}),
    pixels,
    untrained,
  };
  let failed = 0;
  const report = (r: RunImageResult) => {
    if (r.warning !== undefined) {
      warn(r.warning);
      failed++;
    } else out(r.line);
  };
  if (workers > 1) {
    // the pipeline above checked the model and the weights, downloaded them into the cache and warned
    // once; each worker builds its own from the cache, offline
    p.dispose();
    const data: RunWorkerData = {
      task,
      model: values.model,
      // the backend this thread chose; remote weights are in the cache now, so no worker downloads
      pipeline: {
        ...common,
        backend: p.backend.backend as NodeBackend,
        offline: true,
        ...(values.attention !== undefined ? { attention: values.attention } : {}),
      },
      image: imageOptions,
    };
    const runBar = progressBar(positionals.length, `run ${SHORT[task]} on ${workers} workers`);
    const pool = await WorkerPool.start<string, RunImageResult>({
      script: new URL('../workers/run-worker.js', import.meta.url),
      workers,
      workerData: data,
    });
    let done = 0;
    const pending = positionals.map((path) =>
      pool.run(path).then((r) => {
        report(r);
        runBar.update(++done, basename(path));
      }),
    );
    try {
      await Promise.all(pending);
    } catch (e) {
      await pool.close(); // the first failure ends the run: no worker goes on
      await Promise.allSettled(pending);
      throw e;
    } finally {
      runBar.done();
      await pool.close();
    }
    return failed ? 1 : 0;
  }
  const runBar = progressBar(positionals.length, `run ${SHORT[task]}`);
  try {
    for (const [i, path] of positionals.entries()) {
      report(await runImage(p, path, imageOptions));
      runBar.update(i + 1, basename(path));
    }
  } finally {
    runBar.done();
    p.dispose();
  }
  return failed ? 1 : 0;
}
