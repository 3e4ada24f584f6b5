/**
 * Label sets for the released checkpoints: ImageNet-1k (1000), ADE20K (150, index k = dataset label k+1),
 * COCO (80, mmdet's order). Plain data, the same in Node and in the browser.
 */
import { labels as ade20k, colors as ade20kColors } from './labels/ade20k.js';
import { labels as coco } from './labels/coco.js';
import { labels as imagenet } from './labels/imagenet.js';

export type LabelSet = 'imagenet' | 'ade20k' | 'coco';

const SETS: Readonly<Record<LabelSet, readonly string[]>> = { imagenet, ade20k, coco };

/** Class names; index i is the model's output i (ADE20K: dataset label i + 1). */
export function labelsOf(set: LabelSet): readonly string[] {
  return SETS[set];
}

/** The label set a head with `numClasses` outputs was trained on, by task (null: no shipped set fits). */
export function labelSetFor(
  task: 'classification' | 'segmentation' | 'detection',
  numClasses: number,
): LabelSet | null {
  const set: LabelSet = task === 'classification' ? 'imagenet' : task === 'segmentation' ? 'ade20k' : 'coco';
  return SETS[set].length === numClasses ? set : null;
}

/** The label name, or `class i` when a model has more classes than the set. */
export function labelName(set: LabelSet | null, i: number): string {
  return (set ? SETS[set][i] : undefined) ?? `class ${i}`;
}

/** Names for `numClasses` outputs: the set's names, or `class i`. */
export function classNames(set: LabelSet | null, numClasses: number): string[] {
  return Array.from({ length: numClasses }, (_, i) => labelName(set, i));
}

/** A colour per class: the dataset's palette where it has one (ADE20K), else a deterministic hue. */
export function classColor(set: LabelSet | null, i: number): [number, number, number] {
  const c = set === 'ade20k' ? ade20kColors[i] : undefined;
  if (c) return [c[0], c[1], c[2]];
  const h = (i * 137.508) % 360;
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (0.55 - 0.45 * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}
