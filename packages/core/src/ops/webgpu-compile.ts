/**
 * Shader warm-up on WebGPU. tfjs-backend-webgpu compiles each compute pipeline the first time a kernel
 * runs with a new shader key, one after another, inside the first forward: that forward is far slower
 * than the next ones (on a GPU, mostly compilation). With its flag `WEBGPU_ENGINE_COMPILE_ONLY` set, a
 * pass records no work and only starts compiling every pipeline asynchronously, all at once; the backend's
 * `checkCompileCompletionAsync()` then waits for them. The pipelines stay in the backend's cache (keyed by
 * shader, so by the shapes they were built for), and later calls at those shapes compile nothing.
 *
 * The WebGPU backend is reached by its name and by what it exposes (no dependency on
 * `@tensorflow/tfjs-backend-webgpu`); where it is absent, or lacks what this relies on, the pass simply
 * runs once (a plain warm-up), and the report says which happened and why.
 */
import * as tf from '@tensorflow/tfjs-core';
import { settleTensors } from '../nn/profile.js';

const FLAG = 'WEBGPU_ENGINE_COMPILE_ONLY';

/** What a warm-up did. */
export interface CompileReport {
  backend: string;
  /** true: the pipelines were compiled in parallel without running (WebGPU); false: `run` ran once */
  parallel: boolean;
  /** pipelines the backend's cache gained (WebGPU), else 0 */
  pipelines: number;
  /** wall time of the warm-up, ms */
  ms: number;
  /** why the pass ran plainly, where it did */
  reason?: string;
}

interface WebGPUCompiler {
  checkCompileCompletionAsync(): Promise<void>;
  pipelineCache: Record<string, unknown>;
}

/** The WebGPU backend when it offers tfjs's parallel compilation, else why not. */
function compiler(): WebGPUCompiler | string {
  const name = tf.getBackend();
  if (name !== 'webgpu') return `the backend is ${name}: no shader pipelines to compile`;
  const be = tf.backend() as unknown as Partial<WebGPUCompiler>;
  if (typeof be.checkCompileCompletionAsync !== 'function' || typeof be.pipelineCache !== 'object')
    return 'this tfjs-backend-webgpu has no checkCompileCompletionAsync/pipelineCache';
  try {
    tf.env().getBool(FLAG); // throws when the flag is not registered
  } catch {
    return `this tfjs-backend-webgpu has no ${FLAG} flag`;
  }
  return be as WebGPUCompiler;
}

/**
 * Compile every GPU program that `run` (e.g. `() => model.forward(x)` at the size to serve) would use,
 * in parallel and without running them, so the next real call starts at once. On other backends, or a
 * WebGPU backend without tfjs's compile-only mode, `run` runs once and its outputs are read (a plain
 * warm-up). `run`'s tensors are disposed either way. Shapes must not depend on tensor values in `run`
 * (a classifier or backbone forward; not a detector's post-processing).
 */
export async function compileGpuPrograms(run: () => tf.TensorContainer): Promise<CompileReport> {
  const backend = tf.getBackend();
  const t0 = performance.now();
  const c = compiler();
  if (typeof c === 'string') {
    await settleTensors(tf.tidy(run));
    return { backend, parallel: false, pipelines: 0, ms: performance.now() - t0, reason: c };
  }
  const before = Object.keys(c.pipelineCache).length;
  const was = tf.env().getBool(FLAG);
  tf.env().set(FLAG, true);
  try {
    tf.dispose(tf.tensor_util.getTensorsInContainer(tf.tidy(run)));
  } finally {
    tf.env().set(FLAG, was);
  }
  await c.checkCompileCompletionAsync();
  return {
    backend,
    parallel: true,
    pipelines: Object.keys(c.pipelineCache).length - before,
    ms: performance.now() - t0,
  };
}
