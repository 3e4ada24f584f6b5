/**
 * A worker of `pipeline(task, model, { workers: N })`: its own backend and pipeline, built from the
 * options the main thread checked (weights from the file, the cache, or the state dict sent along,
 * offline); each task is one image and the call's options. Protocol: pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PipelineTask } from '@dynavit/core';
import { type NodeImageInput, type NodePipelineOptions, pipeline } from '../pipeline.js';

export interface PipelineWorkerData {
  task: PipelineTask;
  model: string;
  options: Omit<NodePipelineOptions, 'onWarning' | 'onProgress' | 'workers'>;
}

const port = parentPort;
if (!port) throw new Error('pipeline-worker runs in a worker thread');
const data = workerData as PipelineWorkerData;
const p = await pipeline(data.task, data.model, data.options);

port.on('message', async (m: { type: 'task'; id: number; task: { input: NodeImageInput; options?: object } }) => {
  try {
    port.postMessage({ type: 'result', id: m.id, value: await p(m.task.input, m.task.options as never) });
  } catch (e) {
    const err = e as Error;
    port.postMessage({ type: 'error', id: m.id, name: err.name, message: err.message });
  }
});
port.postMessage({ type: 'ready' });
