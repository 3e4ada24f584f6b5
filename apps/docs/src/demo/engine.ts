/**
 * The live demo's engine (browser only): pick a backend as `@dynavit/backend-web` does, build a model
 * (a bundled test model from a golden file's metadata, or a registered architecture with an official
 * checkpoint the user dropped), prepare the image with the official pre-processing, run it while
 * recording the mechanisms (capture.ts), and time every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendChoice,
  createDetector,
  createRegistry,
  createSegmentor,
  type DetHeadOptions,
  type ImageSource,
  imageSize,
  imageToTensor,
  type LoadedWeights,
  loadWeights,
  pipeline,
  prepareClassification,
  prepareDense,
  type SegHeadOptions,
  selectBackend,
  type WasmFileMap,
} from '@dynavit/backend-web';
import {
  type Classifier,
  type DenseBackbone,
  findBundled,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type InputConfig,
  type Module,
  type PipelineTask,
  type PretrainedCheckpoint,
  resizeBilinear,
  seededRng,
  type StateDict,
} from '@dynavit/core';
import { keepRatioSize } from '@dynavit/heads';
import {
  type AssembledModel,
  assembleModel,
  classColor,
  type ClassificationLabel,
  type DetectionOutput,
  defaultHead,
  type LabelSet,
  labelsOf,
  type SegmentationOutput,
} from '@dynavit/pipelines';
import { capture, type MechanismTrace, mechanismCounts } from './capture.js';

export type Task = 'classify' | 'segment' | 'detect';
export type BackendRequest = 'auto' | 'webgpu' | 'webgl' | 'wasm';

const cls = (size: [number, number]): InputConfig => ({
  size,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  cropPct: 0.875,
  interpolation: 'bicubic',
});

/** A model bundled with the site: the reduced golden case of a family, with its random test weights. */
export interface TestModel {
  id: string;
  label: string;
  family: 'dat' | 'dbra' | 'glmix';
  /** file name under the site's /demo/ folder */
  file: string;
  /** the input size of the golden case */
  input: InputConfig;
}

export const TEST_MODELS: readonly TestModel[] = [
  {
    id: 'test:dat',
    label: 'DAT++ reduced (golden dat_pp_reduced, 64×64)',
    family: 'dat',
    file: 'dat_pp_reduced.weights.safetensors',
    input: cls([64, 64]),
  },
  {
    id: 'test:dbra',
    label: 'DeBiFormer reduced (golden cls_tiny_reduced, 224×224)',
    family: 'dbra',
    file: 'dbra_cls_tiny_reduced.weights.safetensors',
    input: cls([224, 224]),
  },
  {
    id: 'test:glmix',
    label: 'GLNet G-layout reduced (golden g_reduced_96x128, 96×128)',
    family: 'glmix',
    file: 'glmix_g_reduced_96x128.weights.safetensors',
    input: cls([96, 128]),
  },
];

/** The attention mechanisms a stage can swap in (`dynavit list --attention`). */
export function attentionMechanisms(): string[] {
  return [...createRegistry().attentionMechanisms().keys()];
}

/** The release whose trained weights ship with the requested model's package (classification only). */
function bundledRelease(req: RunRequest): PretrainedCheckpoint | undefined {
  if (req.task !== 'classify') return undefined;
  return findBundled(createRegistry().pretrained(), req.model);
}

const trainedNote = (e: PretrainedCheckpoint): string =>
  `Trained by dynavit on Fashion-MNIST (test top-1 ${e.metrics[0]?.value} %): it knows ${e.labels?.length} kinds of clothing (grey 28×28 pictures on black), so any photo gets one of their names. The "teach it" panel below fine-tunes it on your own photos.`;

/** The models whose trained weights ship with their package (the site copies them to /demo/). */
export function trainedModels(): string[] {
  return createRegistry()
    .pretrained()
    .filter((e) => e.bundled && e.task === 'image-classification')
    .map((e) => e.model);
}

/** Every registered architecture the demo can run with an official checkpoint. */
export function officialModels(): { name: string; kind: 'classifier' | 'backbone'; family: string }[] {
  return createRegistry()
    .listModels()
    .filter((m) => m.kind !== 'head')
    .map((m) => ({ name: m.name, kind: m.kind as 'classifier' | 'backbone', family: m.family }));
}

