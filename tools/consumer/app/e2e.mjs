// dat_pp_tiny end to end on wasm through @dynavit/backend-node. A built model starts with zeros (weights
// are meant to be loaded), so it first gets seeded random weights, strictly, in PyTorch layout; a 64×64
// input must give [1,1000] finite, non-zero logits. The weights then go out to a safetensors file and
// back in through @dynavit/core/node, and a fresh model with them must compute the same logits.
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@dynavit/backend-node';
import { Registry } from '@dynavit/core';
import { readSafetensorsFile, writeSafetensorsFile } from '@dynavit/core/node';
import { dat } from '@dynavit/dat';

const choice = await selectBackend({ prefer: 'wasm' });
if (tf.getBackend() !== 'wasm') throw new Error(`backend is ${tf.getBackend()}`);
const registry = new Registry([dat]);
const model = registry.createModel('dat_pp_tiny');
if (model.kind !== 'classifier') throw new Error(`dat_pp_tiny built as a ${model.kind}`);

// mulberry32: the same weights on every run
let seed = 0x5eed;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const weights = new Map();
for (const [key, t] of model.stateDict()) {
  if (t.dtype !== 'F32') {
    weights.set(key, t);
    continue;
  }
  const data = new Float32Array(t.data.length);
  const fanIn = t.shape.length > 1 ? data.length / t.shape[0] : 0;
  const isScale = t.shape.length === 1 && /weight$/.test(key);
  for (let i = 0; i < data.length; i++) {
    const r = 2 * rand() - 1;
    data[i] = fanIn ? r / Math.sqrt(fanIn) : isScale ? 1 + 0.1 * r : 0.1 * r;
  }
  weights.set(key, { dtype: 'F32', shape: t.shape, data });
}
const loaded = model.loadStateDict(weights); // strict
const x = tf.randomUniform([1, 64, 64, 3], -2, 2, 'float32', 7);

const t0 = performance.now();
const logits = model.forward(x);
const values = await logits.data();
const ms = performance.now() - t0;
if (JSON.stringify(logits.shape) !== '[1,1000]') throw new Error(`logits shape ${JSON.stringify(logits.shape)}`);
if (!values.every(Number.isFinite)) throw new Error('non-finite logits');
if (!values.some((v) => v !== 0)) throw new Error('all logits are zero');
const features = model.forwardFeatures(x).map((f) => f.shape);

await writeSafetensorsFile('dat_pp_tiny.safetensors', model.stateDict(), { model: 'dat_pp_tiny' });
const file = await readSafetensorsFile('dat_pp_tiny.safetensors');
const copy = registry.createModel('dat_pp_tiny');
copy.loadStateDict(file.tensors);
const again = await copy.forward(x).data();
let diff = 0;
for (let i = 0; i < values.length; i++) diff = Math.max(diff, Math.abs(values[i] - again[i]));
if (diff !== 0) throw new Error(`the reloaded weights give different logits (max diff ${diff})`);

console.log(
  JSON.stringify({
    backend: choice.backend,
    logits: logits.shape,
    features,
    forwardMs: Math.round(ms),
    loaded: loaded.loaded,
    reloaded: file.tensors.size,
  }),
);
