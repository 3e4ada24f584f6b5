/**
 * The Web Worker behind `pipeline(…, { worker: true })`: it builds the pipeline — model, weights and backend live here —
 * and answers each `run` with plain data, transferring the typed arrays (class maps, masks).
 */
// the backends imported statically: the worker is one chunk, as classic worker formats (Vite's default,
// iife) require — nothing in its graph is imported lazily
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import type { PipelineTask } from '@dynavit/core';
import { applyWasmPaths, type BackendLoaders, type SelectBackendOptions, selectBackendWith } from './backends.js';
import type { Pipeline } from '@dynavit/pipelines';
import {
  type FromWorker,
  localPipeline,
  type ToWorker,
  toWire,
  transferables,
  type WebImageInput,
} from './pipeline-local.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
const BUNDLED: BackendLoaders = {
  webgpu: async () => {},
  webgl: async () => {},
  wasm: async (opts) => applyWasmPaths(wasm, opts),
};
const selectBundled = (opts: SelectBackendOptions) => selectBackendWith(BUNDLED, opts);
let current: Pipeline<PipelineTask, WebImageInput> | undefined;
let queue: Promise<void> = Promise.resolve();

scope.onmessage = (ev) => {
  const m = ev.data;
  // one message at a time: a run waits for the pipeline to exist, runs never overlap on the backend
  queue = queue.then(async () => {
    if (m.type === 'create') {
      try {
        current = await localPipeline(
          m.task,
          m.model,
          {
            ...m.options,
            onProgress: (progress) => scope.postMessage({ type: 'progress', progress }),
          },
          selectBundled,
        );
        const { task, model, head, numClasses, labels, backend, report, release } = current;
        scope.postMessage({
          type: 'ready',
          info: { task, model, head, numClasses, labels: [...labels], backend, report, release },
        });
      } catch (e) {
        scope.postMessage({ type: 'error', id: null, error: toWire(e) });
      }
    } else if (m.type === 'run') {
      try {
        if (!current) throw new Error('the pipeline is not ready');
        const inputs = m.inputs as WebImageInput[];
        const result = m.many
          ? await current(inputs, m.options as never)
          : await current(inputs[0]!, m.options as never);
        scope.postMessage({ type: 'result', id: m.id, result }, transferables(result));
      } catch (e) {
        scope.postMessage({ type: 'error', id: m.id, error: toWire(e) });
      }
    } else {
      current?.dispose();
      current = undefined;
      scope.close();
    }
  });
};