export interface RunRequest {
  /** a TestModel id or a registered model name */
  model: string;
  task: Task;
  backend: BackendRequest;
  image: ImageSource;
  /** a checkpoint the user dropped (.pth or .safetensors) */
  checkpoint?: File | null;
  wasmPaths: WasmFileMap;
  /** URL of the folder holding the bundled files (ends with `/`) */
  assetBase: string;
  /** also time a second, warm forward pass (no recording) */
  warmRun?: boolean;
  /**
   * run an official architecture through `pipeline(…, { worker: true })`: the model and backend live
   * in a Web Worker and the page stays responsive; no mechanism views (they need the model in the page)
   */
  worker?: boolean;
  /** official architectures: swap a stage's attention (`{ 2: 'dbra.dbra' }`); a checkpoint then loads partially */
  attention?: Readonly<Record<number, string>>;
  onStatus?: (message: string) => void;
  /** weights download progress in [0, 1], or null when unknown */
  onProgress?: (fraction: number | null) => void;
}

export interface Timing {
  step: string;
  ms: number;
}

export interface ClassScore {
  index: number;
  label: string;
  probability: number;
}

export interface RunResult {
  backend: BackendChoice;
  model: string;
  task: Task;
  /**
   * `test`: random test weights (golden case); `checkpoint`: the user's; `trained`: the weights trained by
   * dynavit that ship with the model's package (the `*_fmnist` models); `none`: untrained
   */
  weights: 'test' | 'checkpoint' | 'trained' | 'none';
  timings: Timing[];
  /** network input size */
  inputHeight: number;
  inputWidth: number;
  /** the part of the original image the network input shows (classification crops), original pixels */
  crop: { x: number; y: number; width: number; height: number };
  /**
   * when the network input is padded (mmdet and mmseg pad to multiples of 32): the top-left part of the
   * input that shows the image, in input pixels; the page draws only that part
   */
  shown?: { height: number; width: number };
  classification?: { numClasses: number; top: ClassScore[] };
  segmentation?: { numClasses: number; width: number; height: number; classMap: Int32Array; classes: ClassScore[] };
  /** boxes in original-image pixels, best first; masks (Mask R-CNN) at the original size */
  detection?: { numClasses: number; width: number; height: number; objects: DetectedObject[] };
  traces: MechanismTrace[];
  /** what the user should know about this result */
  notes: string[];
}

export interface DetectedObject {
  /** [x1, y1, x2, y2] in original-image pixels */
  box: [number, number, number, number];
  score: number;
  label: number;
  name: string;
  /** [height·width] of the original image, 1 = object */
  mask?: Uint8Array;
}

interface LabelFile {
  labels: readonly string[];
  colors?: [number, number, number][];
}

const weightsCache = new Map<string, Promise<LoadedWeights>>();

/** Labels (ImageNet, ADE20K, COCO) and ADE20K's palette, as `@dynavit/pipelines` ships them. */
export async function labelSet(_assetBase: string, set: LabelSet): Promise<LabelFile> {
  const labels = labelsOf(set);
  return set === 'ade20k' ? { labels, colors: labels.map((_, i) => classColor(set, i)) } : { labels };
}

/** The demo's task names → the pipeline tasks (detect accepts RetinaNet and Mask R-CNN files). */
export const PIPELINE_TASK: Readonly<Record<Task, PipelineTask>> = {
  classify: 'image-classification',
  segment: 'semantic-segmentation',
  detect: 'object-detection',
};

/** Deterministic N(0, 1) numbers (core's mulberry32 + Box–Muller generator). */
export function seededNormal(seed: number): () => number {
  return seededRng(seed).normal;
}

/**
 * Random weights for a module (the demo's heads when only test weights exist): weights N(0, 2/fan_in),
 * biases 0.1·N, norm weights 1 + 0.1·N, running variances 1; `stdFor` may set the standard deviation
 * of chosen entries (weights or biases) instead. Seeded: the same every run.
 */
