// The model packages plug into the one installed @dynavit/core: a Registry built from the packages
// directly (no backend package) lists every family's models.
import { Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { heads } from '@dynavit/heads';

const registry = new Registry().use(dat).use(dbra).use(glmix).use(heads);
const names = registry.listModels().map((m) => m.name);
for (const n of ['dat_pp_tiny', 'glnet_stl'])
  if (!names.includes(n)) throw new Error(`${n} is not listed: ${names.join(', ')}`);
console.log(JSON.stringify({ families: registry.families().length, models: names.length }));
