// Test support (not published): core's fused kernels on WebGPU (Dawn; SwiftShader in tests) against their
// composite paths on cpu:
// - neighbourhood attention, both layouts (heads-first q, k, v; a fused qkv projection), with and without
//   the bias table, several window sizes and dilations;
// - bilinear grid sampling, both corner conventions and both paddings, coordinates beyond the map.
// Prints one JSON line: the backend, tensors leaked, and per case the largest difference and the largest
// reference value. A child process: the Vulkan loader reads its environment when Dawn starts.
import * as tf from '@tensorflow/tfjs-core';
import {
  gridSample,
  neighborhoodAttention2d,
  neighborhoodAttention2dFused,
  neighborhoodAttentionFromQKV,
} from '@dynavit/core';
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

await selectBackend({ prefer: 'cpu' });
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
      outs.push(await fromQkv.data(), await headsFirst.data());
      tf.dispose([qkv, rpb, q, key, v, fromQkv, headsFirst].filter(Boolean));
    }
  // grid sampling: [N, H, W, C, Ho, Wo] (DAT's keys with groups in the batch; a one-pixel-wide map)
  for (const [i, [n, h, w, c, ho, wo]] of GRID_CASES.entries())
    for (const alignCorners of [true, false])
      for (const paddingMode of ['zeros', 'border']) {
        const input = tf.tensor4d(gridInputs[i].input, [n, h, w, c]);
        const grid = tf.tensor4d(gridInputs[i].grid, [n, ho, wo, 2]);
        const out = gridSample(input, grid, { alignCorners, paddingMode, path: useFused ? 'fused' : 'composite' });
        outs.push(await out.data());
        tf.dispose([input, grid, out]);
      }
  return outs;
}
const ref = await run(false);
const choice = await selectBackend({ prefer: 'webgpu' });
const before = tf.memory().numTensors;
const got = await run(true);
const leaked = tf.memory().numTensors - before;
const cases = got.map((g, i) => {
  let maxAbs = 0;
  let maxRef = 0;
  for (let j = 0; j < g.length; j++) {
    maxAbs = Math.max(maxAbs, Math.abs(g[j] - ref[i][j]));
    maxRef = Math.max(maxRef, Math.abs(ref[i][j]));
  }
  const name =
    i < 4 * CASES.length
      ? `neighbourhood attention ${CASES[Math.floor(i / 4)].join('x')}`
      : `grid sample ${GRID_CASES[Math.floor((i - 4 * CASES.length) / 4)].join('x')}`;
  return { case: name, maxAbs, maxRef, size: g.length };
});
console.log(JSON.stringify({ backend: choice.backend, adapter: choice.adapter, leaked, cases }));