export function randomStateDict(m: Module, seed = 7, stdFor?: (key: string) => number | undefined): StateDict {
  const rand = seededNormal(seed);
  const sd: StateDict = new Map();
  for (const e of m.namedEntries()) {
    if (e.dtype !== 'F32') continue;
    const n = e.torchShape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const name = e.key.split('.').pop()!;
    const isNorm = /(^|\.)(bn|norm|ln|gn)[^.]*\.|norm\d*\./.test(e.key) || e.torchShape.length === 1;
    const std = stdFor?.(e.key);
    if (std !== undefined) for (let i = 0; i < n; i++) data[i] = std * rand();
    else if (name === 'running_var') data.fill(1);
    else if (name === 'running_mean') data.fill(0);
    else if (name === 'bias') for (let i = 0; i < n; i++) data[i] = 0.1 * rand();
    else if (name === 'weight' && isNorm && e.torchShape.length === 1)
      for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * rand();
    else {
      const fanIn = e.torchShape.length > 1 ? e.torchShape.slice(1).reduce((a, b) => a * b, 1) : 1;
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < n; i++) data[i] = std * rand();
    }
    sd.set(e.key, { dtype: 'F32', shape: [...e.torchShape], data });
  }
  return sd;
}

/** The original-image rectangle a classification input shows (resize short side to ⌊size/crop⌋, centre crop). */
export function classificationCrop(width: number, height: number, input: InputConfig): RunResult['crop'] {
  const [sh, sw] = input.size;
  const rh0 = Math.floor(sh / input.cropPct);
  const rw0 = Math.floor(sw / input.cropPct);
  let rh: number;
  let rw: number;
  // DAT squashes the image to ⌊size/crop⌋ square (aspect not kept); the others keep the aspect
  if (rh0 !== rw0 || input.cropMode === 'squash') [rh, rw] = [rh0, rw0];
  else if (width <= height) [rh, rw] = [Math.trunc((rh0 * height) / width), rh0];
  else [rh, rw] = [rh0, Math.trunc((rh0 * width) / height)];
  const top = Math.round((rh - sh) / 2);
  const left = Math.round((rw - sw) / 2);
  const fy = height / rh;
  const fx = width / rw;
  return { x: left * fx, y: top * fy, width: sw * fx, height: sh * fy };
}

/**
 * The detection head the demo pairs with test weights: a narrow Mask R-CNN (32-channel FPN, 64-wide
 * box FCs) with seeded random weights (`randomDetectionHeadStateDict`). Its scores mean nothing, so
 * the score threshold is 0 and the best 8 boxes are kept: the pipeline shows, not a detection.
 */
export const TEST_DETECTION_HEAD: DetHeadOptions = {
  kind: 'mask_rcnn',
  fpnChannels: 32,
  rpnFeatChannels: 32,
  fcOutChannels: 64,
  maskChannels: 32,
  numClasses: 80,
  testCfg: { rpn: { nmsPre: 300, maxPerImg: 100 }, rcnn: { scoreThr: 0, maxPerImg: 8 } },
};

/**
 * Random weights for a detection head, with small predictors in the spirit of mmdet's initialisation
 * (which uses N(0, 0.01²) for the RPN and class scores, 0.001 for box regression): here every final
 * classification, box-regression and mask layer is N(0, 0.01²) with zero biases, the rest as
 * `randomStateDict`. The box deltas are then small, so the boxes stay close to the anchors/proposals — a random head that still
 * draws sensible boxes (and masks).
 */
export function randomDetectionHeadStateDict(head: Module, seed = 11): StateDict {
  const predictor = /(^|\.)(rpn_cls|rpn_reg|fc_cls|fc_reg|conv_logits|retina_cls|retina_reg)\.(weight|bias)$/;
  return randomStateDict(head, seed, (key) => {
    const m = predictor.exec(key);
    return m ? (m[3] === 'bias' ? 0 : 0.01) : undefined;
  });
}

function now(): number {
  return performance.now();
}

async function readAll(ts: tf.Tensor | tf.Tensor[]): Promise<void> {
  await Promise.all([ts].flat().map((t) => t.data()));
}

/** The most frequent classes of a class map, as the result lists them. */
function topClasses(classMap: Int32Array, labels: readonly string[] | null): ClassScore[] {
  const counts = new Map<number, number>();
  for (const c of classMap) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([index, n]) => ({ index, label: labels?.[index] ?? `class ${index}`, probability: n / classMap.length }));
}

/**
 * An official architecture through `pipeline(…, { worker: true })` (the pipeline API users call): the
 * model, its weights and the backend live in a Web Worker, the page only sends the image and draws the
 * plain-data result. No mechanism views: they need the model in the page.
 */
