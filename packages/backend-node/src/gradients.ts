/**
 * Gradient functions in Node: `@tensorflow/tfjs-core`'s Node (CJS) bundle registers none, and its ESM
 * build (which does) cannot be loaded by Node. `@tensorflow/tfjs` (an optional peer) registers them on
 * the same global engine. The backward *kernels* tfjs-backend-wasm lacks are core's
 * `registerGradientKernels`, which backend selection registers.
 */
import { hasGradientFunctions, InvalidArgumentError } from '@dynavit/core';

/**
 * Make `tf.grad`/`tf.variableGrads` work: import `@tensorflow/tfjs` once when no gradient functions are
 * registered; a typed error saying what to install when it is missing.
 */
export async function ensureGradients(): Promise<void> {
  if (hasGradientFunctions()) return;
  const name = '@tensorflow/tfjs';
  try {
    await import(/* @vite-ignore */ name);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND')
      throw new InvalidArgumentError(
        "gradients need the optional peer @tensorflow/tfjs (npm i @tensorflow/tfjs@^4.22.0): tfjs-core's Node bundle registers no gradient functions",
      );
    throw e;
  }
  if (!hasGradientFunctions())
    throw new InvalidArgumentError('@tensorflow/tfjs loaded but registered no gradient functions on this tfjs-core');
}
