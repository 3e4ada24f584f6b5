/**
 * `selectBackend`: the browser's backend chooser (backends.ts) with the tfjs backend packages imported on
 * demand, so a page that ends up on wasm never downloads the WebGPU or WebGL backends.
 */
import {
  type BackendChoice,
  type BackendLoaders,
  applyWasmPaths,
  type SelectBackendOptions,
  selectBackendWith,
} from './backends.js';

const LAZY: BackendLoaders = {
  webgpu: async () => {
    await import('@tensorflow/tfjs-backend-webgpu');
  },
  webgl: async () => {
    await import('@tensorflow/tfjs-backend-webgl');
  },
  wasm: async (opts) => applyWasmPaths(await import('@tensorflow/tfjs-backend-wasm'), opts),
};

/**
 * Register and activate a tfjs backend, then await readiness. Without `prefer`, the first of
 * WebGPU → WebGL → wasm that the page offers and that initialises is used; with `prefer`, that one
 * (an error if it is missing here or fails to start, unless `fallback`). Returns the choice, why, and
 * what was skipped and why. Calling it again switches backends (tensors stay on their old backend).
 */
export function selectBackend(opts: SelectBackendOptions = {}): Promise<BackendChoice> {
  return selectBackendWith(LAZY, opts);
}
