/**
 * From a model name, a task and a state dict to a model ready to run — the one place where a checkpoint
 * meets a model (used by the pipelines, `dynavit run`/`convert` and the docs demo):
 *
 * - image-classification: the registered classifier; the number of classes is read from the file's
 *   classifier (a fine-tuned checkpoint with 10 classes builds a 10-class model); an mmseg/mmdet file
 *   is refused naming the task it belongs to.
 * - dense tasks: the registered dense backbone under a head. An mmseg/mmdet file (`backbone.*` plus
 *   head keys) names its head and classes itself (`headForCheckpoint`); an ImageNet file loads into the
 *   backbone with the family's classifier keys dropped, and the head stays freshly initialised (reported).
 * - every load is strict unless `partial` is set; before it, a file whose tensor names mostly do not
 *   belong to the model is refused as "another model's checkpoint" in one line.
 */
import {
  type AttentionOverrides,
  CheckpointError,
  freshModules,
  type Classifier,
  type DenseBackbone,
  type DenseTestConfig,
  type InputConfig,
  InvalidArgumentError,
  type Module,
  type PipelineTask,
  type Registry,
  type StateDict,
} from '@dynavit/core';
import {
  type DetectionHead,
  Detector,
  headForCheckpoint,
  type HeadVariantName,
  heads,
  isDenseCheckpoint,
  SegmentationHead,
  Segmentor,
  splitDenseCheckpoint,
  variants as headVariants,
} from '@dynavit/heads';

/** What a pipeline task asks of a model. */
export type TaskKind = 'classification' | 'segmentation' | 'detection';

export function taskKind(task: PipelineTask): TaskKind {
  return task === 'image-classification'
    ? 'classification'
    : task === 'semantic-segmentation'
      ? 'segmentation'
      : 'detection';
}

/** What loading did. */
export interface LoadReport {
  /** where the weights came from (a path, a URL, "pretrained:<id>"); null: no weights */
  source: string | null;
  /** tensors loaded into the model */
  loaded: number;
  /** parameters left as initialised (no weights, a partial load, or a head without weights), by key */
  fresh: string[];
  /** the same, as the largest modules left wholly initialised (a hybrid's swapped attention slots) */
  freshModules: string[];
  /** checkpoint tensors not used (the classifier of an ImageNet file loaded into a dense backbone) */
  dropped: string[];
}

interface Common {
  /** the registry name of the classifier or dense backbone */
  name: string;
  numClasses: number;
  report: LoadReport;
  dispose(): void;
}

export type AssembledModel =
  | (Common & { task: 'classification'; model: Classifier; input: InputConfig })
  | (Common & { task: 'segmentation'; model: Segmentor; head: HeadVariantName; test: DenseTestConfig })
  | (Common & { task: 'detection'; model: Detector; head: HeadVariantName; test: DenseTestConfig; masks: boolean });

export interface AssembleOptions {
  task: PipelineTask;
  /** registry name: a classifier for image-classification, a dense backbone for the other tasks */
  model: string;
  /** dense tasks: the head's registry name (default: the one the checkpoint holds, else `defaultHead`) */
  head?: string;
  /** dense tasks without an mmseg/mmdet file: the head to build (the pipelines pass the zoo's) */
  defaultHead?: string;
  /** the state dict (already unwrapped), or null for freshly initialised weights */
  weights: StateDict | null;
  /** for messages: where the weights came from */
  source?: string;
  /** load what fits and report the rest instead of failing on missing/unexpected keys */
  partial?: boolean;
  /** per-stage attention overrides (a hybrid): names of registered mechanisms or factories */
  attention?: AttentionOverrides;
}

/** The mmseg/mmdet test scales when a backbone does not name its own. */
export const DEFAULT_DENSE_TEST: Readonly<Record<'segmentation' | 'detection', DenseTestConfig>> = {
  segmentation: { scale: [2048, 512] },
  detection: { scale: [1333, 800], padTo: 32 },
};

const SEG_HEADS = new Set<string>(['upernet_ade20k', 'semfpn_ade20k']);
const DET_HEADS = new Set<string>(['maskrcnn_coco', 'maskrcnn_coco_dat', 'retinanet_coco_dat', 'retinanet_coco_debi']);
const MASK_HEADS = new Set<string>(['maskrcnn_coco', 'maskrcnn_coco_dat']);

/** The task a registered head serves (Mask R-CNN: instance-segmentation, which includes boxes). */
export function taskForHead(head: string): PipelineTask {
  if (SEG_HEADS.has(head)) return 'semantic-segmentation';
  return MASK_HEADS.has(head) ? 'instance-segmentation' : 'object-detection';
}

/** The registered heads a task can use. */
export function headsFor(task: PipelineTask): string[] {
  const kind = taskKind(task);
  if (kind === 'segmentation') return [...SEG_HEADS];
  return task === 'instance-segmentation' ? [...MASK_HEADS] : [...DET_HEADS];
}

