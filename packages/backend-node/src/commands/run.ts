/**
 * `dynavit run <image…> --model NAME [--weights FILE] [--task classify|segment|detect] [--head H] [--out DIR]`:
 * decode each image, run the task, write `<name>.<task>.png` (a picture of the result at the image's
 * size) and `<name>.<task>.json` into DIR. Everything cheap is checked first (options, the model, the
 * weights file, the output folder, each image's header against the pixel budget), then weights are
 * read, then each image is decoded and run; outputs are written atomically. A non-finite output (NaN)
 * is reported and makes the exit code 1.
 */
import { basename, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { InputSizeError, InvalidArgumentError, type ModelKind, type Module } from '@dynavit/core';
import {
  createDetector,
  createSegmentor,
  type Detection,
  detectionOptionsFromConfig,
  type SegHeadOptions,
  variants as headVariants,
} from '@dynavit/heads';
import { checkInputFile, checkOutputDir, writeFileAtomic } from '../files.js';
import { classificationInput, DEFAULT_CLS_INPUT, imageTensor, readImage, readImageHeader } from '../images.js';
import { labelName } from '../labels.js';
import { headError } from '../models.js';
import { IMAGE_MAX_MEGAPIXELS, maxMemory, maxPixels, mp } from '../options.js';
import { progressBar } from '../progress.js';
import { createRegistry } from '../registry.js';
import { renderClassification, renderDetections, renderSegmentation } from '../render.js';
import { readWeightsFile } from '../weights.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';

export type Task = 'classify' | 'segment' | 'detect';
const TASKS: readonly Task[] = ['classify', 'segment', 'detect'];

const SEG_HEADS = {
  upernet_ade20k: { kind: 'upernet', channels: 512, auxChannels: 256, numClasses: 150 },
  semfpn_ade20k: { kind: 'semantic_fpn', channels: 128, neckChannels: 256, numClasses: 150 },
} as const satisfies Record<string, SegHeadOptions>;

/** The most pixels a dense test scale may have (ADE20K's 2048×512 is 1 MP, COCO's 1333×800 1.1 MP). */
const MAX_SCALE_PIXELS = 8e6;

/** `--scale LONG,SHORT` → the dense test scale (default: ADE20K's 2048,512), at most 8 MP. */
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

const DET_HEADS = ['maskrcnn_coco', 'maskrcnn_coco_dat', 'retinanet_coco_debi', 'retinanet_coco_dat'] as const;

/** Why a model of this kind cannot do `task`; undefined when it can. */
function kindMismatch(name: string, kind: ModelKind, task: Task): string | undefined {
  if (kind === 'head') return headError(name).message;
  if (task === 'classify' && kind !== 'classifier')
    return `${name} is a ${kind}; classification needs a classifier (e.g. dat_pp_tiny)`;
  if (task !== 'classify' && kind !== 'backbone')
    return `${name} is a ${kind}; ${task} needs a dense backbone (e.g. ${name}_dense or ${name}_seg)`;
  return undefined;
}

/** `--head` for a dense task: a segmentation head of SEG_HEADS or a detection head of DET_HEADS. */
function denseHead(task: Task, head: string | undefined, model: string): string | undefined {
  if (task === 'segment') {
    const name = head ?? 'upernet_ade20k';
    if (!(name in SEG_HEADS))
      throw new InvalidArgumentError(
        `--head must be one of ${Object.keys(SEG_HEADS).join(', ')} for segmentation ` +
          `(all heads: ${Object.keys(headVariants).join(', ')})`,
      );
    return name;
  }
  if (task === 'detect') {
    const name = head ?? (model.startsWith('dat') ? 'maskrcnn_coco_dat' : 'maskrcnn_coco');
    if (!(DET_HEADS as readonly string[]).includes(name))
      throw new InvalidArgumentError(`--head must be one of ${DET_HEADS.join(', ')} for detection`);
    return name;
  }
  return undefined;
}

const options = {
  model: { type: 'string' },
  weights: { type: 'string' },
  key: { type: 'string' },
  task: { type: 'string', default: 'classify' },
  head: { type: 'string' },
  out: { type: 'string', default: 'dynavit-out' },
  scale: { type: 'string' },
  'max-memory': { type: 'string' },
  'max-megapixels': { type: 'string' },
} as const satisfies CommandOptions;

export const runCommand = defineCommand({
  name: 'run',
  usage:
    'run <image…> --model NAME [--weights FILE] [--key K] [--task classify|segment|detect] [--head H] ' +
    '[--scale L,S] [--out DIR] [--max-memory MiB] [--max-megapixels 64]\n' +
    'run a model on images; writes a picture of the result and a JSON file per image',
  options,
  positionals: true,
  backend: { default: 'auto' },
  run: runImages,
});

async function runImages(ctx: CommandContext<typeof options>): Promise<number> {
  const { values, positionals, out, warn, useBackend } = ctx;
  if (!values.model) throw new InvalidArgumentError('run needs --model NAME (see `dynavit list`)');
  if (positionals.length === 0) throw new InvalidArgumentError('run needs at least one image');
  const task = values.task as Task;
  if (!TASKS.includes(task))
    throw new InvalidArgumentError(`--task must be one of ${TASKS.join(', ')}, got "${values.task}"`);
  const registry = createRegistry();
  const { variant } = registry.variant(values.model); // unknown names fail here, listing the known ones
  const mismatch = kindMismatch(values.model, variant.kind, task);
  if (mismatch) throw new InvalidArgumentError(mismatch);
  if (task === 'classify' && values.head !== undefined)
    throw new InvalidArgumentError("--head is for --task segment or detect; classification uses the model's own head");
  const headName = denseHead(task, values.head, values.model);
  const scale = parseScale(values.scale);
  const budget = maxMemory(values['max-memory']);
  const pixels = maxPixels(values['max-megapixels'], IMAGE_MAX_MEGAPIXELS);
  // paths and image headers, before any decoding, reading of weights, or backend
  if (values.weights) await checkInputFile(values.weights);
  await checkOutputDir(values.out);
  for (const p of positionals) await readImageHeader(p, pixels);
  const choice = await useBackend();
  const weights = values.weights
    ? await readWeightsFile(values.weights, { ...(values.key ? { key: values.key } : {}), ...budget, warn })
    : null;
  if (!weights)
    warn(
      `dynavit: no --weights given: ${values.model} runs with untrained (zero) weights, so its predictions are meaningless`,
    );

  let model: Module;
  let classify: ((x: tf.Tensor4D) => tf.Tensor2D) | null = null;
  let segment: ((img: tf.Tensor3D) => Promise<{ classMap: Int32Array; numClasses: number }>) | null = null;
  let detect: ((img: tf.Tensor3D) => Promise<{ detections: Detection[]; numClasses: number }>) | null = null;
  const loadDense = (m: Module & { backbone: Module }) => {
    if (!weights) return;
    // an mmseg/mmdet checkpoint has backbone.* and head keys; a bare backbone file only backbone keys
    if ([...weights.tensors.keys()].some((k) => k.startsWith('backbone.')))
      m.loadStateDict(weights.tensors, { source: values.weights! });
    else m.backbone.loadStateDict(weights.tensors, { source: values.weights! });
  };
  const built = registry.createModel(values.model);
  if (task === 'classify' && built.kind === 'classifier') {
    if (weights) built.loadStateDict(weights.tensors, { source: values.weights! });
    model = built;
    classify = (x) => tf.tidy(() => tf.softmax(built.forward(x)) as tf.Tensor2D);
  } else if (task === 'segment' && built.kind === 'backbone') {
    const seg = createSegmentor({ backbone: built, head: SEG_HEADS[headName as keyof typeof SEG_HEADS] });
    loadDense(seg);
    model = seg;
    segment = (img) => seg.segment(img, scale ? { scale } : {});
  } else if (task === 'detect' && built.kind === 'backbone') {
    const head = detectionOptionsFromConfig(headVariants[headName as (typeof DET_HEADS)[number]].config);
    const det = createDetector({ backbone: built, head });
    loadDense(det);
    model = det;
    detect = (img) => det.detect(img, scale ? { scale } : {});
  } else {
    built.dispose();
    throw new InvalidArgumentError(kindMismatch(values.model, built.kind, task) ?? `${values.model} cannot ${task}`);
  }

  const bar = progressBar(positionals.length, `run ${task}`);
  let failed = 0;
  try {
    for (const [i, path] of positionals.entries()) {
      const img = await readImage(path, pixels);
      const stem = join(values.out, `${basename(path, extname(path))}.${task}`);
      const t0 = performance.now();
      let result: unknown;
      if (classify) {
        const input = variant.input ?? DEFAULT_CLS_INPUT;
        const x = classificationInput(img, input);
        const p = classify(x);
        const probs = await p.data();
        tf.dispose([x, p]);
        let nan = 0;
        for (const v of probs) if (!Number.isFinite(v)) nan++;
        if (nan) {
          warn(`dynavit: ${path}: the model's output has ${nan} non-finite values (NaN or ±Inf); nothing written`);
          failed++;
          continue;
        }
        const top = [...probs.keys()]
          .sort((a, b) => probs[b]! - probs[a]!)
          .slice(0, 5)
          .map((c) => ({ index: c, label: labelName('imagenet', c), score: probs[c]! }));
        result = { top5: top };
        await renderClassification(img, top, `${stem}.png`);
      } else if (segment) {
        const t = imageTensor(img);
        const r = await segment(t);
        t.dispose();
        const hist: Record<string, number> = {};
        for (const c of r.classMap) hist[labelName('ade20k', c)] = (hist[labelName('ade20k', c)] ?? 0) + 1;
        result = {
          numClasses: r.numClasses,
          classPixels: hist,
          note: 'class index k is ADE20K label k+1; the full map is in the picture',
        };
        await renderSegmentation(img, r.classMap, 'ade20k', `${stem}.png`);
      } else {
        const t = imageTensor(img);
        const r = await detect!(t);
        t.dispose();
        const nan = r.detections.filter((d) => !Number.isFinite(d.score) || !d.box.every(Number.isFinite)).length;
        if (nan) {
          warn(`dynavit: ${path}: ${nan} detections have non-finite scores or boxes (NaN or ±Inf); nothing written`);
          failed++;
          continue;
        }
        result = {
          numClasses: r.numClasses,
          detections: r.detections.map((d) => ({
            box: d.box,
            score: d.score,
            label: d.label,
            name: labelName('coco', d.label),
            maskPixels: d.mask ? d.mask.reduce((a, v) => a + v, 0) : null,
          })),
        };
        await renderDetections(img, r.detections, 'coco', `${stem}.png`);
      }
      const millis = performance.now() - t0;
      await writeFileAtomic(
        `${stem}.json`,
        `${JSON.stringify({ image: path, width: img.width, height: img.height, model: values.model, task, backend: choice.backend, weights: values.weights ?? null, millis, result }, null, 2)}\n`,
      );
      out(`${path} → ${stem}.png, ${stem}.json (${millis.toFixed(0)} ms)`);
      bar.update(i + 1, basename(path));
    }
  } finally {
    bar.done();
    model.dispose();
  }
  return failed ? 1 : 0;
}
