// Test support (not published): one hybrid of a family's skeleton (its reduced golden config and weights,
// one stage swapped) on cpu and on WebGPU (Dawn; SwiftShader in tests), printing the largest difference
// of the logits as JSON. A child process: the Vulkan loader reads its environment when Dawn starts.
// argv: family stage mechanism
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { asBuiltModel, readSafetensors, resolveAttention } from '@dynavit/core';
import { DAT, fromOfficialConfig as datConfig } from '@dynavit/dat';
import { DeBiFormer, fromOfficialConfig as dbraConfig } from '@dynavit/dbra';
import { GLNet, fromOfficialConfig as glnetConfig } from '@dynavit/glmix';
import { selectBackend } from '../../dist/index.js';
import { createRegistry } from '../../dist/registry.js';

const [family, stage, mechanism] = process.argv.slice(2);
const golden = (pkg, name) =>
  readSafetensors(
    new Uint8Array(
      readFileSync(new URL(`../../../${pkg}/src/__fixtures__/golden/${name}.weights.safetensors`, import.meta.url)),
    ),
  );
const attention = resolveAttention({ [stage]: mechanism }, createRegistry().attentionMechanisms(), 4, family);
let build;
let weights;
let input;
if (family === 'dat') {
  const g = golden('dat', 'dat_pp_reduced');
  build = () => new DAT({ ...datConfig(JSON.parse(g.metadata.config), false), attention });
  [weights, input] = [g.tensors, [64, 64]];
} else if (family === 'dbra') {
  const g = golden('dbra', 'cls_tiny_reduced');
  const c = dbraConfig(JSON.parse(g.metadata.config), false, JSON.parse(g.metadata.derived));
  build = () =>
    new DeBiFormer({ ...c, stages: c.stages.map((s, i) => (attention[i] ? { ...s, swap: attention[i] } : s)) });
  [weights, input] = [g.tensors, [112, 112]];
} else {
  const g = golden('glmix', 'g_reduced_96x128');
  build = () =>
    new GLNet({ ...glnetConfig(JSON.parse(g.metadata.config), { modelClass: 'GLNet', dense: false }), attention });
  [weights, input] = [g.tensors, [64, 64]];
}
await selectBackend({ prefer: 'cpu' });
const onCpu = asBuiltModel(build());
onCpu.loadStateDict(weights, { strict: false });
const sd = onCpu.stateDict();
const xv = tf.randomNormal([1, ...input, 3], 0, 1, 'float32', 3);
const x = await xv.data();
const ref = await onCpu.forward(xv).data();
const choice = await selectBackend({ prefer: 'webgpu' });
const onGpu = asBuiltModel(build());
onGpu.loadStateDict(sd);
const got = await onGpu.forward(tf.tensor4d(x, [1, ...input, 3])).data();
let maxAbs = 0;
let maxRef = 0;
for (let i = 0; i < ref.length; i++) {
  maxAbs = Math.max(maxAbs, Math.abs(got[i] - ref[i]));
  maxRef = Math.max(maxRef, Math.abs(ref[i]));
}
console.log(
  JSON.stringify({
    family,
    stage: Number(stage),
    mechanism,
    backend: choice.backend,
    adapter: choice.adapter ?? null,
    maxAbs,
    maxRef,
  }),
);
