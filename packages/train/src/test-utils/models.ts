/**
 * Small classifiers of each family for training tests: the registered `*_fmnist` models (the reduced
 * configurations of the golden cases dat_pp_reduced, cls_tiny_reduced and g_reduced_96x128, 64×64),
 * with few classes, and a hybrid through the registry's attention overrides; initialised for training
 * with core's `initializeWeights`.
 */
import { type AttentionOverrides, type Classifier, initializeWeights, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';

export type TinyFamily = 'dat' | 'dbra' | 'glmix';

const registry = new Registry([dat, dbra, glmix]);
const NAMES: Record<TinyFamily, string> = { dat: 'dat_fmnist', dbra: 'debi_fmnist', glmix: 'glnet_fmnist' };

function build(
  name: string,
  numClasses: number,
  seed: number,
  attention?: AttentionOverrides,
  dropPathRate?: number,
): Classifier {
  const m = registry.createModel(name, {
    numClasses,
    ...(attention ? { attention } : {}),
    ...(dropPathRate !== undefined ? { dropPathRate } : {}),
  });
  if (m.kind !== 'classifier') throw new Error(`${name} is not a classifier`);
  initializeWeights(m, seed);
  return m;
}

/** The small classifier of `family` with `numClasses` classes, initialised for training (seeded). */
export function tinyClassifier(family: TinyFamily, numClasses = 10, seed = 0, dropPathRate?: number): Classifier {
  return build(NAMES[family], numClasses, seed, undefined, dropPathRate);
}

/** dat_fmnist with stage overrides (e.g. `{ 2: 'glmix.glmix' }`), resolved against every family's mechanisms. */
export function tinyHybrid(overrides: AttentionOverrides, numClasses = 10, seed = 0): Classifier {
  return build('dat_fmnist', numClasses, seed, overrides);
}
