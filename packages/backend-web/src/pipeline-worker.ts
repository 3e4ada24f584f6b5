/**
 * The Web Worker behind `pipeline(…, { worker: true })` (also `@dynavit/backend-web/worker`, for bundlers
 * that want the worker as its own entry): it builds the pipeline — model, weights and backend live here —
 * and answers each `run` with plain data, transferring the typed arrays (class maps, masks).
 */
import type { PipelineTask } from '@dynavit/core';
import type { Pipeline } from '@dynavit/pipelines';
import { type FromWorker, pipeline, type ToWorker, toWire, transferables, type WebImageInput } from './pipeline.js';

interface WorkerScope {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
let current: Pipeline<PipelineTask, WebImageInput> | undefined;
let queue: Promise<void> = Promise.resolve();

scope.onmessage = (ev) => {
  const m = ev.data;
  // one message at a time: a run waits for the pipeline to exist, runs never overlap on the backend
  queue = queue.then(async () => {
    if (m.type === 'create') {
      try {
        current = await pipeline(m.task, m.model, {
          ...m.options,
          worker: false,
          onProgress: (progress) => scope.postMessage({ type: 'progress', progress }),
        });
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
