import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '@dynavit/backend-node';

await selectBackend();
const x = tf.randomNormal([1, 56, 56, 64]) as tf.Tensor4D;
// #region snippet
import { DAttentionBaseline } from '@dynavit/dat';

const attn = new DAttentionBaseline(64, { numHeads: 2, groups: 1, stride: 8, ksize: 9, qSize: [56, 56] });
const { out, intermediates } = attn.run(x, true); // x [B, 56, 56, 64] NHWC
intermediates!.pos; // [B·G, Hk, Wk, 2] (y, x) in [−1, 1]: where this image made it look
// #endregion snippet
console.log(`out [${out.shape}], pos [${intermediates!.pos.shape}]`);