/** A typed error unless `head` is one of the registered heads for `task`. */
export function checkHead(task: PipelineTask, head: string): void {
  if (!Object.hasOwn(headVariants, head) || !headsFor(task).includes(head))
    throw new InvalidArgumentError(`the head for ${task} must be one of ${headsFor(task).join(', ')}, got "${head}"`);
}

const few = (keys: Iterable<string>, n = 3): string => {
  const all = [...keys];
  return all.slice(0, n).join(', ') + (all.length > n ? ', …' : '');
};

/**
 * Refuse, in one line, a file whose tensors mostly do not belong to the model (another model or family):
 * fewer than half of the file's names (or of the model's, if it has fewer) are the model's.
 */
export function checkBelongs(modelKeys: ReadonlySet<string>, sd: StateDict, what: string, source: string): void {
  if (sd.size === 0) throw new CheckpointError(`${source} holds no tensors`);
  let hits = 0;
  for (const k of sd.keys()) if (modelKeys.has(k)) hits++;
  if (hits * 2 < Math.min(sd.size, modelKeys.size))
    throw new CheckpointError(
      `${source} does not hold weights for ${what}: only ${hits} of its ${sd.size} tensor names are ${what}'s ` +
        `(its keys begin ${few(sd.keys())}); is it a checkpoint of another model or family?`,
    );
}

/** The model's state-dict names, without reading any weight back from the device. */
const keysOf = (m: Module): Set<string> => new Set(m.stateDictShapes().map(([k]) => k));

/** Whether `key` is one of the family's classifier keys (exact, or under a prefix ending in "."). */
const isClassifierKey = (key: string, classifierKeys: readonly string[]): boolean =>
  classifierKeys.some((p) => (p.endsWith('.') ? key.startsWith(p) : key === p));

/** Rows of the first rank-2 tensor under the family's classifier keys: the classes of a classification file. */
function classifierRows(sd: StateDict, classifierKeys: readonly string[]): number | undefined {
  for (const [k, t] of sd) if (t.shape.length === 2 && isClassifierKey(k, classifierKeys)) return t.shape[0];
  return undefined;
}

function load(model: Module, sd: StateDict, source: string, partial: boolean, dropped: string[] = []): LoadReport {
  const r = model.loadStateDict(sd, { strict: !partial, source });
  return {
    source,
    loaded: sd.size - r.unexpected.length,
    fresh: [...r.missing],
    freshModules: freshModules(floatKeys(model), r.missing),
    dropped: [...dropped, ...r.unexpected],
  };
}

/** The float tensors' keys (int64 `num_batches_tracked` is never required, so never missing). */
const floatKeys = (m: Module): string[] => [...m.namedEntries()].filter((e) => e.dtype === 'F32').map((e) => e.key);

const freshReport = (m: Module): LoadReport => ({
  source: null,
  loaded: 0,
  fresh: floatKeys(m),
  freshModules: ['(all)'],
  dropped: [],
});

