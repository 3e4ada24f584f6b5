/**
 * `dynavit bench --model NAME [--size 224] [--batch 1] [--backend …] [--runs N]`: one warm-up forward
 * (which also counts the model's MACs and measures the peak tensor memory, weights included), then N
 * timed forwards; median and spread of latency, images per second, achieved GFLOP/s (2 FLOPs per MAC
 * of the counted convs, linears and attention products). JSON on the last line.
 *
 * `--workers N` runs N copies of the model at once, each in its own worker thread with its own backend
 * (tfjs-backend-wasm uses one thread in Node): every worker does a warm-up, then `runs` forwards, and
 * images/s is all the images over the wall time of that part.
 *
 * `--head HEAD` times a dense backbone composed with a registered head (see bench-subject.ts: a
 * segmentor's logits, or a detector's whole test path with 100 detections an image).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type ProfileEntry, profileForward } from '@dynavit/core';
import { benchSubject, checkBenchSubject, timedPass, warmUp } from '../bench-subject.js';
import { checkSize, FORWARD_MAX_MEGAPIXELS, maxPixels, positiveInt } from '../options.js';
import { progressBar } from '../progress.js';
import { checkWorkersWithThreads, WorkerPool, workersOption } from '../pool.js';
import { createRegistry } from '../registry.js';
import type { BenchWorkerData, BenchWorkerReply, BenchWorkerTask } from '../workers/bench-worker.js';
import { formatTable } from '../table.js';
import { attentionOption } from '../attention-option.js';
import { median } from '../stats.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';

export interface BenchResult {
  model: string;
  /** the registered head composed with the dense backbone `model` (`--head`) */
  head?: string;
  backend: string;
  /** the GPU adapter the backend runs on (WebGPU: e.g. "google / swiftshader"), when there is one */
  adapter?: string;
  size: number;
  batch: number;
  runs: number;
  /** worker threads that ran the model at once (`--workers`; 1: in the main thread) */
  workers: number;
  /** the threads one forward computed on (`--threads`, wasm's multi-threaded build; 1 otherwise) */
  threads: number;
  gmacs: number;
  latencyMs: { median: number; min: number; max: number; p90: number; mean: number; stdev: number };
  imagesPerSecond: number;
  gflopsPerSecond: number;
  peakTensorBytes: number;
  rssBytes: number;
  /** a detection head: detections per image of the warm-up pass (see `--head`) */
  detections?: number;
}

const options = {
  model: { type: 'string' },
  size: { type: 'string' },
  batch: { type: 'string' },
  runs: { type: 'string' },
  attention: { type: 'string' },
  profile: { type: 'boolean', default: false },
  'max-megapixels': { type: 'string' },
  workers: { type: 'string' },
  head: { type: 'string' },
} as const satisfies CommandOptions;

export const benchCommand = defineCommand({
  name: 'bench',
  usage:
    'bench --model NAME [--head HEAD] [--size 224] [--batch 1] [--runs 10] [--attention STAGE=NAME,…] [--profile] [--workers N] [--max-megapixels 4]\n' +
    'latency (median, spread), images/s, GFLOP/s, peak memory; --profile: time by kernel and by module (top 15);\n' +
    '--head HEAD: the dense backbone NAME composed with a registered head (upernet_ade20k, maskrcnn_coco, …; a detector\n' +
    'runs its whole test path with 100 detections an image);\n' +
    '--workers N: N copies of the model in worker threads at once (one backend each), images/s over all; --threads N|auto: one forward on N threads (wasm; default auto, every core); JSON on the last line',
  options,
  backend: { default: 'auto' },
  run: bench,
});

