// Test support (not published): shader warm-up on WebGPU (Dawn; SwiftShader in tests). For each of the
// three small *_fmnist models: its forward on cpu (the reference), then on WebGPU `compileGpuPrograms`
// (every pipeline compiled in parallel, nothing run), then the real forward, which must compile nothing
// more and equal the reference. Prints one JSON line. With --cold, per model the first forward without
// a warm-up and the warm-up + first forward, timed (each model in a fresh pipeline cache: run it once per
// model name given after --cold). A child process: the Vulkan loader reads its environment when Dawn starts.
import * as tf from '@tensorflow/tfjs-core';
import { compileGpuPrograms } from '@dynavit/core';
import { seededWeights } from '@dynavit/core/testing';
import { selectBackend } from '../../dist/index.js';
import { createRegistry } from '../../dist/registry.js';

const cold = process.argv.includes('--cold');
const names = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const MODELS = names.length ? names : ['dat_fmnist', 'debi_fmnist', 'glnet_fmnist'];
const registry = createRegistry();
const cache = () => Object.keys(tf.backend().pipelineCache).length;

await selectBackend({ prefer: 'cpu' });
const refs = [];
for (const [i, name] of MODELS.entries()) {
  const m = registry.createModel(name, {});
  // seeded values (a model is built with zeros until weights are loaded)
  const sd = seededWeights(m.stateDict(), 11 + i);
  m.loadStateDict(sd);
  const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 5 + i);
  refs.push({ sd, x: await x.data(), y: await m.forward(x).data() });
  tf.dispose(x);
}
const choice = await selectBackend({ prefer: 'webgpu' });
const out = { backend: choice.backend, adapter: choice.adapter ?? null, models: [] };
for (const [i, name] of MODELS.entries()) {
  const m = registry.createModel(name, {});
  m.loadStateDict(refs[i].sd);
  const x = tf.tensor4d(refs[i].x, [1, 64, 64, 3]);
  const tensors = tf.memory().numTensors;
  const t0 = performance.now();
  if (cold) {
    await m.forward(x).data();
    const coldMs = performance.now() - t0;
    out.models.push({ name, coldFirstForwardMs: coldMs });
    continue;
  }
  const before = cache();
  const report = await compileGpuPrograms(() => m.forward(x));
  const leakedByWarmUp = tf.memory().numTensors - tensors;
  const compiled = cache();
  const t1 = performance.now();
  const y = m.forward(x);
  const got = await y.data();
  const firstMs = performance.now() - t1;
  tf.dispose(y);
  let maxAbs = 0;
  let maxRef = 0;
  for (let k = 0; k < got.length; k++) {
    maxAbs = Math.max(maxAbs, Math.abs(got[k] - refs[i].y[k]));
    maxRef = Math.max(maxRef, Math.abs(refs[i].y[k]));
  }
  out.models.push({
    name,
    report,
    newPipelines: compiled - before,
    compiledByForward: cache() - compiled,
    leakedByWarmUp,
    warmUpMs: report.ms,
    firstForwardMs: firstMs,
    maxAbs,
    maxRef,
  });
  tf.dispose(x);
}
console.log(JSON.stringify(out));