async function runInWorker(req: RunRequest): Promise<RunResult> {
  const status = req.onStatus ?? (() => {});
  const timings: Timing[] = [];
  const time = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = now();
    const r = await fn();
    timings.push({ step, ms: now() - t0 });
    return r;
  };
  const task = PIPELINE_TASK[req.task];
  const bundled = req.checkpoint ? undefined : bundledRelease(req);
  status('starting the worker: backend, weights and model load there…');
  const p = await time('worker: backend + weights + model', () =>
    pipeline(task, req.model, {
      weights: req.checkpoint ?? (bundled ? `${new URL(`${req.assetBase}${bundled.file}`, location.href)}` : null),
      ...(bundled?.labels ? { labels: bundled.labels } : {}),
      worker: true,
      ...(req.attention && Object.keys(req.attention).length ? { attention: { ...req.attention }, partial: true } : {}),
      backend: req.backend,
      wasmPaths: req.wasmPaths,
      onProgress: (e) => {
        if (e.stage === 'download') req.onProgress?.(e.total ? e.loaded / e.total : null);
        else status(e.stage === 'read' ? 'weights read; building the model…' : 'model built');
      },
    }),
  );
  try {
    const img = imageSize(req.image);
    const notes = [
      'Ran through pipeline(…, { worker: true }): the model and its backend live in a Web Worker, so the page stayed responsive. Mechanism views need the model in the page: untick "Web Worker" to see them.',
    ];
    if (bundled) notes.push(trainedNote(bundled));
    else if (!req.checkpoint)
      notes.push(`No checkpoint: ${req.model} runs with untrained weights, so its output is meaningless.`);
    else if (p.report.fresh.length)
      notes.push(`${p.report.fresh.length} parameters were not in the checkpoint and are untrained.`);
    const result: RunResult = {
      backend: p.backend as BackendChoice,
      model: req.model,
      task: req.task,
      weights: req.checkpoint ? 'checkpoint' : bundled ? 'trained' : 'none',
      timings,
      inputHeight: img.height,
      inputWidth: img.width,
      crop: { x: 0, y: 0, width: img.width, height: img.height },
      traces: [],
      notes,
    };
    status(`running on ${p.backend.backend} in the worker…`);
    const out = await time('run (in the worker; includes kernel compilation)', () => p(req.image));
    if (req.task === 'classify') {
      const input = createRegistry().variant(req.model).variant.input!;
      [result.inputHeight, result.inputWidth] = input.size;
      result.crop = classificationCrop(img.width, img.height, input);
      result.classification = {
        numClasses: p.numClasses,
        top: (out as ClassificationLabel[]).map((r) => ({ index: r.index, label: r.label, probability: r.score })),
      };
    } else if (req.task === 'segment') {
      const seg = out as SegmentationOutput;
      result.segmentation = {
        numClasses: p.numClasses,
        width: seg.width,
        height: seg.height,
        classMap: seg.classMap,
        classes: topClasses(seg.classMap, seg.labels),
      };
    } else {
      const det = out as DetectionOutput;
      result.detection = {
        numClasses: p.numClasses,
        width: det.width,
        height: det.height,
        objects: det.boxes.map((box, i) => ({
          box,
          score: det.scores[i]!,
          label: det.classes[i]!,
          name: det.labels[i]!,
          ...(det.masks ? { mask: det.masks[i]! } : {}),
        })),
      };
    }
    status('done');
    return result;
  } finally {
    p.dispose();
  }
}

