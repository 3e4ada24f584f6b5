/**
 * Weights in the browser: from a URL (fetched and streamed), a user-picked `File`, any `Blob`, or bytes
 * already in memory. safetensors go through core's streaming reader with progress events; PyTorch
 * checkpoints (`.pth`/`.pt`, zip or legacy format) through core's restricted unpickler, which never
 * calls anything a pickle names. The format is recognised from the first bytes, never from a name.
 */
import {
  CheckpointError,
  type LoadProgress,
  loadPthStateDict,
  readSafetensors,
  readSafetensorsStream,
  type SafetensorsFile,
} from '@dynavit/core';

/** Where weights come from: a URL (absolute, or relative to the page), a `File`/`Blob`, or bytes. */
export type WeightsSource = string | URL | Blob | ArrayBuffer | ArrayBufferView;
export type WeightsFormat = 'safetensors' | 'pth';

/**
 * Progress, as a union on `status`: core's `initiate` → `progress`* → `done` while bytes arrive
 * (`total`/`progress` are null when the server sends no usable Content-Length), then `ready` once the
 * tensors are parsed.
 */
export type WeightsProgress =
  | LoadProgress
  | { status: 'ready'; source: string; format: WeightsFormat; tensors: number };

export interface LoadWeightsOptions {
  onProgress?: (p: WeightsProgress) => void;
  /** force a format instead of recognising it from the first bytes */
  format?: WeightsFormat | 'auto';
  /** `.pth`: the top-level key holding the state dict (`state_dict`, `model`, `model_ema`, …); found automatically when omitted */
  key?: string;
  /** `.pth` without `key`: top-level keys to try first (the variant's official one, e.g. `model_ema` for GLNet-16G) */
  preferKeys?: readonly string[];
  /** `.pth`: convert F16/BF16 tensors to F32 */
  upcast?: boolean;
  /** extra `fetch` options for URL sources (headers, credentials, `signal` to abort) */
  fetchInit?: RequestInit;
}

/** A state dict with its origin. Also a `SafetensorsFile`, so it can go straight to `runParity`. */
export interface LoadedWeights extends SafetensorsFile {
  format: WeightsFormat;
  /** the URL, file name or a description of the source, as used in messages */
  source: string;
  /** size of the file in bytes */
  byteLength: number;
}

const HEAD_BYTES = 16;

/** Recognise a weights file from its first bytes. */
export function sniffWeightsFormat(head: Uint8Array, source = 'weights'): WeightsFormat {
  if (head.length >= 9 && head[8] === 0x7b) {
    const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
    if (dv.getUint32(4, true) === 0) return 'safetensors'; // u64 header length < 4 GiB, then '{'
  }
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'pth'; // zip (torch ≥ 1.6)
  if (head[0] === 0x80 && head[1] !== undefined && head[1] >= 2 && head[1] <= 5) return 'pth'; // pickle (legacy torch.save)
  const text = new TextDecoder().decode(head).trimStart();
  if (text.startsWith('<'))
    throw new CheckpointError(
      `${source}: got HTML/XML instead of weights (an error page, or a dev server's index.html fallback for a missing file?)`,
    );
  if (head.length === 0) throw new CheckpointError(`${source}: empty file`);
  const hex = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CheckpointError(`${source}: neither a safetensors file nor a PyTorch checkpoint (first bytes ${hex})`);
}

