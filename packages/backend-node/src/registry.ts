/** The CLI's registry: the only place where model families are wired to the Node runtime. */
import { Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { heads } from '@dynavit/heads';

/** Every dynavit family (DAT, DeBiFormer, GLNet, with their small `*_fmnist` models to train) and the dense heads. */
export const createRegistry = (): Registry => new Registry([dat, dbra, glmix, heads]);
