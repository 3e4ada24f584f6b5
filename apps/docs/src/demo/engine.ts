/**
 * The live demo's engine (browser only): pick a backend as `@dynavit/backend-web` does, build a model
 * (a bundled test model from a golden file's metadata, or a registered architecture with an official
 * checkpoint the user dropped), prepare the image with the official pre-processing, run it while
 * recording the mechanisms (capture.ts), and time every step.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendChoice,
  createRegistry,
  createSegmentor,
  type ImageSource,
  imageSize,
  type LoadedWeights,
  loadWeights,
  prepareClassification,
  prepareDense,
  type SegHeadOptions,
  selectBackend,
  type WasmFileMap,
} from '@dynavit/backend-web';
import { type Classifier, type DenseBackbone, IMAGENET_MEAN, IMAGENET_STD, type InputConfig, type Module, resizeBilinear, type StateDict } from '@dynavit/core';
import { capture, type MechanismTrace, mechanismCounts } from './capture.js';

export type Task = 'classify' | 'segment';
export type BackendRequest = 'auto' | 'webgpu' | 'webgl' | 'wasm';

const cls = (size: [number, number]): InputConfig => ({ size, mean: IMAGENET_MEAN, std: IMAGENET_STD, cropPct: 0.875, interpolation: 'bicubic' });

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
  { id: 'test:dat', label: 'DAT++ reduced (golden dat_pp_reduced, 64×64)', family: 'dat', file: 'dat_pp_reduced.weights.safetensors', input: cls([64, 64]) },
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

/** Every registered architecture the demo can run with an official checkpoint. */
export function officialModels(): { name: string; kind: 'classifier' | 'backbone'; family: string }[] {
  return createRegistry()
    .listModels()
    .filter((m) => m.kind !== 'head' && m.implemented)
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
  /** true: random test weights (golden case), false: the user's checkpoint, null: untrained (no weights) */
  weights: 'test' | 'checkpoint' | 'none';
  timings: Timing[];
  /** network input size */
  inputHeight: number;
  inputWidth: number;
  /** the part of the original image the network input shows (classification crops), original pixels */
  crop: { x: number; y: number; width: number; height: number };
  classification?: { numClasses: number; top: ClassScore[] };
  segmentation?: { numClasses: number; width: number; height: number; classMap: Int32Array; classes: ClassScore[] };
  traces: MechanismTrace[];
  /** what the user should know about this result */
  notes: string[];
}

interface LabelFile {
  labels: string[];
  colors?: [number, number, number][];
}

const weightsCache = new Map<string, Promise<LoadedWeights>>();
const labelCache = new Map<string, Promise<LabelFile>>();

/** Labels (ImageNet, ADE20K) from the site's /demo/labels/ folder. */
export function labelSet(assetBase: string, set: 'imagenet' | 'ade20k'): Promise<LabelFile> {
  const url = `${assetBase}labels/${set}.json`;
  let p = labelCache.get(url);
  if (!p) {
    p = fetch(url).then(async (r) => {
      if (!r.ok) throw new Error(`labels: ${url} answered ${r.status}`);
      return (await r.json()) as LabelFile;
    });
    labelCache.set(url, p);
  }
  return p;
}

/** Deterministic N(0, 1) numbers (mulberry32 + Box–Muller). */
export function seededNormal(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
}

/**
 * Random weights for a module (the demo's segmentation head when only test weights exist): weights
 * N(0, 2/fan_in), biases 0.1·N, norm weights 1 + 0.1·N, running variances 1. Seeded: the same every run.
 */