/** Read at least `n` bytes off a stream, then give back a stream that still yields everything. */
async function peek(
  stream: ReadableStream<Uint8Array>,
  n: number,
): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let got = 0;
  while (got < n) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    got += value.byteLength;
  }
  const head = new Uint8Array(Math.min(n, got));
  let p = 0;
  for (const c of chunks) {
    if (p >= head.length) break;
    const part = c.subarray(0, head.length - p);
    head.set(part, p);
    p += part.length;
  }
  const rest = new ReadableStream<Uint8Array>({
    start(ctrl) {
      for (const c of chunks) ctrl.enqueue(c);
    },
    async pull(ctrl) {
      const { done, value } = await reader.read();
      if (done) ctrl.close();
      else ctrl.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { head, stream: rest };
}

/** Collect a stream into one buffer, reporting progress as core's safetensors reader does. */
async function collect(
  stream: ReadableStream<Uint8Array>,
  total: number | null,
  source: string,
  onProgress?: (p: WeightsProgress) => void,
): Promise<Uint8Array> {
  onProgress?.({ status: 'initiate', source });
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress?.({ status: 'progress', source, loaded, total, progress: total ? Math.min(1, loaded / total) : null });
  }
  const bytes = new Uint8Array(loaded);
  let p = 0;
  for (const c of chunks) {
    bytes.set(c, p);
    p += c.byteLength;
  }
  onProgress?.({ status: 'done', source, loaded });
  return bytes;
}

function describe(src: WeightsSource): string {
  if (typeof src === 'string') return src;
  if (src instanceof URL) return src.href;
  if (typeof File !== 'undefined' && src instanceof File) return src.name || 'File';
  if (src instanceof Blob) return `Blob (${src.size} bytes)`;
  return `buffer (${src.byteLength} bytes)`;
}

async function openStream(
  src: string | URL | Blob,
  source: string,
  init?: RequestInit,
): Promise<{ body: ReadableStream<Uint8Array>; total: number | null }> {
  if (src instanceof Blob) return { body: src.stream() as ReadableStream<Uint8Array>, total: src.size };
  let res: Response;
  try {
    res = await fetch(src, init);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new CheckpointError(`cannot fetch ${source}: ${(e as Error).message}`);
  }
  if (!res.ok)
    throw new CheckpointError(
      `fetching ${source} failed: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`,
    );
  if (!res.body) throw new CheckpointError(`fetching ${source} returned no body`);
  // Content-Length counts the encoded bytes when the server compresses: useless for progress then
  const encoding = res.headers.get('content-encoding');
  const length = Number(res.headers.get('content-length'));
  const total = (!encoding || encoding === 'identity') && Number.isFinite(length) && length > 0 ? length : null;
  return { body: res.body as ReadableStream<Uint8Array>, total };
}

function parse(bytes: Uint8Array, format: WeightsFormat, source: string, opts: LoadWeightsOptions): SafetensorsFile {
  if (format === 'safetensors') return readSafetensors(bytes, source);
  const pthOpts = {
    ...(opts.key !== undefined ? { key: opts.key } : {}),
    ...(opts.preferKeys !== undefined ? { preferKeys: opts.preferKeys } : {}),
    ...(opts.upcast ? { upcast: true } : {}),
  };
  try {
    return { tensors: loadPthStateDict(bytes, pthOpts), metadata: {} };
  } catch (e) {
    if (e instanceof Error) e.message = `${source}: ${e.message}`;
    throw e;
  }
}

/**
 * Load a state dict from a URL, a `File`/`Blob`, or bytes. safetensors are streamed through core's
 * `readSafetensorsStream` (progress per chunk); `.pth` files are read whole, then decoded safely.
 * Failures are typed: `CheckpointError` (fetch failed, unknown format, bad checkpoint),
 * `SafetensorsError` (corrupt safetensors), `UnsafePickleError` (a pickle asking to run code).
 * An abort through `fetchInit.signal` rejects with the browser's `AbortError`.
 */
export async function loadWeights(src: WeightsSource, opts: LoadWeightsOptions = {}): Promise<LoadedWeights> {
  const source = describe(src);
  const forced = opts.format === 'auto' ? undefined : opts.format;
  let format: WeightsFormat;
  let file: SafetensorsFile;
  let byteLength: number;
  if (typeof src === 'string' || src instanceof URL || src instanceof Blob) {
    const opened = await openStream(src, source, opts.fetchInit);
    const { head, stream } = await peek(opened.body, HEAD_BYTES);
    format = forced ?? sniffWeightsFormat(head, source);
    let loaded = 0;
    const onProgress = (p: WeightsProgress) => {
      if (p.status === 'done') loaded = p.loaded;
      opts.onProgress?.(p);
    };
    if (format === 'safetensors')
      file = await readSafetensorsStream(stream, { total: opened.total, source, onProgress });
    else file = parse(await collect(stream, opened.total, source, onProgress), format, source, opts);
    byteLength = loaded;
  } else {
    const bytes = ArrayBuffer.isView(src)
      ? new Uint8Array(src.buffer, src.byteOffset, src.byteLength)
      : new Uint8Array(src);
    byteLength = bytes.byteLength;
    opts.onProgress?.({ status: 'initiate', source });
    opts.onProgress?.({ status: 'progress', source, loaded: byteLength, total: byteLength, progress: 1 });
    opts.onProgress?.({ status: 'done', source, loaded: byteLength });
    format = forced ?? sniffWeightsFormat(bytes.subarray(0, HEAD_BYTES), source);
    file = parse(bytes, format, source, opts);
  }
  opts.onProgress?.({ status: 'ready', source, format, tensors: file.tensors.size });
  return { ...file, format, source, byteLength };
}
