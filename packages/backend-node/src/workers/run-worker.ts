/**
 * A `dynavit run --workers N` worker: its own backend and pipeline (weights read from the cache or the
 * file the main thread checked); each task is one image path, processed as `run` does in one thread.
 * Protocol: pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PipelineTask } from '@dynavit/core';
import { attentionOption } from '../attention-option.js';
import { type NodePipelineOptions, pipeline } from '../pipeline.js';
import { createRegistry } from '../registry.js';
import { type RunImageOptions, runImage } from '../run-image.js';

/** What a worker needs: serialisable options only (`attention` as given on the command line). */
export interface RunWorkerData {
  task: PipelineTask;
  model: string;
  pipeline: Omit<NodePipelineOptions, 'attention' | 'onWarning' | 'onProgress'> & { attention?: string };
  image: RunImageOptions;
}

const port = parentPort;
if (!port) throw new Error('run-worker runs in a worker thread');
const data = workerData as RunWorkerData;
const { attention: attentionText, ...rest } = data.pipeline;
const registry = createRegistry();
const released = registry.pretrained().find((e) => e.id === data.model);
const attention = attentionOption(attentionText, registry, released?.model ?? data.model);
// one thread per worker: the workers share the cores
const p = await pipeline(data.task, data.model, { ...rest, threads: 1, ...(attention ? { attention } : {}) });

port.on('message', async (m: { type: 'task'; id: number; task: string }) => {
  try {
    port.postMessage({ type: 'result', id: m.id, value: await runImage(p, m.task, data.image) });
  } catch (e) {
    const err = e as Error;
    port.postMessage({ type: 'error', id: m.id, name: err.name, message: err.message });
  }
});
port.postMessage({ type: 'ready' });