export function randomStateDict(m: Module, seed = 7): StateDict {
  const rand = seededNormal(seed);
  const sd: StateDict = new Map();
  for (const e of m.namedEntries()) {
    if (e.dtype !== 'F32') continue;
    const n = e.torchShape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const name = e.key.split('.').pop()!;
    const isNorm = /(^|\.)(bn|norm|ln|gn)[^.]*\.|norm\d*\./.test(e.key) || e.torchShape.length === 1;
    if (name === 'running_var') data.fill(1);
    else if (name === 'running_mean') data.fill(0);
    else if (name === 'bias') for (let i = 0; i < n; i++) data[i] = 0.1 * rand();
    else if (name === 'weight' && isNorm && e.torchShape.length === 1) for (let i = 0; i < n; i++) data[i] = 1 + 0.1 * rand();
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
  if (rh0 !== rw0) [rh, rw] = [rh0, rw0];
  else if (width <= height) [rh, rw] = [Math.trunc((rh0 * height) / width), rh0];
  else [rh, rw] = [rh0, Math.trunc((rh0 * width) / height)];
  const top = Math.round((rh - sh) / 2);
  const left = Math.round((rw - sw) / 2);
  const fy = height / rh;
  const fx = width / rw;
  return { x: left * fx, y: top * fy, width: sw * fx, height: sh * fy };
}

/** A segmentation head matching an mmseg checkpoint's keys (Semantic FPN or UperNet, widths from shapes). */
export function headFromCheckpoint(sd: StateDict): SegHeadOptions | null {
  const shape = (k: string) => sd.get(k)?.shape;
  const seg = shape('decode_head.conv_seg.weight');
  if (!seg) return null;
  const numClasses = seg[0]!;
  if ([...sd.keys()].some((k) => k.startsWith('neck.'))) {
    return { kind: 'semantic_fpn', numClasses, channels: seg[1]!, neckChannels: shape('neck.lateral_convs.0.conv.weight')?.[0] ?? 256 };
  }
  const aux = shape('auxiliary_head.conv_seg.weight');
  return { kind: 'upernet', numClasses, channels: seg[1]!, auxChannels: aux ? aux[1]! : 0 };
}

function now(): number {
  return performance.now();
}

async function readAll(ts: tf.Tensor | tf.Tensor[]): Promise<void> {
  await Promise.all([ts].flat().map((t) => t.data()));
}

/** Run one request end to end. Every tensor it creates is disposed before it returns. */
export async function runDemo(req: RunRequest): Promise<RunResult> {
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
    selectBackend({ ...(req.backend === 'auto' ? {} : { prefer: req.backend, fallback: true }), wasmPaths: req.wasmPaths }),
  );

  // 2. weights
  const test = TEST_MODELS.find((m) => m.id === req.model);
  let loaded: LoadedWeights | null = null;
  let weightsKind: RunResult['weights'] = 'none';
  if (req.checkpoint) {
    status(`reading ${req.checkpoint.name}…`);
    loaded = await time('weights (read + parse)', () =>
      loadWeights(req.checkpoint!, { onProgress: (p) => p.status === 'progress' && req.onProgress?.(p.progress ?? null) }),
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

  // 3. model
  status('building the model…');
  const registry = createRegistry();
  let backbone: Classifier | DenseBackbone;
  let input: InputConfig;
  let numClassesHint = 1000;
  let segHead: SegHeadOptions | null = null;
  let loadWhole = false; // the checkpoint holds backbone.* and head keys (mmseg)
  await time('build + load weights', () => {
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
      backbone = family.fromReference(md).model as unknown as Classifier;
      backbone.loadStateDict(loaded!.tensors, { source: loaded!.source });
      const shape = md['input_shape'] ? (JSON.parse(md['input_shape']) as number[]) : null;
      input = test && !req.checkpoint ? test.input : cls(shape && shape.length === 4 ? [shape[2]!, shape[3]!] : [224, 224]);
      numClassesHint = (backbone as Classifier).numClasses ?? 0;
      if (weightsKind === 'checkpoint') weightsKind = 'test';
      return;
    }
    const { variant } = registry.variant(req.model);
    if (req.task === 'classify' && variant.kind !== 'classifier')
      throw new Error(`${req.model} is a ${variant.kind}; classification needs a classifier (e.g. dat_pp_tiny)`);
    backbone = registry.createModel(req.model);
    input = variant.input ?? cls([224, 224]);
    numClassesHint = 'numClasses' in backbone ? (backbone as Classifier).numClasses : 0;
    if (!loaded) {
      notes.push(`No checkpoint: ${req.model} runs with untrained (zero) weights, so its output and its mechanisms are meaningless. Drop an official checkpoint to see them work.`);
      return;
    }
    if (req.task === 'segment' && [...loaded.tensors.keys()].some((k) => k.startsWith('backbone.'))) {
      segHead = headFromCheckpoint(loaded.tensors);
      loadWhole = segHead !== null;
      if (!loadWhole) {
        const sub: StateDict = new Map([...loaded.tensors].filter(([k]) => k.startsWith('backbone.')).map(([k, v]) => [k.slice(9), v]));
        backbone.loadStateDict(sub, { strict: false, source: loaded.source });
        notes.push('The checkpoint has a backbone but no segmentation head this demo knows; the head has random weights.');
      }
    } else {
      const r = backbone.loadStateDict(loaded.tensors, { strict: variant.kind === 'classifier', source: loaded.source });
      if (r.missing.length) notes.push(`${r.missing.length} parameters were not in the checkpoint (e.g. ${r.missing[0]}).`);
    }
  });

  if (weightsKind === 'test')
    notes.push('These are test weights: random, from the golden test cases (they reproduce the official code bit for bit, but they were never trained). Predictions are meaningless; the mechanisms still act on the image.');

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
  const disposables: Array<Module | tf.Tensor> = [];
  try {
    if (req.task === 'classify') {
      const model = backbone! as Classifier;
      disposables.push(model);
      if (!(numClassesHint > 0)) throw new Error('this model has no classifier head; pick the segment task');
      const x = await time('pre-processing', () => prepareClassification(req.image, input!));
      disposables.push(x);
      [result.inputHeight, result.inputWidth] = [x.shape[1], x.shape[2]];
      result.crop = classificationCrop(img.width, img.height, input!);
      status(`running on ${backend.backend}…`);
      const counts = mechanismCounts(model);
      const { probs, traces } = await time(`forward #1 (recording ${counts.dat + counts.bra + counts.dbra + counts.glmix} attention modules; includes kernel compilation)`, async () => {
        const { result: logits, traces } = await capture(model, () => model.forward(x));
        const p = tf.softmax(logits);
        logits.dispose();
        const data = await p.data();
        p.dispose();
        return { probs: data, traces };
      });
      result.traces = traces;
      if (req.warmRun ?? true)
        await time('forward #2 (warm)', async () => {
          const y = model.forward(x);
          await readAll(y);
          y.dispose();
        });
      const labels = probs.length === 1000 ? (await labelSet(req.assetBase, 'imagenet')).labels : null;
      const top = [...probs.keys()]
        .sort((a, b) => probs[b]! - probs[a]!)
        .slice(0, 5)
        .map((i) => ({ index: i, label: labels?.[i] ?? `class ${i}`, probability: probs[i]! }));
      result.classification = { numClasses: probs.length, top };
    } else {
      // segmentation: the backbone's pyramid + a head (from the checkpoint, or random for test weights)
      let head: SegHeadOptions = segHead ?? { kind: 'upernet', numClasses: 150 };
      if (!segHead && weightsKind !== 'checkpoint') head = { kind: 'semantic_fpn', numClasses: 150, channels: 32, neckChannels: 32 };
      const seg = createSegmentor({ backbone: backbone! as DenseBackbone, head });
      disposables.push(seg);
      if (loadWhole && loaded) seg.loadStateDict(loaded.tensors, { strict: false, source: loaded.source });
      else if (weightsKind !== 'none') {
        seg.head.loadStateDict(randomStateDict(seg.head));
        notes.push(`The ${head.kind === 'semantic_fpn' ? 'Semantic FPN' : 'UperNet'} head has random weights (seeded): the class map shows the pipeline working, not a segmentation.`);
      }
      const scale: [number, number] = weightsKind === 'checkpoint' ? [2048, 512] : [448, 224];
      const prep = await time('pre-processing', () => prepareDense(req.image, { scale }));
      disposables.push(prep.input);
      const [, H, W] = prep.input.shape;
      [result.inputHeight, result.inputWidth] = [H, W];
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
      const ade = head.numClasses === 150 ? await labelSet(req.assetBase, 'ade20k') : null;
      const counts = new Map<number, number>();
      for (const c of classMap) counts.set(c, (counts.get(c) ?? 0) + 1);
      const classes = [...counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([index, n]) => ({ index, label: ade?.labels[index] ?? `class ${index}`, probability: n / classMap.length }));
      result.segmentation = { numClasses: head.numClasses ?? 150, width: W, height: H, classMap, classes };
    }
  } finally {
    for (const d of disposables) d.dispose();
  }
  status('done');
  return result;
}
