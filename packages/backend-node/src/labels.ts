/** Label sets shipped with the package (see each file's `source`): ImageNet-1k, ADE20K (150), COCO (80). */
import { readFileSync } from 'node:fs';

export type LabelSet = 'imagenet' | 'ade20k' | 'coco';

interface LabelFile {
  source: string;
  labels: string[];
  colors?: [number, number, number][];
}

const cache = new Map<LabelSet, LabelFile>();

function load(set: LabelSet): LabelFile {
  let f = cache.get(set);
  if (!f) {
    f = JSON.parse(readFileSync(new URL(`../labels/${set}.json`, import.meta.url), 'utf8')) as LabelFile;
    cache.set(set, f);
  }
  return f;
}

/** Class names; index i is the model's output i (ADE20K: dataset label i + 1). */
export function labels(set: LabelSet): readonly string[] {
  return load(set).labels;
}

/** A colour per class: the dataset's palette where it has one (ADE20K), else a deterministic hue. */
export function classColor(set: LabelSet, i: number): [number, number, number] {
  const c = load(set).colors?.[i];
  if (c) return c;
  const h = (i * 137.508) % 360;
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (0.55 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** The label name, or `class i` when a model has more classes than the set. */
export function labelName(set: LabelSet, i: number): string {
  return labels(set)[i] ?? `class ${i}`;
}
