/**
 * `pipeline(task, model, options)` in Node: `@dynavit/pipelines` with Node's image decoding (sharp), weights
 * from paths, http(s) URLs and the zoo through the disk cache (`cache.ts`), and Node's backend chooser.
 * The families, sharp and the cache are imported when a pipeline is created, never when this package is
 * imported.
 *
 * ```ts
 * const classify = await pipeline('image-classification', 'dat_pp_tiny', { weights: 'pretrained' });
 * const [top] = await classify('cat.jpg', { topk: 3 }); // [{ label, index, score }, …]
 * classify.dispose();
 * ```
 */
import { fileURLToPath } from 'node:url';
import { DownloadError, InvalidArgumentError, type PipelineTask, printable, type RgbImage } from '@dynavit/core';
import type { Pipeline, PipelineEnvironment, PipelineOptions } from '@dynavit/pipelines';
import type * as tf from '@tensorflow/tfjs-core';
import { checkThreads, type NodeBackend, selectBackend, type ThreadsOption } from './backends.js';
import type { PipelineWorkerData } from './workers/pipeline-worker.js';

/** What a Node pipeline takes as an image. */
export type NodeImageInput = string | URL | Uint8Array | RgbImage | tf.Tensor;

export interface NodePipelineOptions extends PipelineOptions<NodeBackend> {
  /** the weights cache folder (default `$DYNAVIT_CACHE`, `$XDG_CACHE_HOME/dynavit`, `~/.cache/dynavit`) */
  cacheDir?: string;
  /** use only what the cache holds; never download */
  offline?: boolean;
  /** largest decoded image in megapixels (default 64) */
  maxMegapixels?: number;
  /** what reading a weights file may allocate, in bytes (default 4 × the file + 64 MiB) */
  maxBytes?: number;
  /** told, one line each, about what is worth knowing but not an error (non-finite values in the weights) */
  onWarning?: (line: string) => void;
  /**
   * run on this many `worker_threads`, each with its own backend and model (default 1: this thread), so
   * that a call with many images uses every core (each worker computes on one thread); at most
   * the machine's parallelism. Images are then paths, URLs, bytes or pixels (not tensors), `attention`
   * names registered mechanisms, and `dispose()` terminates the workers. A worker that dies fails the
   * call with a `WorkerError`.
   */
  workers?: number;
  /**
   * the threads wasm computes one forward on (default `auto`: every core, at most 8; 1 with
   * `workers`, each worker running one): tfjs' multi-threaded SIMD build on `worker_threads`
   * (`--threads` of the CLI). It must be asked for before wasm first starts in the process; the
   * pipeline's `backend.threads` and `backend.reason` say what it runs on and why (where that build
   * cannot start, one thread and the reason). Other backends ignore `auto` and refuse a count above 1.
   */
  threads?: ThreadsOption;
}

const MAX_IMAGE_DOWNLOAD = 256 * 1024 * 1024;

async function fetchImage(url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  } catch (e) {
    throw new DownloadError(`could not fetch the image ${printable(url)}: ${printable((e as Error).message)}`);
  }
  if (!res.ok) throw new DownloadError(`the image ${printable(url)} answered HTTP ${res.status}`);
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > MAX_IMAGE_DOWNLOAD) throw new DownloadError(`the image ${printable(url)} is over 256 MiB`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.length > MAX_IMAGE_DOWNLOAD) throw new DownloadError(`the image ${printable(url)} is over 256 MiB`);
  return bytes;
}

const isRgb = (x: unknown): x is RgbImage =>
  typeof x === 'object' && x !== null && 'width' in x && 'height' in x && 'data' in x && !(x instanceof URL);

/**
 * A task pipeline in Node (see `@dynavit/pipelines`): `'image-classification'`, `'semantic-segmentation'`,
 * `'object-detection'`, `'instance-segmentation'`. Images: paths, `file:`/http(s) URLs, encoded bytes,
 * `{ width, height, data }` RGB pixels, or `[H, W, 3]` tensors (0–255).
 */
