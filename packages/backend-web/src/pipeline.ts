/**
 * `pipeline(task, model, options)` in the browser: `@dynavit/pipelines` with the browser's image decoding
 * (any canvas-drawable source, URLs, Blobs, bytes; embedded colour profiles ignored as PIL does), weights
 * from the zoo, URLs (both through Cache Storage, sha256-verified), `File`s and bytes, and the browser's
 * backend chooser. With `{ worker: true }` the model and its backend live in a Web Worker
 * (`pipeline-worker.ts`): the page stays responsive, and results come back as transferable plain data.
 *
 * ```ts
 * const classify = await pipeline('image-classification', 'dat_pp_tiny', { weights: file, worker: true });
 * const [top] = await classify(imgElement, { topk: 3 });
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendChoice as AnyBackendChoice,
  DynavitError,
  type DynavitErrorCode,
  InvalidArgumentError,
  type PipelineTask,
  type RgbImage,
} from '@dynavit/core';
import {
  createPipeline,
  type Pipeline,
  type PipelineEnvironment,
  type PipelineOptions,
  type PipelineProgress,
  tensorToRgb,
} from '@dynavit/pipelines';
import { selectBackend, type WasmFileMap, type WebBackend } from './backends.js';
import { type ImageSource, readPixels } from './image.js';
import { createRegistry } from './registry.js';
import { fetchCached, fetchReleaseWeb } from './weights-cache.js';
import { loadWeights } from './weights.js';

/** What a browser pipeline takes as an image. */
export type WebImageInput = ImageSource | RgbImage | string | URL | Blob | ArrayBuffer | Uint8Array | tf.Tensor;

export interface WebPipelineOptions extends Omit<PipelineOptions<WebBackend>, 'weights'> {
  /** `'pretrained'` (default), a URL, a `File`/`Blob`, bytes, a state dict, or null for untrained weights */
  weights?: PipelineOptions['weights'] | Blob | ArrayBuffer;
  /** where tfjs-backend-wasm finds its `.wasm` files (see `selectBackend`) */
  wasmPaths?: string | WasmFileMap;
  /** use only what the browser's weights cache holds */
  offline?: boolean;
  /**
   * Run the model in a Web Worker: `true` starts this package's worker; or give your own `Worker`
   * running `@dynavit/backend-web/worker` (bundlers that need the worker as its own entry).
   */
  worker?: boolean | Worker;
}

const isRgb = (x: unknown): x is RgbImage =>
  typeof x === 'object' &&
  x !== null &&
  (x as RgbImage).data instanceof Uint8Array &&
  typeof (x as RgbImage).width === 'number';

/** Decode encoded bytes with the browser's decoder, colour profiles ignored (as PIL reads them). */
async function decodeBlob(blob: Blob, what: string): Promise<RgbImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (e) {
    throw new InvalidArgumentError(`not a readable image: ${what} (${(e as Error).message})`);
  }
  try {
    return readPixels(bitmap);
  } finally {
    bitmap.close();
  }
}

