import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@dynavit/backend-node';

await selectBackend();
const x = tf.randomNormal([1, 28, 28, 64]) as tf.Tensor4D;
// #region snippet
import { DeBiLevelRoutingAttention } from '@dynavit/dbra';

const dbraModule = new DeBiLevelRoutingAttention(64, {
  ...{ numHeads: 2, nWin: 7, topk: 4 }, // BRA: 7×7 regions, each attends to its 4 best
  ...{ groups: 2, offsetKernel: 3, offsetStride: 2, agentMlpRatio: 2, rpeSize: 7 }, // the deformable agents
});
const { out, intermediates } = dbraModule.run(x, true); // x [N, H, W, C] NHWC (LayerNormed)
intermediates!.routeIdx; // [N, S², topk] int32: the regions each region routes to, best first
intermediates!.sampleGridXY; // [N·g, Hk, Wk, 2] (x, y) in [−1, 1]: where the agents were sampled
// #endregion snippet
console.log(`out [${out.shape}], routeIdx [${intermediates!.routeIdx.shape}]`);