export async function pipeline<T extends PipelineTask>(
  task: T,
  model: string,
  options: NodePipelineOptions = {},
): Promise<Pipeline<T, NodeImageInput>> {
  if (options.workers !== undefined) {
    const { maxWorkers } = await import('./pool.js');
    const max = maxWorkers();
    if (!Number.isSafeInteger(options.workers) || options.workers < 1 || options.workers > max)
      throw new InvalidArgumentError(
        `workers must be an integer from 1 to ${max} (this machine's parallelism), got ${options.workers}`,
      );
    if (options.workers > 1 && options.attention && Object.values(options.attention).some((a) => typeof a !== 'string'))
      throw new InvalidArgumentError(
        'with workers, attention names registered mechanisms (a factory cannot be sent to a worker)',
      );
  }
  const multi = (options.workers ?? 1) > 1;
  if (options.threads !== undefined && options.threads !== 'auto') {
    checkThreads(options.threads);
    if (options.threads > 1 && multi)
      throw new InvalidArgumentError('workers run one single-threaded backend each; use workers or threads');
  }
  const threads: ThreadsOption = multi ? 1 : (options.threads ?? 'auto');
  const [{ createPipeline }, { createRegistry }, images, cache, weights, opts] = await Promise.all([
    import('@dynavit/pipelines'),
    import('./registry.js'),
    import('./images.js'),
    import('./cache.js'),
    import('./weights.js'),
    import('./options.js'),
  ]);
  const maxPixels =
    options.maxMegapixels === undefined
      ? opts.IMAGE_MAX_MEGAPIXELS * opts.MP
      : opts.maxPixels(String(options.maxMegapixels), opts.IMAGE_MAX_MEGAPIXELS);
  const cacheOpts = {
    ...(options.cacheDir !== undefined ? { dir: options.cacheDir } : {}),
    ...(options.offline ? { offline: true } : {}),
  };
  const budget = options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {};
  const env: PipelineEnvironment<NodeImageInput, NodeBackend> = {
    registry: createRegistry(),
    selectBackend: (request) => selectBackend(request === 'auto' ? { threads } : { prefer: request, threads }),
    async decode(input, i) {
      if (isRgb(input)) return input;
      if (input instanceof Uint8Array) return images.decodeImage(input, `image ${i} (bytes)`, maxPixels);
      const s = input instanceof URL ? input.href : input;
      if (typeof s !== 'string') throw new InvalidArgumentError(`image ${i}: not a path, URL, bytes, pixels or tensor`);
      if (/^https?:\/\//i.test(s)) return images.decodeImage(await fetchImage(s), s, maxPixels);
      const path = /^file:/i.test(s) ? fileURLToPath(s) : s;
      await images.readImageHeader(path, maxPixels);
      return images.readImage(path, maxPixels);
    },
    async readWeights(spec, { key, preferKeys, onProgress }) {
      const progress = onProgress
        ? (p: { loaded: number; total: number; url: string }) =>
            onProgress({ stage: 'download', loaded: p.loaded, total: p.total, source: p.url })
        : undefined;
      const read = {
        ...(key !== undefined ? { key } : { preferKeys }),
        ...budget,
        ...(options.onWarning ? { warn: options.onWarning } : {}),
      };
      if ('entry' in spec) {
        const f = await cache.fetchRelease(spec.entry, { ...cacheOpts, ...(progress ? { onProgress: progress } : {}) });
        const w = await weights.readWeightsFile(f.path, read);
        return { stateDict: w.tensors, source: `pretrained:${spec.entry.id}` };
      }
      const loc = spec.location;
      if (loc instanceof Uint8Array)
        return {
          stateDict: weights.readWeightsBytes(loc, 'the weights bytes', read).tensors,
          source: 'the weights bytes',
        };
      const s = loc instanceof URL ? loc.href : loc;
      if (/^https?:\/\//i.test(s)) {
        const f = await cache.fetchUrl(s, { ...cacheOpts, ...(progress ? { onProgress: progress } : {}) });
        return { stateDict: (await weights.readWeightsFile(f.path, read)).tensors, source: s };
      }
      const path = /^file:/i.test(s) ? fileURLToPath(s) : s;
      return { stateDict: (await weights.readWeightsFile(path, read)).tensors, source: path };
    },
  };
  const p = await createPipeline(env, task, model, options);
  const workers = options.workers ?? 1;
  if (workers === 1) return p;
  return inWorkers(p, task, model, options, workers);
}

/**
 * The same pipeline on a pool of workers: `p` (built here) checked the model and read the weights (remote
 * ones are in the cache now); its model is freed and each worker builds its own, offline, on the backend
 * `p` chose. Its properties (labels, classes, report, backend) stay.
 */
async function inWorkers<T extends PipelineTask>(
  p: Pipeline<T, NodeImageInput>,
  task: T,
  model: string,
  options: NodePipelineOptions,
  workers: number,
): Promise<Pipeline<T, NodeImageInput>> {
  const [{ WorkerPool }, tfc] = await Promise.all([import('./pool.js'), import('@tensorflow/tfjs-core')]);
  p.dispose();
  const { onWarning: _w, onProgress: _p, workers: _n, ...rest } = options;
  const data: PipelineWorkerData = {
    task,
    model,
    // each worker computes on one thread
    options: { ...rest, backend: p.backend.backend as NodeBackend, offline: true, threads: 1 },
  };
  const pool = await WorkerPool.start<{ input: NodeImageInput; options?: object }, unknown>({
    script: new URL('./workers/pipeline-worker.js', import.meta.url),
    workers,
    workerData: data,
  });
  let disposed = false;
  const run = async (input: NodeImageInput | readonly NodeImageInput[], callOptions?: object): Promise<unknown> => {
    if (disposed) throw new InvalidArgumentError('this pipeline was disposed');
    const many = Array.isArray(input);
    const inputs = (many ? input : [input]) as readonly NodeImageInput[];
    for (const [i, x] of inputs.entries())
      if (x instanceof tfc.Tensor)
        throw new InvalidArgumentError(
          `image ${i}: a tensor cannot be sent to a worker; give a path, URL, bytes or { width, height, data } pixels`,
        );
    const tasks = inputs.map((x) => ({
      input: x instanceof URL ? x.href : x,
      ...(callOptions ? { options: callOptions } : {}),
    }));
    const results = await Promise.all(tasks.map((t) => pool.run(t)));
    return many ? results : results[0];
  };
  return Object.assign(run, {
    task: p.task,
    model: p.model,
    head: p.head,
    release: p.release,
    numClasses: p.numClasses,
    labels: p.labels,
    backend: p.backend,
    report: p.report,
    workers,
    dispose() {
      if (disposed) return;
      disposed = true;
      void pool.close();
    },
  }) as unknown as Pipeline<T, NodeImageInput>;
}
