#!/usr/bin/env node
// Forward time of a registered GLNet variant (default glnet_4g) on one backend, random weights.
// Build first (pnpm --filter @dynavit/glmix... build), then from the repo root:
//   node packages/glmix/tools/bench.mjs [variant=glnet_4g] [backend=wasm] [size=224] [runs=3]
// Prints the median of `runs` timed forwards after one warm-up.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { Registry } from '@dynavit/core';
import { glmix } from '@dynavit/glmix';

const [name = 'glnet_4g', backend = 'wasm', size = '224', runs = '3'] = process.argv.slice(2);
await tf.setBackend(backend);
await tf.ready();
const model = new Registry().use(glmix).createModel(name);
// deterministic pseudo-random weights (zeros would leave BatchNorm/LayerNorm paths degenerate)
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.1;
const sd = new Map(
  model.stateDictShapes().map(([k, s]) => {
    const n = s.reduce((a, b) => a * b, 1);
    const base = /(running_var|norm\d?\.weight|\.weight)$/.test(k) && s.length === 1 ? 1 : 0;
    return [k, { dtype: 'F32', shape: s, data: Float32Array.from({ length: n }, () => base + rnd()) }];
  }),
);
for (const [k, v] of sd) if (k.endsWith('num_batches_tracked')) sd.delete(k);
model.loadStateDict(sd, { strict: false });
const x = tf.randomNormal([1, Number(size), Number(size), 3]);
const once = () => {
  const t0 = performance.now();
  const y = model.forward(x);
  y.dataSync();
  y.dispose();
  return performance.now() - t0;
};
const warm = once();
const times = Array.from({ length: Number(runs) }, once).sort((a, b) => a - b);
console.log(
  JSON.stringify({
    variant: name,
    backend,
    input: [1, Number(size), Number(size), 3],
    params: model.parameterCount(),
    warmupMs: Math.round(warm),
    runsMs: times.map(Math.round),
    medianMs: Math.round(times[Math.floor(times.length / 2)]),
  }),
);
x.dispose();
model.dispose();
