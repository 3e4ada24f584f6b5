/**
 * `dynavit run <image…> --model NAME [--weights FILE|URL|pretrained] [--task T] [--head H] [--out DIR]`:
 * a thin layer over `pipeline()`: decode each image, run the task with the official pre- and
 * post-processing, write `<name>.<task>.png` (a picture of the result at the image's size) and
 * `<name>.<task>.json` into DIR. Everything cheap is checked first (options, the model, the weights file,
 * the output folder, each image's header against the pixel budget); outputs are written atomically. A
 * non-finite output (NaN) is reported and makes the exit code 1.
 */
import { basename, extname, join } from 'node:path';
import { InputSizeError, InvalidArgumentError, NumericError, PIPELINE_TASKS, type PipelineTask } from '@dynavit/core';
import {
  checkHead,
  type ClassificationLabel,
  type DetectionOutput,
  labelSetFor,
  type SegmentationOutput,
  taskKind,
} from '@dynavit/pipelines';
import { checkInputFile, checkOutputDir, writeFileAtomic } from '../files.js';
import { readImage, readImageHeader } from '../images.js';
import { IMAGE_MAX_MEGAPIXELS, maxMemory, maxPixels, mp } from '../options.js';
import type { NodeBackend } from '../backends.js';
import { pipeline } from '../pipeline.js';
import { progressBar } from '../progress.js';
import { createRegistry } from '../registry.js';
import { renderClassification, renderDetections, renderSegmentation } from '../render.js';
import { attentionOption } from '../attention-option.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';

/** `--task`: the pipeline task names, and the short names of earlier releases. */
const TASK_ALIASES: Readonly<Record<string, PipelineTask>> = {
  classify: 'image-classification',
  segment: 'semantic-segmentation',
  detect: 'object-detection',
  'instance-segment': 'instance-segmentation',
};
const SHORT: Readonly<Record<PipelineTask, string>> = {
  'image-classification': 'classify',
  'semantic-segmentation': 'segment',
  'object-detection': 'detect',
  'instance-segmentation': 'detect',
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
} as const satisfies CommandOptions;

export const runCommand = defineCommand({
  name: 'run',
  usage:
    'run <image…> --model NAME [--weights FILE|URL|pretrained] [--key K] [--task classify|segment|detect|' +
    `${PIPELINE_TASKS.join('|')}] [--head H] [--topk 5] [--scale L,S] [--out DIR] [--offline] [--partial] ` +
    '[--attention STAGE=NAME,…] ' +
    '[--max-memory MiB] [--max-megapixels 64]\n' +
    'run a task pipeline on images; writes a picture of the result and a JSON file per image.\n' +
    'NAME is a model (dynavit list) or a release (dynavit list --pretrained); --weights pretrained downloads\n' +
    'the release once into the cache (dynavit cache list); without --weights the weights are untrained',
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
  const budget = maxMemory(values['max-memory']);
  const pixels = maxPixels(values['max-megapixels'], IMAGE_MAX_MEGAPIXELS);
  const w = values.weights;
  const isUrl = w !== undefined && /^https?:\/\//i.test(w);
  // paths and image headers, before any download, decoding, reading of weights, or backend
  if (w !== undefined && w !== 'pretrained' && !isUrl) await checkInputFile(w);
  await checkOutputDir(values.out);
  for (const p of positionals) await readImageHeader(p, pixels);
  const bar = progressBar(100, 'download');
  let downloading = false;
  const p = await pipeline(task, values.model, {
    weights: w ?? null,
    backend: (ctx.backends[0] ?? 'auto') as NodeBackend | 'auto',
    ...(values.key !== undefined ? { key: values.key } : {}),
    ...(values.head !== undefined ? { head: values.head } : {}),
    ...(values.offline ? { offline: true } : {}),
    ...(values.partial ? { partial: true } : {}),
    ...(attention ? { attention } : {}),
    ...(budget.maxBytes !== undefined ? { maxBytes: budget.maxBytes } : {}),
    maxMegapixels: pixels / 1e6,
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
  const labelSet = labelSetFor(taskKind(task), p.numClasses);
  const short = SHORT[task];
  const dense = scale ? { scale } : {};
  const runBar = progressBar(positionals.length, `run ${short}`);
  let failed = 0;
  try {
    for (const [i, path] of positionals.entries()) {
      const img = await readImage(path, pixels);
      const stem = join(values.out, `${basename(path, extname(path))}.${short}`);
      const t0 = performance.now();
      let result: unknown;
      try {
        if (task === 'image-classification') {
          const top = (await p(img, { topk })) as ClassificationLabel[];
          result = { top };
          await renderClassification(img, top, `${stem}.png`, { untrained });
        } else if (task === 'semantic-segmentation') {
          const seg = (await p(img, dense)) as SegmentationOutput;
          const hist: Record<string, number> = {};
          for (const c of seg.classMap) hist[seg.labels[c]!] = (hist[seg.labels[c]!] ?? 0) + 1;
          result = { numClasses: p.numClasses, head: p.head, classPixels: hist };
          await renderSegmentation(img, seg, labelSet, `${stem}.png`, { untrained });
        } else {
          const det = (await p(img, dense)) as DetectionOutput;
          result = {
            numClasses: p.numClasses,
            head: p.head,
            detections: det.boxes.map((box, j) => ({
              box,
              score: det.scores[j],
              label: det.classes[j],
              name: det.labels[j],
              maskPixels: det.masks ? det.masks[j]!.reduce((a, v) => a + v, 0) : null,
            })),
          };
          await renderDetections(img, det, labelSet, `${stem}.png`, { untrained });
        }
      } catch (e) {
        if (!(e instanceof NumericError)) throw e;
        warn(`dynavit: ${path}: ${e.message}; nothing written`);
        failed++;
        continue;
      }
      const millis = performance.now() - t0;
      await writeFileAtomic(
        `${stem}.json`,
        `${JSON.stringify(
          {
            image: path,
            width: img.width,
            height: img.height,
            model: values.model,
            task,
            backend: p.backend.backend,
            weights: p.report.source,
            untrained,
            millis,
            result,
          },
          null,
          2,
        )}\n`,
      );
      out(`${path} → ${stem}.png, ${stem}.json (${millis.toFixed(0)} ms)`);
      runBar.update(i + 1, basename(path));
    }
  } finally {
    runBar.done();
    p.dispose();
  }
  return failed ? 1 : 0;
}