/** Run one request end to end. Every tensor it creates is disposed before it returns. */
export async function runDemo(req: RunRequest): Promise<RunResult> {
  if (req.worker && !TEST_MODELS.some((m) => m.id === req.model)) return runInWorker(req);
  const status = req.onStatus ?? (() => {});
  const timings: Timing[] = [];
  const notes: string[] = [];
  const time = async <T>(step: string, fn: () => T | Promise<T>): Promise<T> => {
    const t0 = now();
    const r = await fn();
    timings.push({ step, ms: now() - t0 });
    return r;
  };

  // 1. backend: WebGPU → WebGL → wasm (or the one asked for, falling back as backend-web does)
  status('starting the backend…');
  const backend = await time('backend start', () =>
    selectBackend({
      ...(req.backend === 'auto' ? {} : { prefer: req.backend, fallback: true }),
      wasmPaths: req.wasmPaths,
    }),
  );

  // 2. weights
  const test = TEST_MODELS.find((m) => m.id === req.model);
  let loaded: LoadedWeights | null = null;
  let weightsKind: RunResult['weights'] = 'none';
  if (req.checkpoint) {
    status(`reading ${req.checkpoint.name}…`);
    loaded = await time('weights (read + parse)', () =>
      loadWeights(req.checkpoint!, {
        onProgress: (p) => p.status === 'progress' && req.onProgress?.(p.progress ?? null),
      }),
    );
    weightsKind = 'checkpoint';
  } else if (test) {
    const url = `${req.assetBase}${test.file}`;
    status('downloading the test weights…');
    let p = weightsCache.get(url);
    if (!p) {
      p = loadWeights(url, { onProgress: (e) => e.status === 'progress' && req.onProgress?.(e.progress ?? null) });
      weightsCache.set(url, p);
      p.catch(() => weightsCache.delete(url));
    }
    loaded = await time('weights (download + parse)', () => p!);
    weightsKind = 'test';
  }
  // a model whose trained weights ship with its package (dat_fmnist, debi_fmnist, glnet_fmnist): those, with their classes
  const bundled = !loaded && !test ? bundledRelease(req) : undefined;
  if (bundled) {
    const url = `${req.assetBase}${bundled.file}`;
    status(`downloading the trained ${bundled.model} weights…`);
    loaded = await time('weights (download + parse)', () =>
      loadWeights(url, { onProgress: (e) => e.status === 'progress' && req.onProgress?.(e.progress ?? null) }),
    );
    weightsKind = 'trained';
    notes.push(trainedNote(bundled));
  }

  // 3. model
  status('building the model…');
  const registry = createRegistry();
  let backbone: Classifier | DenseBackbone | undefined;
  let input: InputConfig;
  let numClassesHint = 1000;
  let assembled = null as AssembledModel | null; // set inside `time` below
  const built = time('build + load weights', () => {
    const golden = loaded !== null && Boolean(loaded.metadata['reference']) && Boolean(loaded.metadata['config']);
    if (test && !golden)
      throw new Error(
        `${req.checkpoint?.name ?? 'this file'} is not a golden test file (a .safetensors with reference/config metadata): to run an official checkpoint, pick its architecture (e.g. dat_pp_tiny) in the model list`,
      );
    if (golden) {
      // a golden-style file: the architecture comes from its metadata (reference + config)
      const md = loaded!.metadata;
      const family = registry.familyForReference(md['reference'] ?? '');
      if (!family) throw new Error(`no dynavit family knows the reference "${md['reference']}" of this file`);
      const fromFile = family.fromReference(md);
      if (fromFile.kind === 'head') {
        fromFile.dispose();
        throw new Error('this golden file holds a head alone; the demo needs a backbone or a classifier');
      }
      backbone = fromFile;
      backbone.loadStateDict(loaded!.tensors, { source: loaded!.source });
      const shape = md['input_shape'] ? (JSON.parse(md['input_shape']) as number[]) : null;
      input =
        test && !req.checkpoint ? test.input : cls(shape && shape.length === 4 ? [shape[2]!, shape[3]!] : [224, 224]);
      numClassesHint = backbone.kind === 'classifier' ? backbone.numClasses : 0;
      if (weightsKind === 'checkpoint') weightsKind = 'test';
      return;
    }
    // an official architecture: the pipelines' assembly — strict loading, the checkpoint key its official
    // loader reads, the head and classes of an mmseg/mmdet file read from its keys, another model's file refused
    const task = PIPELINE_TASK[req.task];
    const zooHead = req.task === 'classify' ? undefined : defaultHead(registry, req.model, task);
    assembled = assembleModel(registry, {
      task,
      model: req.model,
      weights: loaded?.tensors ?? null,
      source: loaded?.source ?? req.model,
      ...(zooHead ? { defaultHead: zooHead } : {}),
      ...(req.attention && Object.keys(req.attention).length ? { attention: req.attention, partial: true } : {}),
    });
    if (req.attention && Object.keys(req.attention).length)
      notes.push(
        `A hybrid: ${Object.entries(req.attention)
          .map(([st, n]) => `stage ${st} → ${n}`)
          .join(
            ', ',
          )}. The swapped attention is freshly initialised (untrained), so its mechanism view shows where it looks before training.`,
      );
    backbone = assembled.task === 'classification' ? assembled.model : (assembled.model.backbone as DenseBackbone);
    input = assembled.task === 'classification' ? assembled.input : cls([224, 224]);
    numClassesHint = assembled.numClasses;
    if (!loaded)
      notes.push(
        `No checkpoint: ${req.model} runs with untrained weights, so its output and its mechanisms are meaningless. Drop an official checkpoint to see them work.`,
      );
    else if (assembled.report.fresh.length)
      notes.push(
        `${assembled.report.fresh.length} parameters were not in the checkpoint and are untrained (e.g. ${assembled.report.fresh[0]}).`,
      );
  });
  try {
    await built;
  } catch (e) {
    backbone?.dispose(); // built but its weights did not load (assembleModel disposes its own)
    throw e;
  }

  if (weightsKind === 'test')
    notes.push(
      'These are test weights: random, from the golden test cases (they reproduce the official code bit for bit, but they were never trained). Predictions are meaningless; the mechanisms still act on the image.',
    );

  const img = imageSize(req.image);
  const result: RunResult = {
    backend,
    model: req.model,
    task: req.task,
    weights: weightsKind,
    timings,
    inputHeight: 0,
    inputWidth: 0,
    crop: { x: 0, y: 0, width: img.width, height: img.height },
    traces: [],
    notes,
  };
  // the backbone, then each task's head and tensors (a Detector/Segmentor's head is disposed on its own)
  const disposables: Array<Module | tf.Tensor> = [assembled ? assembled.model : backbone!];
  try {
    if (req.task === 'classify') {
      const model = backbone!;
      if (model.kind !== 'classifier' || !(numClassesHint > 0))
        throw new Error('this model has no classifier head; pick the segment task');
      const x = await time('pre-processing', () => prepareClassification(req.image, input!));
      disposables.push(x);
      [result.inputHeight, result.inputWidth] = [x.shape[1], x.shape[2]];
      result.crop = classificationCrop(img.width, img.height, input!);
      status(`running on ${backend.backend}…`);
      const counts = mechanismCounts(model);
      const { probs, traces } = await time(
        `forward #1 (recording ${counts.dat + counts.bra + counts.dbra + counts.glmix} attention modules; includes kernel compilation)`,
        async () => {
          const { result: logits, traces } = await capture(model, () => model.forward(x));
          const p = tf.softmax(logits);
          logits.dispose();
          const data = await p.data();
          p.dispose();
          return { probs: data, traces };
        },
      );
      result.traces = traces;
      if (req.warmRun ?? true)
        await time('forward #2 (warm)', async () => {
          const y = model.forward(x);
          await readAll(y);
          y.dispose();
        });
      const labels =
        probs.length === 1000 ? labelsOf('imagenet') : bundled?.labels?.length === probs.length ? bundled.labels : null;
      const top = [...probs.keys()]
        .sort((a, b) => probs[b]! - probs[a]!)
        .slice(0, 5)
        .map((i) => ({ index: i, label: labels?.[i] ?? `class ${i}`, probability: probs[i]! }));
      result.classification = { numClasses: probs.length, top };
    } else if (req.task === 'detect') {
      // detection: the backbone's pyramid + Mask R-CNN / RetinaNet (from the checkpoint, or a small random one)
      const official = assembled?.task === 'detection' ? assembled : null;
      const det = official ? official.model : createDetector({ backbone: backbone!, head: TEST_DETECTION_HEAD });
      if (!official) disposables.push(det.head);
      if (!official && weightsKind !== 'none') {
        det.head.loadStateDict(randomDetectionHeadStateDict(det.head));
        notes.push(
          'The Mask R-CNN head has random weights (seeded) and keeps its 8 best boxes whatever their score: the boxes show the pipeline working, not a detection.',
        );
      }
      // the backbone's official test pipeline (mmdet: keep-ratio (1333, 800), pad 32); the test models a small one
      const scale = official ? official.test.scale : ([448, 224] as const);
      // Mask R-CNN pastes every mask at the image's size: a photo beyond 1333×800 is first scaled into it
      // (a 12-MP photo would need 12 MB per mask), and boxes are then in that copy's pixels
      const pixels = await time('decode pixels', () =>
        tf.tidy(() => {
          const t = imageToTensor(req.image);
          if (img.width * img.height <= 1333 * 800) return t;
          const [dh, dw] = keepRatioSize(img.height, img.width, [1333, 800]);
          notes.push(
            `The ${img.width}×${img.height} image was scaled to ${dw}×${dh} for detection; boxes are in its pixels.`,
          );
          return tf.image.resizeBilinear(t, [dh, dw], false, true);
        }),
      );
      disposables.push(pixels);
      // mmdet's test pipeline (inside detect): keep-ratio resize into `scale`, pad to multiples of 32
      const [h, w] = keepRatioSize(pixels.shape[0], pixels.shape[1], scale);
      const [H, W] = [Math.ceil(h / 32) * 32, Math.ceil(w / 32) * 32];
      [result.inputHeight, result.inputWidth] = [H, W];
      // the network input shows the image in its top-left h×w, padding beyond: extend the crop likewise
      result.crop = { x: 0, y: 0, width: (img.width * W) / w, height: (img.height * H) / h };
      if (h !== H || w !== W) result.shown = { height: h, width: w };
      status(`running on ${backend.backend}…`);
      const { out, traces } = await time('forward #1 (recording; includes kernel compilation)', async () => {
        const { result: out, traces } = await capture(det, () => det.detect(pixels, { scale }));
        return { out, traces };
      });
      result.traces = traces;
      if (req.warmRun ?? true) await time('forward #2 (warm)', () => det.detect(pixels, { scale }));
      const coco = out.numClasses === 80 ? labelsOf('coco') : null;
      result.detection = {
        numClasses: out.numClasses,
        width: out.width,
        height: out.height,
        objects: out.detections.map((d) => ({ ...d, name: coco?.[d.label] ?? `class ${d.label}` })),
      };
    } else {
      // segmentation: the backbone's pyramid + a head (from the checkpoint, or random for test weights)
      const official = assembled?.task === 'segmentation' ? assembled : null;
      const head: SegHeadOptions = { kind: 'semantic_fpn', numClasses: 150, channels: 32, neckChannels: 32 };
      const seg = official ? official.model : createSegmentor({ backbone: backbone!, head });
      if (!official) disposables.push(seg.head);
      if (!official && weightsKind !== 'none') {
        seg.head.loadStateDict(randomStateDict(seg.head));
        notes.push(
          `The ${head.kind === 'semantic_fpn' ? 'Semantic FPN' : 'UperNet'} head has random weights (seeded): the class map shows the pipeline working, not a segmentation.`,
        );
      }
      // the backbone's official test pipeline (DeBiFormer: align to 32); the test models a small scale
      const prep = await time('pre-processing', () =>
        prepareDense(req.image, official ? { ...official.test } : { scale: [448, 224] }),
      );
      disposables.push(prep.input);
      const [, H, W] = prep.input.shape;
      [result.inputHeight, result.inputWidth] = [H, W];
      // padded (padTo): the image fills the top-left imgHw of the input
      const [ih, iw] = prep.imgHw;
      if (ih !== H || iw !== W) {
        result.shown = { height: ih, width: iw };
        result.crop = { x: 0, y: 0, width: (img.width * W) / iw, height: (img.height * H) / ih };
      }
      status(`running on ${backend.backend}…`);
      const { classMap, traces } = await time('forward #1 (recording; includes kernel compilation)', async () => {
        const { result: logits, traces } = await capture(seg, () => seg.forward(prep.input));
        const pred = tf.tidy(() => tf.argMax(resizeBilinear(logits, [H, W]), 3));
        logits.dispose();
        const data = await pred.data();
        pred.dispose();
        return { classMap: Int32Array.from(data), traces };
      });
      result.traces = traces;
      if (req.warmRun ?? true)
        await time('forward #2 (warm)', async () => {
          const y = seg.forward(prep.input);
          await readAll(y);
          y.dispose();
        });
      const numClasses = official ? official.numClasses : 150;
      const ade = numClasses === 150 ? labelsOf('ade20k') : null;
      const classes = topClasses(classMap, ade);
      result.segmentation = { numClasses, width: W, height: H, classMap, classes };
    }
  } finally {
    for (const d of disposables) d.dispose();
  }
  for (const p of backend.skipped)
    if (p.reason.startsWith('a software adapter'))
      notes.push(
        `${p.backend === 'webgpu' ? 'WebGPU' : 'WebGL'} was passed over: ${p.reason} (pick it under Backend).`,
      );
  status('done');
  return result;
}
