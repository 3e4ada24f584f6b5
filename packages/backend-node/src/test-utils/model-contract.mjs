// Test support (not published): the facts the generic model test asserts, measured in a child
// process (a whole forward of the largest variants blocks for longer than vitest's worker RPC allows).
// For every registered model: kind, parameter count and, for classifiers and backbones, the feature
// pyramid of a forward at a small non-square input. One JSON object per line, the listing's order.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { createRegistry } from '../../dist/registry.js';

await tf.setBackend('wasm');
await tf.ready();
const registry = createRegistry(); // the CLI's: the families with their *_fmnist variants
const only = process.argv[2] ? new Set(process.argv[2].split(',')) : null;
for (const listing of registry.listModels()) {
  if (only && !only.has(listing.name)) continue;
  const before = tf.memory().numTensors;
  const model = registry.createModel(listing.name);
  const r = { name: listing.name, kind: model.kind, params: model.parameterCount() };
  if (model.kind === 'head')
    Object.assign(r, { task: model.task, inChannels: model.inChannels, numClasses: model.numClasses });
  else {
    const h = Math.max(64, Math.ceil(model.minInputSize / 32) * 32);
    const w = h + 32;
    const x = tf.randomNormal([1, h, w, 3], 0, 1, 'float32', 5);
    const feats = model.forwardFeatures(x);
    Object.assign(r, {
      input: [h, w],
      featureInfo: model.featureInfo,
      featureSizes: { h: model.featureSizes(h), w: model.featureSizes(w), 224: model.featureSizes(224) },
      shapes: feats.map((f) => f.shape),
      finite: feats.every((f) => tf.tidy(() => tf.all(tf.isFinite(f)).dataSync()[0] === 1)),
    });
    if (model.kind === 'classifier') {
      const viaHead = model.forwardHead(feats);
      const logits = model.forward(x);
      r.numClasses = model.numClasses;
      r.logitsShape = logits.shape;
      r.forwardVsHead = tf.tidy(() => tf.max(tf.abs(tf.sub(logits, viaHead))).dataSync()[0]);
      tf.dispose([viaHead, logits]);
    } else {
      try {
        model.forward(x);
        r.forwardError = null;
      } catch (e) {
        r.forwardError = e.message;
      }
    }
    tf.dispose([x, ...feats]);
  }
  model.dispose();
  r.leaked = tf.memory().numTensors - before;
  console.log(JSON.stringify(r));
}
