// #region registry
import { GlobalAttention, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { selectBackend } from '@dynavit/backend-node';

await selectBackend(); // in the browser: selectBackend from @dynavit/backend-web
const registry = new Registry([dat, dbra, glmix]); // the mechanisms of every registered family are available
const hybrid = registry.createModel('dat_pp_tiny', { attention: { 2: 'dbra.dbra' } }); // 0-based stage
// #endregion registry
console.log(hybrid.kind);
hybrid.dispose();

// #region factory
const m = registry.createModel('glnet_4g', { attention: { 3: (ctx) => new GlobalAttention(ctx.dim, ctx.numHeads) } });
// #endregion factory
console.log(m.kind);
m.dispose();
