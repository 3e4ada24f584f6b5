/**
 * The in-thread half of the browser's `pipeline()`, and what its Web Worker runs: `@dynavit/pipelines`
 * with the browser's image decoding (any canvas-drawable source, URLs, Blobs, bytes; embedded colour
 * profiles ignored as PIL does), weights from the zoo and URLs (through Cache Storage, sha256-verified),
 * `File`s and bytes, and the browser's backend chooser; plus the messages the page and the worker
 * exchange (`ToWorker`, `FromWorker`: results as plain data, their typed arrays transferred).
 */ import type * as tf from '@tensorflow/tfjs-core';
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
} from '@dynavit/pipelines';
import type { BackendChoice, SelectBackendOptions, WasmFileMap, WebBackend } from './backends.js';
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
   * Run the model in a Web Worker (this package's `pipeline-worker.js`, which bundlers build from the
   * `new Worker(new URL(…, import.meta.url))` in pipeline.ts): the page stays responsive.
   */
  worker?: boolean;
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

/** A backend chooser: `selectBackend` in the page, the worker's own with the packages it bundles. */
export type BackendSelector = (opts: SelectBackendOptions) => Promise<BackendChoice>;

function environment(
  options: WebPipelineOptions,
  selectBackend: BackendSelector,
): PipelineEnvironment<WebImageInput, WebBackend> {
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

/** The pipeline in this thread (the page, or the worker). */
export function localPipeline<T extends PipelineTask>(
  task: T,
  model: string,
  options: WebPipelineOptions,
  selectBackend: BackendSelector,
): Promise<Pipeline<T, WebImageInput>> {
  const { worker: _w, wasmPaths: _p, offline: _o, ...rest } = options;
  return createPipeline(environment(options, selectBackend), task, model, rest as PipelineOptions<WebBackend>);
}
