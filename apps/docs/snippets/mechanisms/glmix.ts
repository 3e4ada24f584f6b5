import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@dynavit/backend-node';

await selectBackend();
const x = tf.randomNormal([1, 14, 14, 64]) as tf.Tensor4D;
// #region snippet
import { GLMixBlock } from '@dynavit/glmix';

const block = new GLMixBlock(64, { numHeads: 2, numSlots: 16, mlpRatio: 4, cpeKs: 3, mlpDw: true, layerscale: 1 });
const { out, intermediates } = block.run(x, true); // x [B, H, W, C] NHWC
intermediates!.logits; // [B, S, L]: softmax over S of its transpose = the dispatch weights [B, L, S]
// #endregion snippet
console.log(`out [${out.shape}], logits [${intermediates!.logits.shape}]`);
