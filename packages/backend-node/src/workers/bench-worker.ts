/**
 * A `dynavit bench --workers N` worker: its own tfjs backend (the one the main process chose) and its own
 * copy of the model and input; each task runs `runs` forwards and returns their latencies (ms).
 * Protocol: pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { countMacs } from '@dynavit/core';
import { attentionOption } from '../attention-option.js';
import { selectBackend } from '../backends.js';
import { imageForward } from '../models.js';
import { createRegistry } from '../registry.js';

export interface BenchWorkerData {
  model: string;
  backend: string;
  size: number;
  batch: number;
  /** `--attention` as given on the command line */
  attention?: string;
}

export interface BenchWorkerTask {
  runs: number;
  /** a warm-up pass instead: count the MACs and the peak tensor memory of one forward */
  warmUp?: boolean;
}

export interface BenchWorkerReply {
  times: number[];
  macs?: number;
  peakBytes?: number;
}

const port = parentPort;
if (!port) throw new Error('bench-worker runs in a worker thread');
const data = workerData as BenchWorkerData;
await selectBackend({ prefer: data.backend });
const registry = createRegistry();
const attention = attentionOption(data.attention, registry, data.model);
const model = registry.createModel(data.model, attention ? { attention } : {});
const forward = imageForward(data.model, model);
const x = tf.randomNormal([data.batch, data.size, data.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;

async function once(): Promise<number> {
  const t0 = performance.now();
  const y = forward(x);
  await Promise.all([y].flat().map((t) => t.data()));
  tf.dispose(y);
  return performance.now() - t0;
}

port.on('message', async (m: { type: 'task'; id: number; task: BenchWorkerTask }) => {
  try {
    let reply: BenchWorkerReply;
    if (m.task.warmUp) {
      const { result, macs } = countMacs(() => forward(x));
      await Promise.all([result].flat().map((t) => t.data()));
      tf.dispose(result);
      const prof = await tf.profile(async () => void (await once()));
      reply = { times: [], macs, peakBytes: prof.peakBytes };
    } else {
      const times: number[] = [];
      for (let i = 0; i < m.task.runs; i++) times.push(await once());
      reply = { times };
    }
    port.postMessage({ type: 'result', id: m.id, value: reply });
  } catch (e) {
    const err = e as Error;
    port.postMessage({ type: 'error', id: m.id, name: err.name, message: err.message });
  }
});
port.postMessage({ type: 'ready' });
