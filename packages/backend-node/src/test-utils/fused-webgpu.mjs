// Test support (not published): core's fused kernels on WebGPU (Dawn; SwiftShader in tests) against their
// composite paths on cpu:
// - neighbourhood attention, both layouts (heads-first q, k, v; a fused qkv projection), with and without
//   the bias table, several window sizes and dilations;
// - bilinear grid sampling, both corner conventions and both paddings, coordinates beyond the map;
// - routed region attention (BiFormer/DeBiFormer), against dbra's gathered composite;
// - GLMix's soft clustering of pixels into slots and soft dispatch of slots to pixels, against their composites;
// - GELU (every MLP's activation), against its composite;
// - Conv2d and Linear with the bias added inside the product (tf.fused.*), against product then addition.
// Prints one JSON line: the backend, tensors leaked, and per case the largest difference and the largest
// reference value. A child process: the Vulkan loader reads its environment when Dawn starts.
import * as tf from '@tensorflow/tfjs-core';
import {
  Conv2d,
  FUSED_BIAS_FLAG,
  gelu,
  initializeWeights,
  Linear,
  gridSample,
  neighborhoodAttention2d,
  neighborhoodAttention2dFused,
  neighborhoodAttentionFromQKV,
  softCluster,
  softDispatch,
} from '@dynavit/core';
import { routedAttention } from '@dynavit/dbra';
import { selectBackend } from '../../dist/index.js';

// [B, M, H, W, D, k, dilation]: DAT's N blocks (7×7, D 32), a map equal to the window, odd widths, batch 2
const CASES = [
  [1, 2, 14, 14, 32, 7, 1],
  [2, 3, 7, 9, 4, 7, 1],
  [1, 2, 10, 12, 5, 3, 1],
  [1, 1, 11, 9, 6, 3, 2],
  [1, 2, 15, 16, 2, 5, 3],
];
const values = (n, seed) => tf.randomUniform([n], -1, 1, 'float32', seed);

const GRID_CASES = [
  [2, 7, 9, 16, 3, 4],
  [1, 5, 1, 3, 6, 2],
];

// [N, P, tq, T, C, m, k]: DeBiFormer-T stage 0 at 224² (49 regions of 8×8, k 1, d 32), DBRA's agents
// (1 query per region, 4 heads), k = P, odd sizes
const ROUTED_CASES = [
  [1, 49, 64, 64, 64, 2, 1],
  [1, 49, 1, 16, 128, 4, 4],
  [2, 9, 5, 7, 12, 3, 9],
  [1, 4, 3, 2, 6, 1, 2],
];

// [B, S, L, C]: GLNet-4G stage 0 at 224² (64 slots, 56² pixels, 64 channels), channels not a multiple of 4
const DISPATCH_CASES = [
  [1, 64, 3136, 64],
  [2, 5, 7, 6],
];

// GELU: an MLP's hidden layer (DAT-T++ stage 0 at 224², 56² × 256) and an odd size, over [−12, 12]
const GELU_SHAPES = [
  [1, 56, 56, 256],
  [7, 11, 13],
];

await selectBackend({ prefer: 'cpu' });
// layers whose bias is added inside the product for inference: [name, layer, input shape, fused kernel].
// Small shapes take tfjs-webgpu's generic programs, model-sized ones its vectorised and tiled ones
// (DepthwiseConv2DVec4, Conv2DMM, MatMulPacked)
const BIAS_LAYERS = [
  ['conv 3x3 stride 2', new Conv2d(16, 24, 3, { stride: 2, padding: 1 }), [2, 15, 13, 16], 'FusedConv2D'],
  ['conv 1x1', new Conv2d(32, 48, 1), [1, 14, 14, 32], 'FusedConv2D'],
  ['conv 3x3 56x56x64', new Conv2d(64, 64, 3, { padding: 1 }), [1, 56, 56, 64], 'FusedConv2D'],
  [
    'depthwise 5x5 dilation 2',
    new Conv2d(24, 24, 5, { padding: 4, dilation: 2, groups: 24 }),
    [1, 17, 19, 24],
    'FusedDepthwiseConv2D',
  ],
  [
    'depthwise 7x7 28x28x64',
    new Conv2d(64, 64, 7, { padding: 3, groups: 64 }),
    [1, 28, 28, 64],
    'FusedDepthwiseConv2D',
  ],
  [
    'depthwise 9x9 stride 8',
    new Conv2d(64, 64, 9, { stride: 8, padding: 4, groups: 64 }),
    [1, 56, 56, 64],
    'FusedDepthwiseConv2D',
  ],
  ['linear', new Linear(40, 56), [3, 49, 40], '_FusedMatMul'],
  ['linear 3136x64 to 256', new Linear(64, 256), [1, 3136, 64], '_FusedMatMul'],
];
for (const [i, [, layer]] of BIAS_LAYERS.entries()) {
  initializeWeights(layer, 7 + i);
  // biases of both signs, for every layer (initializeWeights leaves a Linear's at zero)
  tf.tidy(() => layer.bias.variable.assign(tf.randomUniform(layer.bias.value.shape, -1, 1, 'float32', 110 + i)));
}
const biasInputs = BIAS_LAYERS.map(([, , shape], i) => tf.randomUniform(shape, -2, 2, 'float32', 120 + i).dataSync());

