/**
 * `createPipeline(env, task, model, options)`: the runtime-neutral half of `pipeline()` (the transformers.js
 * pattern). The runtimes give it an environment — how to decode an image, how to fetch and read weights,
 * how to pick a backend — and export `pipeline(task, model, options)` on top of it:
 * `@dynavit/backend-node` (files, URLs with a disk cache, sharp) and `@dynavit/backend-web` (URLs with
 * Cache Storage, canvas-drawable images, an optional Web Worker).
 *
 * `model` is a registry name (`dat_pp_tiny`, `debi_small_seg`) or a release id of the zoo
 * (`dat_pp_tiny_dense.upernet_ade20k`); `weights` is `'pretrained'` (the default: the zoo's release for
 * the model and task), a path or URL, bytes, a state dict, or null for untrained weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type AttentionOverrides,
  type BackendChoice,
  InvalidArgumentError,
  PIPELINE_TASKS,
  type PipelineTask,
  type PretrainedCheckpoint,
  type Registry,
  type RgbImage,
  type StateDict,
} from '@dynavit/core';
import { type AssembledModel, assembleModel, type LoadReport, taskKind } from './assemble.js';
import { type LabelSet, labelName, labelSetFor } from './labels.js';
import {
  type ClassificationLabel,
  type ClassifyOptions,
  classifyImages,
  type DetectionOutput,
  detectImages,
  type SegmentationOutput,
  segmentImages,
} from './tasks.js';

/** Where the weights come from. */
export type WeightsSpec = 'pretrained' | string | URL | Uint8Array | StateDict | null;

export interface PipelineProgress {
  /** `download`: bytes of a weights file arriving; `read`: the file parsed; `build`: the model assembled */
  stage: 'download' | 'read' | 'build';
  /** bytes so far (download), else 1 when the stage is done */
  loaded: number;
  /** bytes expected (download; 0 when the server does not say), else 1 */
  total: number;
  /** the URL or path being read */
  source?: string;
}

export interface PipelineOptions<B extends string = string> {
  /** default `'pretrained'`; null builds untrained weights (the report lists every parameter as fresh) */
  weights?: WeightsSpec;
  /** the top-level checkpoint key to read (default: the one the official loader of the variant reads) */
  key?: string;
  /** dense tasks: the head's registry name (default: the one the checkpoint holds, or the zoo's) */
  head?: string;
  /** the backend to run on (default `'auto'`) */
  backend?: B | 'auto';
  /** told about weight downloads and loading */
  onProgress?: (p: PipelineProgress) => void;
  /** class names to report instead of the dataset's (ImageNet, ADE20K, COCO) */
  labels?: readonly string[];
  /** load what fits and report the rest as freshly initialised instead of failing */
  partial?: boolean;
  /** per-stage attention overrides: a hybrid (`{ 2: 'dbra.dbra' }`); its swapped slots need `partial` with a checkpoint of the original */
  attention?: AttentionOverrides;
}

/** What a runtime provides. */
export interface PipelineEnvironment<I, B extends string = string> {
  readonly registry: Registry;
  /** activate a backend; called once, before weights are read */
  selectBackend(request: B | 'auto'): Promise<BackendChoice<B>>;
  /** decode one input to 8-bit RGB (tensors are handled before this is called) */
  decode(input: Exclude<I, tf.Tensor>, index: number): Promise<RgbImage>;
  /**
   * Read weights: a zoo release (`entry`, downloaded or from the cache), or a path/URL/bytes. `preferKeys`
   * are the checkpoint keys to try first (the variant's official one).
   */
  readWeights(
    spec: { entry: PretrainedCheckpoint } | { location: string | URL | Uint8Array },
    opts: { key?: string; preferKeys: readonly string[]; onProgress?: (p: PipelineProgress) => void },
  ): Promise<{ stateDict: StateDict; source: string }>;
}

export interface TaskResults {
  'image-classification': ClassificationLabel[];
  'semantic-segmentation': SegmentationOutput;
  'object-detection': DetectionOutput;
  'instance-segmentation': DetectionOutput;
}

/** Options of one call of a dense pipeline. */
export interface DenseCallOptions {
  /** (long, short) test scale instead of the backbone's official one */
  scale?: readonly [number, number];
}

