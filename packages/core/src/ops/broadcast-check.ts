/**
 * A portability check for model code: which kernels of a computation broadcast at a high rank.
 * tfjs-webgpu's Tile (behind `broadcastTo`/`tile` and the implicit broadcasts of binary ops) has no
 * GPU program for rank ≥ 5 and falls back to a synchronous read-back, which returns zeros on some
 * adapters. A model that must run on WebGPU keeps every broadcast at rank ≤ 4; this lists the ones
 * that are not, so a test can assert the list is empty.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The binary element-wise kernels tfjs broadcasts implicitly. */
const BINARY = new Set([
  'Add',
  'Sub',
  'Multiply',
  'RealDiv',
  'Maximum',
  'Minimum',
  'SquaredDifference',
  'Pow',
  'Equal',
  'NotEqual',
  'Less',
  'LessEqual',
  'Greater',
  'GreaterEqual',
  'FloorDiv',
]);

/**
 * Run `fn` under `tf.profile` and `tf.tidy` (nothing it makes is kept) and describe every kernel
 * that broadcasts at rank ≥ `minRank` (default 5): a Tile of such an input, or a binary op whose
 * output has that rank and whose inputs differ in shape — e.g. `Multiply of [2,4,1,3,8] [2,4,5,3,8]`.
 */
export async function highRankBroadcasts(fn: () => tf.TensorContainer, minRank = 5): Promise<string[]> {
  const info = await tf.profile(() => tf.tidy(fn));
  tf.dispose(info.result);
  const found: string[] = [];
  for (const k of info.kernels) {
    const shapes = k.inputShapes.filter((s): s is number[] => Array.isArray(s));
    const outRank = Math.max(0, ...k.outputShapes.map((s) => s?.length ?? 0));
    if (k.name === 'Tile' && (shapes[0]?.length ?? 0) >= minRank) found.push(`Tile of [${shapes[0]}]`);
    if (BINARY.has(k.name) && outRank >= minRank && shapes.some((s) => s.join() !== shapes[0]!.join()))
      found.push(`${k.name} of ${shapes.map((s) => `[${s}]`).join(' ')}`);
  }
  return found;
}
