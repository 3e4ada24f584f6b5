/**
 * The pretrained-weights table ("model zoo"): one entry per released checkpoint of a family. The
 * entries live in the family packages (`dat.pretrained`, …), next to the variants they load into;
 * core holds only their shape and the lookup. The runtimes (`@dynavit/backend-node`,
 * `@dynavit/backend-web`) download, cache and verify the files.
 */
import { InvalidArgumentError } from './errors.js';

/** The tasks a pipeline runs (the transformers.js names). */
export type PipelineTask =
  | 'image-classification'
  | 'semantic-segmentation'
  | 'object-detection'
  | 'instance-segmentation';

export const PIPELINE_TASKS: readonly PipelineTask[] = [
  'image-classification',
  'semantic-segmentation',
  'object-detection',
  'instance-segmentation',
];

/** Fashion-MNIST's classes in label order: the classes of the bundled `*_fmnist` models. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export interface ZooMetric {
  /** e.g. "top-1", "mIoU", "mIoU (MS)", "box AP", "mask AP" */
  name: string;
  /** the paper's or the official README's value */
  value: number;
}

/** One released checkpoint. */
export interface PretrainedCheckpoint {
  /** stable id, unique across families: "<model>[.<head>]" plus a suffix when one model has several releases */
  id: string;
  /** registry name of the model the file's backbone loads into (a classifier, or a dense backbone) */
  model: string;
  /** dense releases: registry name of the head the rest of the file loads into (e.g. "upernet_ade20k") */
  head?: string;
  task: PipelineTask;
  /** "ImageNet-1k", "ADE20K", "COCO" */
  dataset: string;
  /** the input size the metric was measured at, as the paper says it ("224²", "512×2048", "1333×800") */
  resolution: string;
  metrics: readonly ZooMetric[];
  /**
   * direct download links, tried in order; a `bundled` release's first link is the file inside its
   * family package (`new URL('../weights/…', import.meta.url)`: a `file:` URL in Node, the bundler's
   * asset URL in a browser)
   */
  urls: readonly string[];
  /**
   * the weights ship inside the family package (small models trained by dynavit): nothing to download,
   * and `dynavit run --model ID` uses them without `--weights`
   */
  bundled?: boolean;
  /** the class names, in the classifier's order, when they are not the dataset's standard set (ImageNet, ADE20K, COCO) */
  labels?: readonly string[];
  /** when no direct link exists (Google Drive folders, …): where the file is and what to do by hand */
  manual?: string;
  /** the top-level checkpoint key the official loader reads (`model`, `model_ema`, `state_dict`) */
  key?: string;
  /** hex sha256 of the file, when published; otherwise recorded on first download and checked after */
  sha256?: string;
  /** file name in the cache */
  file: string;
  /** the official page the entry comes from */
  source: string;
  /** schedule, pre-training, and anything else a user choosing a release should know */
  notes?: string;
}

/**
 * The default release for `weights: 'pretrained'`: the first entry for `model` (and `head`, for dense
 * tasks) and `task`; a typed error listing what exists otherwise.
 */
export function findPretrained(
  table: readonly PretrainedCheckpoint[],
  query: { model: string; task?: PipelineTask; head?: string; id?: string },
): PretrainedCheckpoint {
  if (query.id !== undefined) {
    const hit = table.find((e) => e.id === query.id);
    if (!hit)
      throw new InvalidArgumentError(
        `no pretrained release "${query.id}"; known: ${table.map((e) => e.id).join(', ') || '(none)'}`,
      );
    return hit;
  }
  const forModel = table.filter((e) => e.model === query.model);
  const hit = forModel.find(
    (e) => (query.task === undefined || e.task === query.task) && (query.head === undefined || e.head === query.head),
  );
  if (hit) return hit;
  const what = [query.model, query.head, query.task].filter(Boolean).join(' + ');
  const known = forModel.map((e) => `${e.id} (${e.task}${e.head ? `, ${e.head}` : ''})`);
  throw new InvalidArgumentError(
    `no pretrained release for ${what}` +
      (known.length ? `; ${query.model} has: ${known.join(', ')}` : '; see `dynavit list --pretrained`'),
  );
}

/** The release whose weights ship inside `model`'s package (an image classifier), if any. */
export function findBundled(table: readonly PretrainedCheckpoint[], model: string): PretrainedCheckpoint | undefined {
  return table.find((e) => e.bundled && e.model === model && e.task === 'image-classification');
}

/**
 * The release entry of a small model trained by dynavit on Fashion-MNIST whose weights ship inside its
 * family package (`bundled`). `url` must be written in the family's source as
 * `new URL('../weights/<model>.safetensors', import.meta.url)`, the form bundlers turn into an asset.
 */
export function fashionMnistRelease(o: {
  model: string;
  url: URL;
  /** hex sha256 of the shipped file */
  sha256: string;
  /** Fashion-MNIST test top-1 (%), measured with `dynavit eval` on the 10,000 test images */
  top1: number;
  /** how it was trained (the command), how long it took, on what */
  notes: string;
}): PretrainedCheckpoint {
  return {
    id: o.model,
    model: o.model,
    task: 'image-classification',
    dataset: 'Fashion-MNIST',
    resolution: '64² (28² resized)',
    metrics: [{ name: 'top-1', value: o.top1 }],
    urls: [o.url.href],
    bundled: true,
    labels: FASHION_MNIST_CLASSES,
    sha256: o.sha256,
    file: `${o.model}.safetensors`,
    source: 'trained by dynavit (`dynavit train`, docs: guide/training)',
    notes: o.notes,
  };
}