async function bench({
  values,
  out,
  useBackend,
  threads,
  threadsGiven,
}: CommandContext<typeof options>): Promise<number> {
  if (!values.model) throw new InvalidArgumentError('bench needs --model NAME');
  const size = positiveInt('size', values.size, 224);
  const batch = positiveInt('batch', values.batch, 1);
  const runs = positiveInt('runs', values.runs, 10, 10_000);
  checkSize(size, batch, maxPixels(values['max-megapixels'], FORWARD_MAX_MEGAPIXELS));
  const registry = createRegistry();
  checkBenchSubject(registry, values.model, values.head);
  const attention = attentionOption(values.attention, registry, values.model);
  const workers = workersOption(values.workers);
  if (workers > 1 && values.profile)
    throw new InvalidArgumentError('--profile runs in one thread; leave out --workers');
  checkWorkersWithThreads(workers, threads, threadsGiven);
  const subjectOptions = {
    ...(values.head !== undefined ? { head: values.head } : {}),
    ...(attention ? { attention } : {}),
  };
  // with workers, this thread only checks the backend: one thread (each worker runs one)
  const choice = await useBackend(undefined, workers > 1 ? 1 : undefined);
  const subject = benchSubject(registry, values.model, subjectOptions);
  try {
    subject.checkSize(size);
  } catch (e) {
    subject.dispose();
    throw e;
  }
  const name = values.head !== undefined ? `${values.model} + ${values.head}` : values.model;
  if (workers > 1) {
    // checked above, in one line; each worker builds its own
    subject.dispose();
    const data = {
      model: values.model,
      ...(values.head !== undefined ? { head: values.head } : {}),
      backend: choice.backend,
      size,
      batch,
      attention: values.attention,
    };
    return benchWorkers(out, data, name, runs, workers, choice.adapter);
  }
  const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
  const bar = progressBar(runs + 1, `bench ${name}`);
  try {
    // warm-up: compiles kernels, counts the MACs and measures the peak tensor memory
    const { macs, peakBytes, detections } = await warmUp(subject, x);
    bar.update(1, 'warm-up');
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await timedPass(subject, x);
      times.push(performance.now() - t0);
      bar.update(2 + i);
    }
    bar.done();
    const latencyMs = latencyStats(times);
    const { median } = latencyMs;
    const r: BenchResult = {
      model: values.model,
      ...(values.head !== undefined ? { head: values.head } : {}),
      backend: choice.backend,
      ...(choice.adapter ? { adapter: choice.adapter } : {}),
      size,
      batch,
      runs,
      workers: 1,
      threads: choice.threads ?? 1,
      gmacs: macs / batch / 1e9,
      latencyMs,
      imagesPerSecond: (1000 * batch) / median,
      gflopsPerSecond: (2 * macs) / (median / 1000) / 1e9,
      peakTensorBytes: peakBytes,
      rssBytes: process.memoryUsage().rss,
      ...(detections !== undefined ? { detections } : {}),
    };
    out(resultTable(r));
    const f = (v: number, d = 1) => v.toFixed(d);
    if (values.profile) {
      // one more pass per view: by kernel (tf.profile) and by module (each module's forward, self time)
      const p = await profileForward(subject.module, async () => (await subject.pass(x)).outputs);
      const top = (entries: ProfileEntry[], total: number) =>
        entries.slice(0, 15).map((e) => [e.name, f(e.ms), `${f((100 * e.ms) / total)}%`, String(e.calls)]);
      const kernelTotal = p.kernels.reduce((a, e) => a + e.ms, 0);
      out(`\nby kernel (tf.profile, ${f(kernelTotal)} ms in kernels of a ${f(p.totalMs)} ms pass), top 15:`);
      out(formatTable(['kernel', 'ms', 'share', 'calls'], top(p.kernels, kernelTotal)));
      out(`\nby module (self time, wall clock), top 15:`);
      out(formatTable(['module', 'ms', 'share', 'calls'], top(p.modules, p.totalMs)));
      out(
        JSON.stringify({
          ...r,
          profile: { totalMs: p.totalMs, kernels: p.kernels.slice(0, 15), modules: p.modules.slice(0, 15) },
        }),
      );
      return 0;
    }
    out(JSON.stringify(r));
    return 0;
  } finally {
    x.dispose();
    subject.dispose();
  }
}

/** Median, spread, p90, mean and standard deviation of latencies (ms). */
function latencyStats(times: readonly number[]): BenchResult['latencyMs'] {
  const sorted = [...times].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const stdev = Math.sqrt(times.reduce((a, b) => a + (b - mean) ** 2, 0) / times.length);
  return { median: median(times), min: sorted[0]!, max: sorted[sorted.length - 1]!, p90: q(0.9), mean, stdev };
}

function resultTable(r: BenchResult): string {
  const f = (v: number, d = 1) => v.toFixed(d);
  return formatTable(
    [
      'model',
      'backend',
      'input',
      'workers',
      'threads',
      'GMACs/img',
      'median ms',
      'min–max ms',
      'img/s',
      'GFLOP/s',
      'peak MB',
    ],
    [
      [
        r.head !== undefined ? `${r.model} + ${r.head}` : r.model,
        r.backend,
        `${r.batch}×${r.size}²`,
        String(r.workers),
        String(r.threads),
        f(r.gmacs, 2),
        f(r.latencyMs.median),
        `${f(r.latencyMs.min)}–${f(r.latencyMs.max)}`,
        f(r.imagesPerSecond, 2),
        f(r.gflopsPerSecond, 2),
        f(r.peakTensorBytes / 2 ** 20),
      ],
    ],
  );
}

/**
 * `--workers N`: N workers each warm up, then run `runs` forwards at the same time. Latency is over
 * every forward of every worker; images/s and GFLOP/s over the wall time of the timed part; peak
 * memory is one worker's (each holds its own).
 */
async function benchWorkers(
  out: (line: string) => void,
  data: BenchWorkerData,
  name: string,
  runs: number,
  workers: number,
  adapter: string | undefined,
): Promise<number> {
  const bar = progressBar(3, `bench ${name} on ${workers} workers`);
  const pool = await WorkerPool.start<BenchWorkerTask, BenchWorkerReply>({
    script: new URL('../workers/bench-worker.js', import.meta.url),
    workers,
    workerData: data,
  });
  try {
    bar.update(1, 'workers ready');
    const warm = await pool.runAll(Array.from({ length: workers }, () => ({ runs: 1, warmUp: true })));
    bar.update(2, 'warm-up');
    const t0 = performance.now();
    const timed = await pool.runAll(Array.from({ length: workers }, () => ({ runs })));
    const wallS = (performance.now() - t0) / 1000;
    bar.done();
    const macs = warm[0]!.macs ?? 0;
    const images = workers * runs * data.batch;
    const detections = warm[0]!.detections;
    const r: BenchResult = {
      model: data.model,
      ...(data.head !== undefined ? { head: data.head } : {}),
      backend: data.backend,
      ...(adapter ? { adapter } : {}),
      size: data.size,
      batch: data.batch,
      runs,
      workers,
      threads: 1,
      gmacs: macs / data.batch / 1e9,
      latencyMs: latencyStats(timed.flatMap((t) => t.times)),
      imagesPerSecond: images / wallS,
      gflopsPerSecond: (2 * (macs / data.batch) * images) / wallS / 1e9,
      peakTensorBytes: Math.max(...warm.map((w) => w.peakBytes ?? 0)),
      rssBytes: process.memoryUsage().rss,
      ...(detections !== undefined ? { detections } : {}),
    };
    out(resultTable(r));
    out(JSON.stringify(r));
    return 0;
  } finally {
    await pool.close();
  }
}
