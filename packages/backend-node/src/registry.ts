/** The CLI's registry: the only place where model families are wired to the Node runtime. */
import { Registry } from '@dynavit/core';
import { heads } from '@dynavit/heads';
import { datWithFmnist, dbraWithFmnist, glmixWithFmnist } from './train/fmnist-models.js';

/**
 * Every dynavit family: DAT, DeBiFormer and GLNet (each with its small `*_fmnist` classifier for
 * training from scratch, `train/fmnist-models.ts`) and the dense heads.
 */
export const createRegistry = (): Registry => new Registry([datWithFmnist, dbraWithFmnist, glmixWithFmnist, heads]);