export interface TaskCallOptions {
  'image-classification': ClassifyOptions;
  'semantic-segmentation': DenseCallOptions;
  'object-detection': DenseCallOptions;
  'instance-segmentation': DenseCallOptions;
}

/** A loaded model for one task: call it with one image or a list. Results are plain data. */
export interface Pipeline<T extends PipelineTask, I> {
  (input: I, options?: TaskCallOptions[T]): Promise<TaskResults[T]>;
  (inputs: readonly I[], options?: TaskCallOptions[T]): Promise<TaskResults[T][]>;
  readonly task: T;
  /** registry name of the classifier or backbone */
  readonly model: string;
  /** dense tasks: the head's registry name */
  readonly head: string | undefined;
  /** the zoo release the weights came from, when `'pretrained'` */
  readonly release: PretrainedCheckpoint | undefined;
  readonly numClasses: number;
  /** the name of each class index */
  readonly labels: readonly string[];
  readonly backend: BackendChoice;
  /** what loading did: tensors loaded, parameters left fresh, tensors unused */
  readonly report: LoadReport;
  /** free the model's weights; the pipeline cannot be called afterwards */
  dispose(): void;
}

const isTensor = (x: unknown): x is tf.Tensor => x instanceof tf.Tensor;

/** An image tensor ([H, W, 3], 0–255; float values are rounded and clamped) as host pixels. */
export async function tensorToRgb(t: tf.Tensor): Promise<RgbImage> {
  if (t.rank !== 3 || t.shape[2] !== 3)
    throw new InvalidArgumentError(`an image tensor must be [height, width, 3] RGB, got [${t.shape.join(', ')}]`);
  const v = await t.data();
  const data = new Uint8Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = Number(v[i]);
    if (!Number.isFinite(x)) throw new InvalidArgumentError('the image tensor has non-finite values');
    data[i] = x < 0 ? 0 : x > 255 ? 255 : Math.round(x);
  }
  return { width: t.shape[1]!, height: t.shape[0]!, data };
}

/** The zoo release `model` names, when it is a release id and not a registry name (`debi_tiny` is both). */
function releaseById(registry: Registry, model: string): PretrainedCheckpoint | undefined {
  if (registry.listModels().some((m) => m.name === model)) return undefined;
  return registry.pretrained().find((e) => e.id === model);
}

/**
 * The head to build for a dense task when the weights do not name one: the zoo's release of this
 * backbone for the task, else one of its family's releases for the task (undefined: the task's first head).
 */
export function defaultHead(registry: Registry, model: string, task: PipelineTask): string | undefined {
  const usable = registry
    .pretrained()
    .filter((e) => e.task === task && e.head !== undefined && !e.head.startsWith('unsupported:'));
  const family = registry.variant(model).family;
  const sameFamily = new Set(Object.keys(family.variants));
  return (usable.find((e) => e.model === model) ?? usable.find((e) => sameFamily.has(e.model)))?.head;
}

