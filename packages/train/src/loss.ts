/**
 * Loss and metrics: timm's `LabelSmoothingCrossEntropy` (= PyTorch's `cross_entropy(…, label_smoothing)`)
 * and top-k accuracy.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@dynavit/core';

/**
 * mean over the batch of (1 − s)·(−log p[label]) + s·mean_k(−log p[k]), p = softmax(logits).
 * logits [B, K], labels int32 [B]; s = 0 is plain cross-entropy.
 */
export function labelSmoothingCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, smoothing = 0.1): tf.Scalar {
  if (logits.rank !== 2)
    throw new ShapeError('labelSmoothingCrossEntropy', 'logits', 'rank 2 [B, K]', `[${logits.shape}]`);
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0])
    throw new ShapeError('labelSmoothingCrossEntropy', 'labels', `[${logits.shape[0]}]`, `[${labels.shape}]`);
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits, -1);
    const nll = tf.neg(tf.sum(tf.mul(logp, tf.oneHot(tf.cast(labels, 'int32'), logits.shape[1])), -1));
    const smooth = tf.neg(tf.mean(logp, -1));
    return tf.mean(tf.add(tf.mul(nll, 1 - smoothing), tf.mul(smooth, smoothing))) as tf.Scalar;
  });
}

/**
 * How many of the batch have their label among the k largest logits, for each k (host numbers). Reads
 * back asynchronously: a GPU backend is not stalled (and SwiftShader's synchronous read-back returns zeros).
 */
export async function topkCorrect(
  logits: tf.Tensor2D,
  labels: ArrayLike<number>,
  ks: readonly number[],
): Promise<number[]> {
  const K = logits.shape[1];
  const kmax = Math.min(K, Math.max(...ks));
  const idx = tf.tidy(() => tf.topk(logits, kmax).indices);
  const v = await idx.data();
  idx.dispose();
  return ks.map((k) => {
    let n = 0;
    for (let b = 0; b < logits.shape[0]; b++)
      for (let j = 0; j < Math.min(k, kmax); j++) if (v[b * kmax + j] === labels[b]) n++;
    return n;
  });
}
