/**
 * A `dynavit bench --workers N` worker: its own tfjs backend (the one the main process chose) and its own
 * copy of the model and input; each task runs `runs` forwards and returns their latencies (ms).
 * Protocol: pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { attentionOption } from '../attention-option.js';
import { selectBackend } from '../backends.js';
import { benchSubject, timedPass, warmUp } from '../bench-subject.js';
import { createRegistry } from '../registry.js';

export interface BenchWorkerData {
  model: string;
  /** `--head`: a registered head composed with the dense backbone `model` */
  head?: string;
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
  /** a detection head: detections per image */
  detections?: number;
}

const port = parentPort;
if (!port) throw new Error('bench-worker runs in a worker thread');
const data = workerData as BenchWorkerData;
await selectBackend({ prefer: data.backend });
const registry = createRegistry();
const attention = attentionOption(data.attention, registry, data.model);
const subject = benchSubject(registry, data.model, {
  ...(data.head !== undefined ? { head: data.head } : {}),
  ...(attention ? { attention } : {}),
});
const x = tf.randomNormal([data.batch, data.size, data.size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;

async function once(): Promise<number> {
  const t0 = performance.now();
  await timedPass(subject, x);
  return performance.now() - t0;
}

port.on('message', async (m: { type: 'task'; id: number; task: BenchWorkerTask }) => {
  try {
    let reply: BenchWorkerReply;
    if (m.task.warmUp) {
      // as bench's own warm-up: MACs and peak tensor memory of one pass
      const w = await warmUp(subject, x);
      reply = {
        times: [],
        macs: w.macs,
        peakBytes: w.peakBytes,
        ...(w.detections !== undefined ? { detections: w.detections } : {}),
      };
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