const geluInputs = GELU_SHAPES.map((shape, i) => tf.randomUniform(shape, -12, 12, 'float32', 100 + i).dataSync());
const dispatchInputs = DISPATCH_CASES.map(([b, s, l, c], i) => ({
  logits: tf.randomUniform([b, s, l], -30, 30, 'float32', 90 + i).dataSync(),
  slots: tf.randomNormal([b, s, c], 0, 1, 'float32', 95 + i).dataSync(),
  tokens: tf.randomNormal([b, l, c], 0, 1, 'float32', 85 + i).dataSync(),
}));
const routedInputs = ROUTED_CASES.map(([n, p, tq, t, c, , k], i) => ({
  q: tf.randomNormal([n, p, tq, c], 0, 1, 'float32', 50 + i).dataSync(),
  k: tf.randomNormal([n, p, t, c], 0, 1, 'float32', 60 + i).dataSync(),
  v: tf.randomNormal([n, p, t, c], 0, 1, 'float32', 70 + i).dataSync(),
  idx: tf.topk(tf.randomNormal([n, p, p], 0, 1, 'float32', 80 + i), k).indices.dataSync(),
}));
const gridInputs = GRID_CASES.map(([n, h, w, c, ho, wo], i) => ({
  input: tf.randomUniform([n, h, w, c], -2, 2, 'float32', 30 + i).dataSync(),
  // up to 1.3 beyond the edges
  grid: tf.randomUniform([n, ho, wo, 2], -1.3, 1.3, 'float32', 40 + i).dataSync(),
}));
const inputs = CASES.map(([B, M, H, W, D, k], i) => ({
  qkv: values(B * H * W * 3 * M * D, 10 + i).dataSync(),
  rpb: values(M * (2 * k - 1) ** 2, 20 + i).dataSync(),
}));
async function run(useFused) {
  const outs = [];
  for (const [i, [B, M, H, W, D, k, dilation]] of CASES.entries())
    for (const withRpb of [true, false]) {
      const qkv = tf.tensor4d(inputs[i].qkv, [B, H, W, 3 * M * D]);
      const rpb = withRpb ? tf.tensor3d(inputs[i].rpb, [M, 2 * k - 1, 2 * k - 1]) : null;
      // the heads-first layout from the same values
      const [q, key, v] = tf.tidy(() =>
        tf.unstack(tf.transpose(tf.reshape(qkv, [B, H, W, 3, M, D]), [3, 0, 4, 1, 2, 5]), 0),
      );
      const path = useFused ? 'fused' : 'composite';
      const fromQkv = neighborhoodAttentionFromQKV(qkv, M, rpb, k, D ** -0.5, { dilation, path });
      const headsFirst = useFused
        ? neighborhoodAttention2dFused(q, key, v, rpb, k, { dilation })
        : tf.tidy(() => neighborhoodAttention2d(q, key, v, rpb, k, { dilation, returnLogits: true }).out);
      const name = `neighbourhood attention ${CASES[i].join('x')}`;
      outs.push([name, await fromQkv.data()], [name, await headsFirst.data()]);
      tf.dispose([qkv, rpb, q, key, v, fromQkv, headsFirst].filter(Boolean));
    }
  // grid sampling: [N, H, W, C, Ho, Wo] (DAT's keys with groups in the batch; a one-pixel-wide map)
  for (const [i, [n, h, w, c, ho, wo]] of GRID_CASES.entries())
    for (const alignCorners of [true, false])
      for (const paddingMode of ['zeros', 'border']) {
        const input = tf.tensor4d(gridInputs[i].input, [n, h, w, c]);
        const grid = tf.tensor4d(gridInputs[i].grid, [n, ho, wo, 2]);
        const out = gridSample(input, grid, { alignCorners, paddingMode, path: useFused ? 'fused' : 'composite' });
        outs.push([`grid sample ${GRID_CASES[i].join('x')}`, await out.data()]);
        tf.dispose([input, grid, out]);
      }
  // routed attention: the fused kernel against the gathered composite
  for (const [i, [n, p, tq, t, c, m, k]] of ROUTED_CASES.entries()) {
    const r = routedInputs[i];
    const q = tf.tensor4d(r.q, [n, p, tq, c]);
    const key = tf.tensor4d(r.k, [n, p, t, c]);
    const v = tf.tensor4d(r.v, [n, p, t, c]);
    const idx = tf.tensor3d(r.idx, [n, p, k], 'int32');
    const out = routedAttention(q, key, v, idx, m, (c / m) ** -0.5, useFused ? 'fused' : 'gather');
    outs.push([`routed attention ${ROUTED_CASES[i].join('x')}`, await out.data()]);
    tf.dispose([q, key, v, idx, out]);
  }
  // soft dispatch: the fused kernel against the composite
  for (const [i, [b, s, l, c]] of DISPATCH_CASES.entries()) {
    const logits = tf.tensor3d(dispatchInputs[i].logits, [b, s, l]);
    const slots = tf.tensor3d(dispatchInputs[i].slots, [b, s, c]);
    const out = softDispatch(logits, slots, { path: useFused ? 'fused' : 'composite' });
    outs.push([`soft dispatch ${DISPATCH_CASES[i].join('x')}`, await out.data()]);
    // soft clustering over the same logits
    const tokens = tf.tensor3d(dispatchInputs[i].tokens, [b, l, c]);
    const grouped = softCluster(logits, tokens, { path: useFused ? 'fused' : 'composite' });
    outs.push([`soft clustering ${DISPATCH_CASES[i].join('x')}`, await grouped.data()]);
    tf.dispose([logits, slots, out, tokens, grouped]);
  }
  for (const [i, shape] of GELU_SHAPES.entries()) {
    const x = tf.tensor(geluInputs[i], shape);
    const out = gelu(x, { path: useFused ? 'fused' : 'composite' });
    outs.push([`gelu ${shape.join('x')}`, await out.data()]);
    tf.dispose([x, out]);
  }
  tf.env().set(FUSED_BIAS_FLAG, useFused);
  for (const [i, [name, layer, shape, kernel]] of BIAS_LAYERS.entries()) {
    const x = tf.tensor(biasInputs[i], shape);
    let out;
    const { kernelNames } = await tf.profile(() => {
      out = layer.forward(x);
    });
    // the fused kernel ran where it was asked for, the product and an Add where not
    if (kernelNames.includes(kernel) !== useFused || kernelNames.includes('Add') === useFused)
      throw new Error(`bias ${name} on ${tf.getBackend()}: kernels ${kernelNames.join(', ')}`);
    outs.push([`bias ${name}`, await out.data()]);
    tf.dispose([x, out]);
  }
  tf.env().set(FUSED_BIAS_FLAG, true);
  return outs;
}
const ref = await run(false);
const choice = await selectBackend({ prefer: 'webgpu' });
const before = tf.memory().numTensors;
const got = await run(true);
const leaked = tf.memory().numTensors - before;
const cases = got.map(([name, g], i) => {
  let maxAbs = 0;
  let maxRef = 0;
  for (let j = 0; j < g.length; j++) {
    maxAbs = Math.max(maxAbs, Math.abs(g[j] - ref[i][1][j]));
    maxRef = Math.max(maxRef, Math.abs(ref[i][1][j]));
  }
  return { case: name, maxAbs, maxRef, size: g.length };
});
console.log(JSON.stringify({ backend: choice.backend, adapter: choice.adapter, leaked, cases }));
