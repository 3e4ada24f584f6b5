/** Layout changes between PyTorch's NCHW (checkpoints, golden files) and the NHWC every dynavit API takes. */
import * as tf from '@tensorflow/tfjs-core';
import { InputSizeError, ShapeError } from '../errors.js';

/** [B,C,H,W] → [B,H,W,C] */
export const toNHWC = <T extends tf.Tensor>(t: T): T => tf.transpose(t, [0, 2, 3, 1]);
/** [B,H,W,C] → [B,C,H,W] */
export const toNCHW = <T extends tf.Tensor>(t: T): T => tf.transpose(t, [0, 3, 1, 2]);

/** A typed error unless x is a non-empty NHWC map [B,H,W,dim]. */
export function assertMap(op: string, x: tf.Tensor, dim: number): void {
  if (x.rank !== 4) throw new ShapeError(op, 'x', 'rank 4 [B,H,W,C] (NHWC)', `rank ${x.rank} [${x.shape.join(',')}]`);
  if (x.shape[3] !== dim)
    throw new ShapeError(op, 'x', `${dim} channels on the last axis`, `${x.shape[3]} in [${x.shape.join(',')}]`);
  if (x.shape[1]! < 1 || x.shape[2]! < 1)
    throw new InputSizeError(`${op}: the map is ${x.shape[1]}×${x.shape[2]}; it needs at least one pixel`);
}
