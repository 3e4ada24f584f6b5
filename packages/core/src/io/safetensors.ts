/**
 * safetensors: 8-byte little-endian header length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then the raw
 * little-endian tensor bytes (offsets relative to the end of the header). Pure functions over bytes, so
 * they run unchanged in Node and the browser; `readSafetensorsStream` consumes a `fetch` body with
 * progress; Node file helpers live in `@dynavit/core/node`.
 */
import { SafetensorsError } from '../errors.js';
import { DTYPE_BYTES, type DType, numel, type StateDict, type TensorArray, type TensorData } from './tensor-data.js';

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

function viewAs(dtype: DType, bytes: Uint8Array, count: number): TensorArray {
  // Copy into a fresh aligned buffer: safetensors offsets need not be aligned to the element size.
  // (Not `bytes.slice()`: on a Node Buffer, slice returns a view of the same memory.)
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const buf = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buf, 0, count);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buf, 0, count);
    case 'I64':
      return new BigInt64Array(buf, 0, count);
    case 'I32':
      return new Int32Array(buf, 0, count);
    case 'U8':
      return new Uint8Array(buf, 0, count);
  }
}

function isDType(s: unknown): s is DType {
  return typeof s === 'string' && s in DTYPE_BYTES;
}

/** Parse a whole safetensors buffer. Throws SafetensorsError naming what is wrong (truncation, dtype, offsets). */
export function readSafetensors(input: Uint8Array | ArrayBuffer, source = 'safetensors buffer'): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.byteLength < 8)
    throw new SafetensorsError(
      `${source}: truncated (${bytes.byteLength} bytes, need at least 8 for the header length)`,
    );
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (n > MAX_HEADER)
    throw new SafetensorsError(`${source}: header length ${n} is implausible (not a safetensors file?)`);
  if (8 + n > bytes.byteLength)
    throw new SafetensorsError(`${source}: truncated header (needs ${n} bytes, file has ${bytes.byteLength - 8})`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new SafetensorsError(`${source}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new SafetensorsError(`${source}: header is not a JSON object`);
  const dataStart = 8 + n;
  const dataLen = bytes.byteLength - dataStart;
  const tensors: StateDict = new Map();
  let metadata: Record<string, string> = {};
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__');
  // Keep file order (by offset) so a state dict round-trips in its stored order.
  entries.sort((a, b) => offsetOf(a[1]) - offsetOf(b[1]));
  for (const [name, raw] of entries) {
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(info.dtype))
      throw new SafetensorsError(
        `${source}: tensor "${name}" has unsupported dtype ${JSON.stringify(info.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new SafetensorsError(`${source}: tensor "${name}" has an invalid shape ${JSON.stringify(info.shape)}`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0))
      throw new SafetensorsError(`${source}: tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    const [b, e] = offs as [number, number];
    const shape = info.shape as number[];
    const count = numel(shape);
    if (e - b !== count * DTYPE_BYTES[info.dtype])
      throw new SafetensorsError(
        `${source}: tensor "${name}" spans ${e - b} bytes but ${info.dtype}[${shape.join(',')}] needs ${count * DTYPE_BYTES[info.dtype]}`,
      );
    if (e > dataLen)
      throw new SafetensorsError(
        `${source}: truncated: tensor "${name}" ends at byte ${e} of the data section, which has only ${dataLen} bytes`,
      );
    tensors.set(name, {
      dtype: info.dtype,
      shape,
      data: viewAs(info.dtype, bytes.subarray(dataStart + b, dataStart + e), count),
    });
  }
  const md = header['__metadata__'];
  if (md !== undefined) {
    if (typeof md !== 'object' || md === null)
      throw new SafetensorsError(`${source}: __metadata__ must be an object of strings`);
    metadata = Object.fromEntries(Object.entries(md).map(([k, v]) => [k, String(v)]));
  }
  return { tensors, metadata };
}

function offsetOf(raw: unknown): number {
  const o = (raw as { data_offsets?: unknown })?.data_offsets;
  return Array.isArray(o) && typeof o[0] === 'number' ? o[0] : 0;
}

/** Serialise tensors (in map order) with optional string metadata. */
export function writeSafetensors(
  tensors: StateDict | Record<string, TensorData>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header['__metadata__'] = metadata;
  let off = 0;
  for (const [name, t] of list) {
    const len = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== len)
      throw new SafetensorsError(
        `writeSafetensors: "${name}" has ${t.data.byteLength} bytes of data for ${t.dtype}[${t.shape.join(',')}] (${len} expected)`,
      );
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + len] };
    off += len;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8; // align the data section to 8 bytes, padding with spaces
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}

export type LoadProgress =
  | { status: 'initiate'; source: string }
  | { status: 'progress'; source: string; loaded: number; total: number | null; progress: number | null }
  | { status: 'done'; source: string; loaded: number };

/**
 * Read a safetensors stream (e.g. `(await fetch(url)).body`) into memory with progress callbacks,
 * then parse it. `total` is the expected byte length when known (Content-Length).
 */
export async function readSafetensorsStream(
  stream: ReadableStream<Uint8Array>,
  opts: { total?: number | null; source?: string; onProgress?: (p: LoadProgress) => void } = {},
): Promise<SafetensorsFile> {
  const source = opts.source ?? 'stream';
  const total = opts.total ?? null;
  opts.onProgress?.({ status: 'initiate', source });
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  let buf = total ? new Uint8Array(total) : null;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (buf && loaded + value.byteLength <= buf.byteLength) buf.set(value, loaded);
    else {
      if (buf) {
        chunks.push(buf.subarray(0, loaded));
        buf = null;
      }
      chunks.push(value);
    }
    loaded += value.byteLength;
    opts.onProgress?.({
      status: 'progress',
      source,
      loaded,
      total,
      progress: total ? Math.min(1, loaded / total) : null,
    });
  }
  let bytes: Uint8Array;
  if (buf) bytes = buf.subarray(0, loaded);
  else {
    bytes = new Uint8Array(loaded);
    let p = 0;
    for (const c of chunks) {
      bytes.set(c, p);
      p += c.byteLength;
    }
  }
  opts.onProgress?.({ status: 'done', source, loaded });
  return readSafetensors(bytes, source);
}
