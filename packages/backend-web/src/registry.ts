/**
 * The browser's model registry: the only place in this package where model families meet the
 * runtime (as `@dynavit/backend-node`'s registry does for Node). Families are registered explicitly;
 * nothing here runs on import, and a bundle that never calls these functions drops the model code.
 */
import { type BuiltModel, type CreateModelOptions, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { heads } from '@dynavit/heads';

/** A registry with every dynavit family: DAT/DAT++, DeBiFormer, GLNet and the dense heads. */
export function createRegistry(): Registry {
  return new Registry([dat, dbra, glmix, heads]);
}

let shared: Registry | undefined;

/**
 * Build a registered model by its official builder name (`dat_pp_tiny`, …) with freshly initialised
 * weights; load a checkpoint with `model.loadStateDict((await loadWeights(url)).tensors)`. Same as
 * `createRegistry().createModel(name, options)`; an unknown name throws listing the known ones.
 */
export function createModel(name: string, options?: CreateModelOptions): BuiltModel {
  shared ??= createRegistry();
  return shared.createModel(name, options);
}