export async function createPipeline<T extends PipelineTask, I, B extends string>(
  env: PipelineEnvironment<I, B>,
  task: T,
  model: string,
  options: PipelineOptions<B> = {},
): Promise<Pipeline<T, I>> {
  if (!(PIPELINE_TASKS as readonly string[]).includes(task))
    throw new InvalidArgumentError(`unknown task "${String(task)}"; one of ${PIPELINE_TASKS.join(', ')}`);
  const registry = env.registry;
  let release = releaseById(registry, model);
  const name = release?.model ?? model;
  const { variant } = registry.variant(name); // an unknown name lists the known ones
  if (release && release.task !== task && !(release.task === 'instance-segmentation' && task === 'object-detection'))
    throw new InvalidArgumentError(`the release ${release.id} is for ${release.task}, not ${task}`);
  const head = options.head ?? release?.head;
  const weights = options.weights === undefined ? 'pretrained' : options.weights;
  if (weights === 'pretrained' && !release)
    release = registry.findPretrained({ model: name, task, ...(head ? { head } : {}) });
  if (release?.head?.startsWith('unsupported:'))
    throw new InvalidArgumentError(
      `the release ${release.id} uses a head dynavit does not implement (${release.head.slice('unsupported:'.length)})`,
    );
  const backend = await env.selectBackend(options.backend ?? 'auto');
  const onProgress = options.onProgress;
  let stateDict: StateDict | null = null;
  let source: string | undefined;
  const preferKeys = [...new Set([release?.key, variant.checkpointKey].filter((k): k is string => k !== undefined))];
  if (weights instanceof Map) {
    stateDict = weights;
    source = 'the state dict';
  } else if (weights !== null) {
    const spec = weights === 'pretrained' ? { entry: release! } : { location: weights as string | URL | Uint8Array };
    const r = await env.readWeights(spec, {
      ...(options.key !== undefined ? { key: options.key } : {}),
      preferKeys,
      ...(onProgress ? { onProgress } : {}),
    });
    stateDict = r.stateDict;
    source = r.source;
    onProgress?.({ stage: 'read', loaded: 1, total: 1, source });
  }
  // the zoo's head for this backbone and task, when the file does not hold one
  const zooHead =
    taskKind(task) !== 'classification' && head === undefined ? defaultHead(registry, name, task) : undefined;
  const assembled: AssembledModel = assembleModel(registry, {
    task,
    model: name,
    weights: stateDict,
    ...(source !== undefined ? { source } : {}),
    ...(head !== undefined ? { head } : {}),
    ...(zooHead !== undefined ? { defaultHead: zooHead } : {}),
    ...(options.partial ? { partial: true } : {}),
    ...(options.attention ? { attention: options.attention } : {}),
  });
  onProgress?.({ stage: 'build', loaded: 1, total: 1 });
  const kind = taskKind(task);
  const labelSet: LabelSet | null = labelSetFor(kind, assembled.numClasses);
  if (options.labels && options.labels.length !== assembled.numClasses) {
    assembled.dispose();
    throw new InvalidArgumentError(
      `labels has ${options.labels.length} names but the model has ${assembled.numClasses} classes`,
    );
  }
  // a release with its own class names (the bundled Fashion-MNIST models) names its classes
  const releaseLabels =
    weights === 'pretrained' && release?.labels?.length === assembled.numClasses ? release.labels : undefined;
  const given = options.labels ?? releaseLabels;
  const names = given ? [...given] : undefined;
  const labels = names ?? Array.from({ length: assembled.numClasses }, (_, i) => labelName(labelSet, i));
  let disposed = false;

  const decodeAll = async (inputs: readonly I[]): Promise<RgbImage[]> => {
    const out: RgbImage[] = [];
    for (const [i, x] of inputs.entries())
      out.push(isTensor(x) ? await tensorToRgb(x) : await env.decode(x as Exclude<I, tf.Tensor>, i));
    return out;
  };
  const run = async (input: I | readonly I[], opts?: TaskCallOptions[T]): Promise<unknown> => {
    if (disposed) throw new InvalidArgumentError('this pipeline was disposed');
    const many = Array.isArray(input);
    const inputs = many ? (input as readonly I[]) : [input as I];
    if (inputs.length === 0) return [];
    const images = await decodeAll(inputs);
    let results: unknown[];
    if (assembled.task === 'classification')
      results = await classifyImages(assembled, images, labelSet, (opts ?? {}) as ClassifyOptions, names);
    else {
      const scale = (opts as DenseCallOptions | undefined)?.scale;
      if (scale !== undefined && !(scale.length === 2 && scale.every((n) => Number.isInteger(n) && n > 0)))
        throw new InvalidArgumentError(`scale must be [long, short] positive integers, got [${scale.join(', ')}]`);
      const test = scale ? { ...assembled.test, scale } : assembled.test;
      results =
        assembled.task === 'segmentation'
          ? await segmentImages({ ...assembled, test }, images, labelSet, names)
          : await detectImages({ ...assembled, test }, images, labelSet, names);
    }
    return many ? results : results[0];
  };
  const props = {
    task,
    model: name,
    head: assembled.task === 'classification' ? undefined : assembled.head,
    release: weights === 'pretrained' ? release : undefined,
    numClasses: assembled.numClasses,
    labels,
    backend,
    report: assembled.report,
    dispose() {
      if (disposed) return;
      disposed = true;
      assembled.dispose();
    },
  };
  return Object.assign(run, props) as unknown as Pipeline<T, I>;
}
