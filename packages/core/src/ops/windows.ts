/**
 * Region partitions (pure reshape/transpose, differentiable on every backend): BiFormer/DBRA's S×S
 * region split (dbra.md §4, "Region partition") and its inverse.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { assertRank, fmtShape } from './assert.js';

function positiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new InvalidArgumentError(`${op}: ${name} must be a positive integer, got ${v}`);
}

function divisible(
  op: string,
  arg: string,
  x: tf.Tensor,
  h: number,
  w: number,
  by: [number, number],
  what: string,
): void {
  if (h % by[0] !== 0 || w % by[1] !== 0)
    throw new ShapeError(
      op,
      arg,
      `H and W divisible by the ${what} ${by[0]}×${by[1]} (pad first)`,
      `H=${h}, W=${w} in ${fmtShape(x.shape)}`,
    );
}

/**
 * DBRA/BiFormer region partition: x [B, H, W, C] → [B, S², h·w, C] with S = nWin, h = H/S, w = W/S;
 * region p = row·S + col, tokens inside a region row-major. Throws ShapeError unless S divides H and W.
 */
export function regionPartition(x: tf.Tensor4D, nWin: number): tf.Tensor4D {
  const op = 'regionPartition';
  assertRank(op, 'x', x, 4);
  positiveInt(op, 'nWin', nWin);
  const [b, hh, ww, c] = x.shape;
  divisible(op, 'x', x, hh, ww, [nWin, nWin], 'region grid');
  const h = hh / nWin;
  const w = ww / nWin;
  return tf.tidy(() => {
    const t = tf.reshape(x, [b, nWin, h, nWin, w, c]); // [B, S, h, S, w, C]
    const p = tf.transpose(t, [0, 1, 3, 2, 4, 5]); // [B, S, S, h, w, C]
    return tf.reshape(p, [b, nWin * nWin, h * w, c]);
  });
}

/**
 * Inverse of {@link regionPartition}: regions [B, S², h·w, C] → [B, H, W, C] (H = S·h, W = S·w).
 */
export function regionReverse(regions: tf.Tensor4D, nWin: number, height: number, width: number): tf.Tensor4D {
  const op = 'regionReverse';
  assertRank(op, 'regions', regions, 4);
  positiveInt(op, 'nWin', nWin);
  positiveInt(op, 'height', height);
  positiveInt(op, 'width', width);
  divisible(op, 'regions', regions, height, width, [nWin, nWin], 'region grid');
  const [b, p, t, c] = regions.shape;
  const h = height / nWin;
  const w = width / nWin;
  if (p !== nWin * nWin || t !== h * w)
    throw new ShapeError(op, 'regions', fmtShape([b, nWin * nWin, h * w, c]), fmtShape(regions.shape));
  return tf.tidy(() => {
    const r = tf.reshape(regions, [b, nWin, nWin, h, w, c]); // [B, S, S, h, w, C]
    const q = tf.transpose(r, [0, 1, 3, 2, 4, 5]); // [B, S, h, S, w, C]
    return tf.reshape(q, [b, height, width, c]);
  });
}
