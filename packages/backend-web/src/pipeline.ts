/**
 * `pipeline(task, model, options)` in the browser: `@dynavit/pipelines` with the browser's image decoding
 * (any canvas-drawable source, URLs, Blobs, bytes; embedded colour profiles ignored as PIL does), weights
 * from the zoo, URLs (both through Cache Storage, sha256-verified), `File`s and bytes, and the browser's
 * backend chooser (`pipeline-local.ts`). With `{ worker: true }` the model and its backend live in a Web
 * Worker (`pipeline-worker.ts`): the page stays responsive, and results come back as transferable plain
 * data. Bundlers (Vite, webpack 5, Rollup with a worker plugin) build the worker from the
 * `new Worker(new URL('./pipeline-worker.js', import.meta.url))` below; the worker is a single chunk, so
 * classic (iife) worker formats work too.
 *
 * ```ts
 * const classify = await pipeline('image-classification', 'dat_pp_tiny', { weights: file, worker: true });
 * const [top] = await classify(imgElement, { topk: 3 });
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import { DynavitError, InvalidArgumentError, type PipelineTask } from '@dynavit/core';
import { type Pipeline, tensorToRgb } from '@dynavit/pipelines';
import { type ImageSource, readPixels } from './image.js';
import { selectBackend } from './select-backend.js';
import {
  type FromWorker,
  localPipeline,
  type ToWorker,
  type WebImageInput,
  type WebPipelineOptions,
  type WireError,
} from './pipeline-local.js';

export { decodeWebImage, type WebImageInput, type WebPipelineOptions } from './pipeline-local.js';

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
  return localPipeline(task, model, options, selectBackend);
}

function fromWire(w: WireError): Error {
  const e = w.code ? new DynavitError(w.code, w.message) : new Error(w.message);
  e.name = w.name;
  return e;
}

const isRgb = (x: unknown): boolean =>
  typeof x === 'object' && x !== null && (x as { data?: unknown }).data instanceof Uint8Array;

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
  const worker = new Worker(new URL('./pipeline-worker.js', import.meta.url), {
    type: 'module',
    name: 'dynavit pipeline',
  });
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
