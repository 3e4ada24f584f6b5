#!/usr/bin/env node
/**
 * Count the multiply-accumulates ("FLOPs" as the papers count them) of every registered model at
 * 224×224 with `countMacs` from @dynavit/core, and write them to data/macs.json. Run by hand after a
 * model changes (`node scripts/count-macs.mjs`, after `pnpm build`; a few minutes on wasm): a full
 * forward of every variant is too slow for every docs build, so the build reads the JSON. The docs
 * test checks the JSON against the numbers in the porting specs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { countMacs, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';

await tf.setBackend('wasm');
await tf.ready();
const registry = new Registry().use(dat).use(dbra).use(glmix);
const only = process.argv.slice(2); // model names: count only these, keep the others' numbers
const file = new URL('../data/macs.json', import.meta.url);
const prev = only.length && existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : { gmacs: {}, sizes: {} };
const out = {
  note: 'MACs (G) counted with countMacs from @dynavit/core (convs, linears, attention products) at 224×224, or at the evaluation size when a classifier was evaluated at another one (sizes); classifiers: forward, backbones: forwardFeatures. Written by scripts/count-macs.mjs.',
  gmacs: prev.gmacs,
  sizes: prev.sizes ?? {},
};
for (const m of registry.listModels()) {
  if (only.length && !only.includes(m.name)) continue;
  const t0 = performance.now();
  const model = registry.createModel(m.name);
  const evalSize = registry.variant(m.name).variant.input?.size[0] ?? 224;
  const size = m.kind === 'classifier' ? evalSize : 224;
  if (size !== 224) out.sizes[m.name] = size;
  else delete out.sizes[m.name];
  const x = tf.zeros([1, size, size, 3]);
  const { result, macs } = countMacs(() => (m.kind === 'classifier' ? model.forward(x) : model.forwardFeatures(x)));
  await Promise.all([result].flat().map((t) => t.data()));
  tf.dispose([x, result]);
  model.dispose();
  out.gmacs[m.name] = Math.round(macs / 1e7) / 100;
  console.error(`${m.name} @${size}: ${(macs / 1e9).toFixed(3)} G (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
const order = registry.listModels().map((m) => m.name);
out.gmacs = Object.fromEntries(order.filter((n) => out.gmacs[n] !== undefined).map((n) => [n, out.gmacs[n]]));
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
