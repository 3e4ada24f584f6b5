/**
 * Gradient functions. tfjs registers the gradient of each kernel as a side effect of one module,
 * `@tensorflow/tfjs-core/dist/register_all_gradients`, which the full `@tensorflow/tfjs` (and
 * `@tensorflow/tfjs-node`) import. A bundler resolves that module from tfjs-core's ES build; Node cannot
 * load it (tfjs-core's ES files use extensionless imports), and tfjs-core's Node bundle registers none,
 * so in Node the gradients come from `@tensorflow/tfjs` or `@tensorflow/tfjs-node` if installed (both
 * register them on the same global engine as tfjs-core).
 */
import { hasGradientFunctions, NotImplementedError, registerGradientKernels } from '@dynavit/core';

/** Whether the gradients of tfjs's kernels are registered on the engine (core's `hasGradientFunctions`). */
export const gradientsRegistered = hasGradientFunctions;

/** Import a module by a name bundlers do not try to resolve at build time. */
const importOptional = (name: string): Promise<unknown> => import(/* @vite-ignore */ /* webpackIgnore: true */ name);

const notFound = (e: unknown): boolean => {
  const code = (e as { code?: string }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
};

/**
 * Make sure gradients are registered: nothing to do when they are; else tfjs-core's registration module
 * (bundlers), else `@tensorflow/tfjs-node` or `@tensorflow/tfjs` (Node). Throws a `NotImplementedError`
 * saying what to install, and why each candidate failed, when none can be loaded. Also registers core's
 * backward kernels for the backends that lack them (tfjs-backend-wasm: `registerGradientKernels`), so
 * training runs on wasm.
 */
export async function ensureGradients(): Promise<void> {
  registerGradientKernels();
  if (gradientsRegistered()) return;
  try {
    await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  } catch {
    // Node: tfjs-core's ES build cannot be loaded; try the full packages below
  }
  const failed: string[] = [];
  for (const name of ['@tensorflow/tfjs-node', '@tensorflow/tfjs']) {
    if (gradientsRegistered()) return;
    try {
      await importOptional(name);
      if (!gradientsRegistered()) failed.push(`${name} loaded but registered no gradient functions on this tfjs-core`);
    } catch (e) {
      failed.push(`${name}: ${notFound(e) ? 'not installed' : (e as Error).message}`);
    }
  }
  if (!gradientsRegistered())
    throw new NotImplementedError(
      `training needs tfjs's gradient functions and none are registered: install the optional peer @tensorflow/tfjs (npm i @tensorflow/tfjs@^4.22.0) in Node, or import '@tensorflow/tfjs-core/dist/register_all_gradients' in a bundle (${failed.join('; ')})`,
    );
}