/** Any browser image input, except tensors, to host RGB pixels. */
export async function decodeWebImage(input: Exclude<WebImageInput, tf.Tensor>, index = 0): Promise<RgbImage> {
  if (isRgb(input)) return input;
  if (typeof input === 'string' || input instanceof URL) {
    const url = String(input);
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new InvalidArgumentError(`could not fetch the image ${url}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new InvalidArgumentError(`the image ${url} answered HTTP ${res.status}`);
    return decodeBlob(await res.blob(), url);
  }
  if (input instanceof Blob) return decodeBlob(input, `image ${index} (Blob)`);
  if (input instanceof ArrayBuffer || input instanceof Uint8Array)
    return decodeBlob(new Blob([input as Uint8Array<ArrayBuffer>]), `image ${index} (bytes)`);
  return readPixels(input);
}

function environment(options: WebPipelineOptions): PipelineEnvironment<WebImageInput, WebBackend> {
  const cacheOpts = options.offline ? { offline: true } : {};
  return {
    registry: createRegistry(),
    selectBackend: (request) =>
      selectBackend({ prefer: request, ...(options.wasmPaths !== undefined ? { wasmPaths: options.wasmPaths } : {}) }),
    decode: (input, i) => decodeWebImage(input, i),
    async readWeights(spec, { key, preferKeys, onProgress }) {
      const progress = onProgress
        ? (p: { loaded: number; total: number; url: string }) =>
            onProgress({ stage: 'download', loaded: p.loaded, total: p.total, source: p.url })
        : undefined;
      const read = key !== undefined ? { key } : { preferKeys };
      if ('entry' in spec) {
        const f = await fetchReleaseWeb(spec.entry, { ...cacheOpts, ...(progress ? { onProgress: progress } : {}) });
        const w = await loadWeights(f.bytes, read);
        return { stateDict: w.tensors, source: `pretrained:${spec.entry.id}` };
      }
      const loc = spec.location as string | URL | Uint8Array | Blob | ArrayBuffer;
      if (typeof loc === 'string' || loc instanceof URL) {
        const url = new URL(String(loc), globalThis.location?.href).href;
        const f = await fetchCached(url, undefined, { ...cacheOpts, ...(progress ? { onProgress: progress } : {}) });
        return { stateDict: (await loadWeights(f.bytes, read)).tensors, source: String(loc) };
      }
      const w = await loadWeights(loc, read);
      return { stateDict: w.tensors, source: w.source };
    },
  };
}

/**
 * A task pipeline in the browser (see `@dynavit/pipelines`): `'image-classification'`,
 * `'semantic-segmentation'`, `'object-detection'`, `'instance-segmentation'`.
 */
export async function pipeline<T extends PipelineTask>(
  task: T,
  model: string,
  options: WebPipelineOptions = {},
): Promise<Pipeline<T, WebImageInput>> {
  if (options.worker) return workerPipeline(task, model, options);
  const { worker: _w, wasmPaths: _p, offline: _o, ...rest } = options;
  return createPipeline(environment(options), task, model, rest as PipelineOptions<WebBackend>);
}

// ---------------------------------------------------------------------------------------------
// The worker protocol: the page sends `create` once, then `run`s; the worker answers `progress`,
// `ready`, `result` and `error` messages. Results travel as plain data, their typed arrays transferred.

/** An error as it crosses the worker boundary. */
export interface WireError {
  name: string;
  code: DynavitErrorCode | null;
  message: string;
}

export type ToWorker =
  | { type: 'create'; task: PipelineTask; model: string; options: Omit<WebPipelineOptions, 'onProgress' | 'worker'> }
  | { type: 'run'; id: number; inputs: unknown[]; many: boolean; options: unknown }
  | { type: 'dispose' };

export type FromWorker =
  | { type: 'progress'; progress: PipelineProgress }
  | {
      type: 'ready';
      info: {
        task: PipelineTask;
        model: string;
        head: string | undefined;
        numClasses: number;
        labels: string[];
        backend: AnyBackendChoice;
        report: Pipeline<PipelineTask, unknown>['report'];
        release: Pipeline<PipelineTask, unknown>['release'];
      };
    }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number | null; error: WireError };

export function toWire(e: unknown): WireError {
  return DynavitError.isInstance(e)
    ? { name: e.name, code: e.code, message: e.message }
    : { name: (e as Error)?.name ?? 'Error', code: null, message: (e as Error)?.message ?? String(e) };
}

function fromWire(w: WireError): Error {
  const e = w.code ? new DynavitError(w.code, w.message) : new Error(w.message);
  e.name = w.name;
  return e;
}

/** The typed arrays of a result, to transfer instead of copying. */
export function transferables(result: unknown): Transferable[] {
  const out = new Set<ArrayBuffer>();
  const walk = (v: unknown) => {
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) out.add(v.buffer);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(result);
  return [...out];
}

/** Inputs made transferable on the page: elements drawn to ImageBitmaps, tensors read to pixels. */
async function portable(input: WebImageInput): Promise<unknown> {
  if (input instanceof tf.Tensor) return tensorToRgb(input);
  if (
    typeof input === 'string' ||
    input instanceof URL ||
    input instanceof Blob ||
    input instanceof ArrayBuffer ||
    input instanceof Uint8Array ||
    isRgb(input)
  )
    return input instanceof URL ? input.href : input;
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) return input;
  if (typeof ImageBitmap !== 'undefined' && input instanceof ImageBitmap) return readPixels(input);
  return readPixels(input as ImageSource);
}

async function workerPipeline<T extends PipelineTask>(
  task: T,
  model: string,
  options: WebPipelineOptions,
): Promise<Pipeline<T, WebImageInput>> {
  const worker =
    options.worker instanceof Worker
      ? options.worker
      : new Worker(new URL('./pipeline-worker.js', import.meta.url), { type: 'module', name: `dynavit ${task}` });
  const { onProgress, worker: _w, ...rest } = options;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let ready: ((info: Extract<FromWorker, { type: 'ready' }>['info']) => void) | undefined;
  let failed: ((e: Error) => void) | undefined;
  let dead: Error | undefined;
  const fail = (e: Error) => {
    dead = e;
    failed?.(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.onmessage = (ev: MessageEvent<FromWorker>) => {
    const m = ev.data;
    if (m.type === 'progress') onProgress?.(m.progress);
    else if (m.type === 'ready') ready?.(m.info);
    else if (m.type === 'result') {
      pending.get(m.id)?.resolve(m.result);
      pending.delete(m.id);
    } else if (m.id === null) failed?.(fromWire(m.error));
    else {
      pending.get(m.id)?.reject(fromWire(m.error));
      pending.delete(m.id);
    }
  };
  worker.onerror = (ev) => {
    ev.preventDefault();
    fail(
      new InvalidArgumentError(
        `the pipeline worker failed: ${ev.message || 'it could not start (is the worker script served?)'}`,
      ),
    );
  };
  const info = await new Promise<Extract<FromWorker, { type: 'ready' }>['info']>((resolve, reject) => {
    ready = resolve;
    failed = reject;
    worker.postMessage({ type: 'create', task, model, options: rest } satisfies ToWorker);
  }).catch((e: unknown) => {
    worker.terminate();
    throw e;
  });
  failed = undefined;
  let next = 0;
  let disposed = false;
  const run = async (input: WebImageInput | readonly WebImageInput[], opts?: unknown): Promise<unknown> => {
    if (disposed) throw new InvalidArgumentError('this pipeline was disposed');
    if (dead) throw dead;
    const many = Array.isArray(input);
    const inputs = await Promise.all(
      (many ? (input as readonly WebImageInput[]) : [input as WebImageInput]).map(portable),
    );
    const id = next++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ type: 'run', id, inputs, many, options: opts ?? {} } satisfies ToWorker);
    });
  };
  return Object.assign(run, {
    ...info,
    task,
    dispose() {
      if (disposed) return;
      disposed = true;
      worker.postMessage({ type: 'dispose' } satisfies ToWorker);
      for (const p of pending.values()) p.reject(new InvalidArgumentError('the pipeline was disposed'));
      pending.clear();
      setTimeout(() => worker.terminate(), 1000);
    },
  }) as unknown as Pipeline<T, WebImageInput>;
}