/** Build the model for `task` and load `weights` into it (see the module comment). */
export function assembleModel(registry: Registry, opts: AssembleOptions): AssembledModel {
  const { task, model: name, weights } = opts;
  const source = opts.source ?? 'the checkpoint';
  const partial = opts.partial === true;
  const { family, variant } = registry.variant(name);
  const kind = taskKind(task);
  if (variant.kind === 'head')
    throw new InvalidArgumentError(
      `${name} is a head: compose it with a backbone (a dense backbone as the model, and head: '${name}')`,
    );
  const classifierKeys = family.classifierKeys ?? [];

  if (kind === 'classification') {
    if (variant.kind !== 'classifier')
      throw new InvalidArgumentError(
        `${name} is a dense backbone; image-classification needs a classifier (${classifiersOf(registry, family.name)})`,
      );
    if (weights) refuseDenseFile(weights, task, source);
    const rows = weights ? classifierRows(weights, classifierKeys) : undefined;
    const built = registry.createModel(name, {
      ...(rows !== undefined ? { numClasses: rows } : {}),
      ...(opts.attention ? { attention: opts.attention } : {}),
    });
    if (built.kind !== 'classifier') throw new InvalidArgumentError(`${name} did not build a classifier`);
    try {
      let report = freshReport(built);
      if (weights) {
        checkBelongs(keysOf(built), weights, name, source);
        report = load(built, weights, source, partial);
      }
      return {
        task: 'classification',
        name,
        model: built,
        input: variant.input ?? noInput(name),
        numClasses: built.numClasses,
        report,
        dispose: () => built.dispose(),
      };
    } catch (e) {
      built.dispose();
      throw e;
    }
  }

  if (variant.kind !== 'backbone')
    throw new InvalidArgumentError(
      `${name} is a classifier; ${task} needs a dense backbone (${backbonesOf(registry, family.name)})`,
    );
  const fromFile = weights && isDenseCheckpoint(weights) ? headForCheckpoint(weights) : null;
  if (weights && isDenseCheckpoint(weights) && !fromFile)
    throw new CheckpointError(`${source} has backbone.* keys but no head (decode_head.*, roi_head.* or bbox_head.*)`);
  if (fromFile && !headsFor(task).includes(fromFile.head))
    throw new CheckpointError(
      `${source} is a ${fromFile.description} checkpoint, for ${taskForHead(fromFile.head)}, not ${task}`,
    );
  if (fromFile && opts.head !== undefined && opts.head !== fromFile.head)
    throw new CheckpointError(`${source} holds a ${fromFile.head} head, not the ${opts.head} asked for`);
  const headName = fromFile?.head ?? opts.head ?? opts.defaultHead ?? headsFor(task)[0];
  if (headName === undefined)
    throw new InvalidArgumentError(`${task} with ${name} needs a head: one of ${headsFor(task).join(', ')}`);
  if (!Object.hasOwn(headVariants, headName) || !headsFor(task).includes(headName))
    throw new InvalidArgumentError(
      `the head for ${task} must be one of ${headsFor(task).join(', ')}, got "${headName}"`,
    );
  const headKey = headName as HeadVariantName;

  const backbone = registry.createModel(name, opts.attention ? { attention: opts.attention } : {});
  if (backbone.kind !== 'backbone') {
    backbone.dispose();
    throw new InvalidArgumentError(`${name} did not build a dense backbone`);
  }
  let composed: Segmentor | Detector | undefined;
  try {
    const inChannels = (backbone as DenseBackbone).featureInfo.map((f) => f.channels);
    const head = heads.create(headKey, { inChannels, ...(fromFile ? { numClasses: fromFile.numClasses } : {}) });
    composed =
      head instanceof SegmentationHead ? new Segmentor(backbone, head) : new Detector(backbone, head as DetectionHead);
    let report = freshReport(composed);
    if (weights && fromFile) {
      const split = splitDenseCheckpoint(weights);
      checkBelongs(keysOf(backbone), split.backbone, name, source);
      report = load(composed, weights, source, partial);
    } else if (weights) {
      // an ImageNet (or bare backbone) file: the backbone's part only, without the classifier
      const kept: StateDict = new Map();
      const dropped: string[] = [];
      for (const [k, t] of weights)
        if (isClassifierKey(k, classifierKeys)) dropped.push(k);
        else kept.set(k, t);
      checkBelongs(keysOf(backbone), kept, name, source);
      const r = load(backbone, kept, source, true, dropped);
      const loadedKeys = new Set([...kept.keys()].map((k) => `backbone.${k}`));
      const all = floatKeys(composed);
      const fresh = all.filter((k) => !loadedKeys.has(k));
      report = { ...r, fresh, freshModules: freshModules(all, fresh) };
      if (!partial && r.dropped.length > dropped.length)
        throw new CheckpointError(
          `${source} has tensors ${name} does not know: ${few(r.dropped.slice(dropped.length), 6)} (pass partial to load the rest)`,
        );
    }
    const dense = variant.denseEval?.[kind] ?? DEFAULT_DENSE_TEST[kind];
    const c = composed;
    const numClasses = head.numClasses;
    if (c instanceof Segmentor)
      return {
        task: 'segmentation',
        name,
        model: c,
        head: headKey,
        test: dense,
        numClasses,
        report,
        dispose: () => c.dispose(),
      };
    return {
      task: 'detection',
      name,
      model: c,
      head: headKey,
      test: dense,
      masks: MASK_HEADS.has(headKey),
      numClasses,
      report,
      dispose: () => c.dispose(),
    };
  } catch (e) {
    if (composed) composed.dispose();
    else backbone.dispose();
    throw e;
  }
}

function refuseDenseFile(sd: StateDict, task: PipelineTask, source: string): void {
  const h = headForCheckpoint(sd);
  if (h)
    throw new CheckpointError(`${source} is a ${h.description} checkpoint, for ${taskForHead(h.head)}, not ${task}`);
  if (isDenseCheckpoint(sd))
    throw new CheckpointError(`${source} is a dense backbone checkpoint (backbone.*), not an ImageNet classifier`);
}

function classifiersOf(registry: Registry, family: string): string {
  const names = registry.listModels().filter((m) => m.family === family && m.kind === 'classifier');
  return `e.g. ${few(names.map((m) => m.name))}`;
}

function backbonesOf(registry: Registry, family: string): string {
  const names = registry.listModels().filter((m) => m.family === family && m.kind === 'backbone');
  return names.length ? `e.g. ${few(names.map((m) => m.name))}` : `${family} has none`;
}

function noInput(name: string): InputConfig {
  throw new InvalidArgumentError(`${name} has no evaluation transform (its variant has no input config)`);
}
