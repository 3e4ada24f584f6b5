/** Argument checks at the door of every op: a typed ShapeError naming op, argument, expected, got. */
import type { Tensor } from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';

export const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

export function assertRank(op: string, arg: string, x: Tensor, rank: number): void {
  if (x.rank !== rank) throw new ShapeError(op, arg, `rank ${rank}`, `rank ${x.rank} ${fmtShape(x.shape)}`);
}

export function assertDim(op: string, arg: string, x: Tensor, axis: number, size: number, what = `size ${size}`): void {
  const a = axis < 0 ? x.rank + axis : axis;
  if (x.shape[a] !== size)
    throw new ShapeError(op, arg, `${what} on axis ${a}`, `${x.shape[a]} in ${fmtShape(x.shape)}`);
}

export function assertShape(op: string, arg: string, x: Tensor, shape: readonly (number | null)[]): void {
  const ok = x.rank === shape.length && shape.every((s, i) => s === null || s === x.shape[i]);
  if (!ok)
    throw new ShapeError(
      op,
      arg,
      fmtShape(shape.map((s) => (s === null ? -1 : s))).replace(/-1/g, '?'),
      fmtShape(x.shape),
    );
}
