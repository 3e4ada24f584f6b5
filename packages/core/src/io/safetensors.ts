/**
 * safetensors: 8-byte little-endian header length N, N bytes of JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then the raw
 * little-endian tensor bytes (offsets relative to the end of the header). Pure functions over bytes, so
 * they run unchanged in Node and the browser; `readSafetensorsStream` consumes a `fetch` body with
 * progress; Node file helpers live in `@dynavit/core/node`.
 */
import { printable, SafetensorsError } from '../errors.js';
import { Budget, type ReadBudget } from './budget.js';
import { DTYPE_BYTES, type DType, numel, type StateDict, type TensorArray, type TensorData } from './tensor-data.js';

export interface SafetensorsFile {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/**
 * What the readers accept before they parse a header, so a small hostile file cannot cost much time or
 * memory (each checked on the raw header bytes, before `JSON.parse`):
 * - `maxHeaderBytes`: the reference implementation's cap (huggingface/safetensors `MAX_HEADER_SIZE`).
 * - `maxDepth`: the format's own nesting: the header object, a tensor entry (or `__metadata__`), a shape
 *   or `data_offsets` array.
 * - `maxEntries`: tensors (plus `__metadata__`) in one file: 100× a large vision model, more than any
 *   single shard of the largest published checkpoints; a file of 100,000 tensors reads in about 0.4 s.
 * - `maxMetadataKeys`: keys of `__metadata__` (real files have tens).
 * - `maxValues`: JSON values (object members and array elements) in the whole header: 20 per entry at
 *   the entry cap (a 2,000,000-element shape array parses in about 0.25 s).
 * Tensor entries may only hold the fields dtype, shape and data_offsets, so the scan refuses the costly
 * shapes for V8 (many objects with distinct keys) before `JSON.parse` builds them.
 */
export const SAFETENSORS_LIMITS = {
  maxHeaderBytes: 100_000_000,
  maxDepth: 3,
  maxEntries: 100_000,
  maxMetadataKeys: 100_000,
  maxValues: 2_000_000,
} as const;

/** A header entry checked against the format's rules; offsets relative to the data section. */
interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  count: number;
  begin: number;
  end: number;
}

interface Header {
  entries: Entry[];
  metadata: Record<string, string>;
  /** Bytes of the data section the entries cover (the end of the last tensor). */
  dataBytes: number;
}

function viewAs(dtype: DType, bytes: Uint8Array, count: number): TensorArray {
  // Copy into a fresh aligned buffer: safetensors offsets need not be aligned to the element size.
  // (Not `bytes.slice()`: on a Node Buffer, slice returns a view of the same memory.)
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return typedAs(dtype, copy.buffer, count);
}

function typedAs(dtype: DType, buf: ArrayBuffer, count: number): TensorArray {
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
  return typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);
}

/** The header length from the first 8 bytes, refused above the cap before anything else is read. */
function headerLength(first8: Uint8Array, source: string): number {
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(SAFETENSORS_LIMITS.maxHeaderBytes))
    throw new SafetensorsError(
      `${source}: header of ${n} bytes is over the ${SAFETENSORS_LIMITS.maxHeaderBytes}-byte cap of the reference implementation (implausible; not a safetensors file?)`,
    );
  return Number(n);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const FIELDS = ['dtype', 'shape', 'data_offsets'];
const quoted = (names: string[]) => names.map((k) => new TextEncoder().encode(JSON.stringify(k)));
const FIELD_BYTES = quoted(FIELDS);
const METADATA_BYTES = quoted(['__metadata__']);

/** The JSON string at `h[s, e)` (quotes included), decoded; its raw text when it does not decode. */
function keyAt(h: Uint8Array, s: number, e: number): string {
  const raw = new TextDecoder().decode(h.subarray(s, e));
  try {
    return JSON.parse(raw) as string;
  } catch {
    return raw;
  }
}

/** Whether the JSON string at `h[s, e)` is one of `names` (raw bytes first; decoded only if short and escaped). */
function keyIs(h: Uint8Array, s: number, e: number, names: Uint8Array[]): boolean {
  for (const n of names)
    if (n.length === e - s) {
      let i = 0;
      while (i < n.length && n[i] === h[s + i]) i++;
      if (i === n.length) return true;
    }
  if (e - s > 64 || !h.subarray(s, e).includes(BACKSLASH)) return false;
  const k = keyAt(h, s, e);
  return names.some((n) => new TextDecoder().decode(n) === JSON.stringify(k));
}

/**
 * One iterative pass over the raw header bytes, before `JSON.parse` (strings skipped, so brackets and
 * commas inside them do not count), holding it to the format's shape: an object of at most
 * `maxEntries` members; below it, tensor entries with only the fields dtype, shape and data_offsets
 * and one `__metadata__` object of at most `maxMetadataKeys` keys; below those, arrays of scalars
 * only; at most `maxValues` values in all. Returns the number of top-level members (to detect
 * duplicate names, which `JSON.parse` would silently merge).
 */
function scanHeader(h: Uint8Array, source: string): number {
  const { maxDepth, maxEntries, maxValues, maxMetadataKeys } = SAFETENSORS_LIMITS;
  let i = 0;
  while (isSpace(h[i])) i++;
  if (h[i] !== 0x7b) throw new SafetensorsError(`${source}: header does not start with '{' (not a safetensors file?)`);
  let depth = 0;
  let values = 0;
  let topMembers = 0;
  let inMetadata = false;
  // the current key at depth 1 (tensor name) and 2 (field), as byte ranges including the quotes
  let k1s = 0;
  let k1e = 0;
  let k2s = 0;
  let k2e = 0;
  const empty = [true, true, true, true];
  const isObject = [false, false, false, false];
  const expectKey = [false, false, false, false];
  const commas = [0, 0, 0, 0];
  const tensor = () => `${source}: tensor ${quote(keyAt(h, k1s, k1e))}`;
  const tooMany = (d: number): SafetensorsError | null => {
    const n = commas[d]! + 1;
    if (d === 1 && n > maxEntries)
      return new SafetensorsError(
        `${source}: header has more than ${maxEntries} entries (the cap on tensors in one file; split it into shards)`,
      );
    if (d === 2 && isObject[2] && inMetadata && n > maxMetadataKeys)
      return new SafetensorsError(`${source}: __metadata__ has more than ${maxMetadataKeys} keys`);
    return null;
  };
  for (; i < h.length; i++) {
    const c = h[i];
    if (c === QUOTE) {
      const start = i;
      // skip to the closing quote: one preceded by an even number of backslashes
      for (;;) {
        const q = h.indexOf(QUOTE, i + 1);
        if (q < 0) return topMembers; // unterminated: JSON.parse reports it
        let k = q - 1;
        while (h[k] === BACKSLASH) k--;
        i = q;
        if ((q - 1 - k) % 2 === 0) break;
      }
      if (depth === 0) continue;
      empty[depth] = false;
      if (!isObject[depth] || !expectKey[depth]) continue;
      expectKey[depth] = false;
      if (depth === 1) {
        k1s = start;
        k1e = i + 1;
      } else if (depth === 2) {
        k2s = start;
        k2e = i + 1;
        if (!inMetadata && !keyIs(h, k2s, k2e, FIELD_BYTES))
          throw new SafetensorsError(`${tensor()} has an unknown field ${quote(keyAt(h, k2s, k2e))}`);
        if (!inMetadata && commas[2]! >= FIELDS.length)
          throw new SafetensorsError(`${tensor()} has more than ${FIELDS.length} fields (${FIELDS.join(', ')})`);
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (depth > 0) empty[depth] = false;
      depth++;
      if (depth > maxDepth)
        throw new SafetensorsError(
          `${source}: header nests deeper than ${maxDepth} levels at byte ${i} (a safetensors header is a flat object of tensor entries)`,
        );
      if (depth === 2) inMetadata = c === 0x7b && keyIs(h, k1s, k1e, METADATA_BYTES);
      if (depth === 3 && c === 0x7b)
        throw new SafetensorsError(
          inMetadata
            ? `${source}: __metadata__ ${quote(keyAt(h, k2s, k2e))} must be a string, got an object`
            : isObject[2]
              ? `${tensor()} has an object for ${quote(keyAt(h, k2s, k2e))} (dtype is a string, shape and data_offsets arrays of integers)`
              : `${tensor()} must be an object {dtype, shape, data_offsets}, got an array`,
        );
      empty[depth] = true;
      isObject[depth] = c === 0x7b;
      expectKey[depth] = c === 0x7b;
      commas[depth] = 0;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 0) return topMembers; // unbalanced: JSON.parse reports it
      if (!empty[depth]) {
        values++;
        if (depth === 1) topMembers = commas[1]! + 1;
      }
      depth--;
    } else if (c === 0x2c) {
      if (depth === 0) continue;
      values++;
      commas[depth]!++;
      if (isObject[depth]) expectKey[depth] = true;
      const e = tooMany(depth);
      if (e) throw e;
    } else if (depth > 0 && !isSpace(c) && c !== 0x3a) empty[depth] = false;
    if (values > maxValues)
      throw new SafetensorsError(
        `${source}: header has more than ${maxValues} JSON values (a safetensors header needs a few per tensor)`,
      );
  }
  return topMembers;
}

/** A name for a message: quoted, shortened when absurdly long. */
function quote(name: string): string {
  return JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}…` : name);
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return quote(v);
  return String(v);
}

/** JSON of a value known to be at most 1 level deep (shape, offsets), shortened for a message. */
function brief(v: unknown): string {
  const s = v === undefined ? 'undefined' : JSON.stringify(v);
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** `F32[2,3]`, shortened for a message when the shape is absurdly long. */
function typeText(dtype: DType, shape: readonly number[]): string {
  const dims = shape.length > 16 ? `${shape.slice(0, 16).join(',')},… (${shape.length} dims)` : shape.join(',');
  return `${dtype}[${dims}]`;
}

const isDim = (d: unknown): d is number => Number.isSafeInteger(d) && (d as number) >= 0;

/** The header entry `raw` of tensor `name` checked to the format (offsets checked against the others later). */
function checkEntry(name: string, raw: unknown, source: string): Entry {
  const at = () => `${source}: tensor ${quote(name)}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new SafetensorsError(`${at()} must be an object {dtype, shape, data_offsets}, got ${kind(raw)}`);
  for (const k of Object.keys(raw))
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets')
      throw new SafetensorsError(`${at()} has an unknown field ${quote(k)}`);
  const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (!isDType(info.dtype))
    throw new SafetensorsError(
      `${at()} has unsupported dtype ${brief(info.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
    );
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every(isDim))
    throw new SafetensorsError(
      `${at()} has an invalid shape ${brief(shape)} (dimensions must be integers from 0 to 2^53 - 1)`,
    );
  let count = 1;
  if (!shape.includes(0))
    for (const d of shape) {
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER)
        throw new SafetensorsError(
          `${at()} has shape ${brief(shape)}: 2^${Math.round(Math.log2(shape.reduce((a, b) => a * b, 1)))} elements, over 2^53`,
        );
    }
  else count = 0;
  const offs = info.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isDim))
    throw new SafetensorsError(`${at()} has invalid data_offsets ${brief(offs)} (want [begin, end], byte offsets)`);
  const [begin, end] = offs as [number, number];
  if (end < begin) throw new SafetensorsError(`${at()} has invalid data_offsets ${brief(offs)} (end before begin)`);
  const need = count * DTYPE_BYTES[info.dtype];
  if (end - begin !== need)
    throw new SafetensorsError(
      `${at()} spans ${end - begin} bytes but ${typeText(info.dtype, shape as number[])} needs ${need}`,
    );
  return { name, dtype: info.dtype, shape: shape as number[], count, begin, end };
}

/**
 * Parse and validate a header (the `n` bytes after the length): structure scanned first, then every
 * entry, then the offsets: sorted, contiguous from 0, non-overlapping. With `dataBytes` (the data
 * section's length, when known) the tensors must cover it exactly: no truncation, no trailing bytes.
 */
function parseHeader(h: Uint8Array, source: string, dataBytes: number | null): Header {
  const members = scanHeader(h, source);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(h);
  } catch {
    throw new SafetensorsError(`${source}: header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(
      `${source}: header is not valid JSON (${printable((e as Error).message, Number.POSITIVE_INFINITY)})`,
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new SafetensorsError(`${source}: header is not a JSON object`);
  const names = Object.keys(header);
  if (names.length !== members) throw duplicate(text, source);
  const entries: Entry[] = [];
  let metadata: Record<string, string> = {};
  for (const name of names) {
    const raw = (header as Record<string, unknown>)[name];
    if (name === '__metadata__') metadata = checkMetadata(raw, source);
    else entries.push(checkEntry(name, raw, source));
  }
  // File order is offset order (a state dict round-trips in its stored order); empty tensors first on a tie.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let prev: Entry | null = null;
  for (const t of entries) {
    const at = prev ? prev.end : 0;
    if (t.begin > at)
      throw new SafetensorsError(
        prev
          ? `${source}: gap in the data section: tensor ${quote(t.name)} starts at byte ${t.begin} but tensor ${quote(prev.name)} ends at byte ${at}`
          : `${source}: gap in the data section: tensor ${quote(t.name)} starts at byte ${t.begin}, not 0`,
      );
    if (t.begin < at && prev)
      throw new SafetensorsError(
        `${source}: tensor ${quote(t.name)} (bytes ${t.begin}..${t.end}) overlaps tensor ${quote(prev.name)} (bytes ${prev.begin}..${prev.end}) in the data section`,
      );
    if (dataBytes !== null && t.end > dataBytes)
      throw new SafetensorsError(
        `${source}: truncated: tensor ${quote(t.name)} ends at byte ${t.end} of the data section, which has only ${dataBytes} bytes`,
      );
    prev = t;
  }
  const covered = prev ? prev.end : 0;
  if (dataBytes !== null && dataBytes > covered)
    throw new SafetensorsError(
      `${source}: ${dataBytes - covered} trailing bytes after the last tensor (${prev ? `${quote(prev.name)} ends at byte ${covered} of a ${dataBytes}-byte data section` : 'no tensors'})`,
    );
  return { entries, metadata, dataBytes: covered };
}

function checkMetadata(md: unknown, source: string): Record<string, string> {
  if (typeof md !== 'object' || md === null || Array.isArray(md))
    throw new SafetensorsError(`${source}: __metadata__ must be an object of strings, got ${kind(md)}`);
  const map = md as Record<string, unknown>;
  for (const k of Object.keys(map))
    if (typeof map[k] !== 'string')
      throw new SafetensorsError(`${source}: __metadata__ ${quote(k)} must be a string, got ${kind(map[k])}`);
  return map as Record<string, string>;
}

/** The error for a header whose top-level names repeat (found by decoding the names one by one). */
function duplicate(text: string, source: string): SafetensorsError {
  // Only reached for a header that scanned and parsed: re-read its top-level keys in order.
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(name)) return new SafetensorsError(`${source}: header has a duplicate tensor name ${quote(name)}`);
        seen.add(name);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectKey = true;
  }
  return new SafetensorsError(`${source}: header has a duplicate tensor name`);
}

/** Charge tensor `t`'s bytes to the budget (its description built only for the error). */
function charge(budget: Budget, t: Entry): void {
  const size = t.end - t.begin;
  budget.take(size, budget.used + size > budget.limit ? `tensor ${quote(t.name)} (${typeText(t.dtype, t.shape)})` : '');
}

/**
 * Parse a whole safetensors buffer. The header is checked to the format before any tensor is copied
 * (see `SAFETENSORS_LIMITS`); each tensor's copy is charged to the memory budget (`maxBytes`, default
 * `defaultBudget(input size)`) before it is allocated. Throws `SafetensorsError` naming what is wrong
 * (truncation, dtype, shape, offsets) or `BudgetError` naming the tensor over the budget.
 */
export function readSafetensors(
  input: Uint8Array | ArrayBuffer,
  source = 'safetensors buffer',
  opts: ReadBudget = {},
): SafetensorsFile {
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  if (bytes.byteLength < 8)
    throw new SafetensorsError(
      `${source}: truncated (${bytes.byteLength} bytes, need at least 8 for the header length)`,
    );
  const n = headerLength(bytes, source);
  if (8 + n > bytes.byteLength)
    throw new SafetensorsError(`${source}: truncated header (needs ${n} bytes, file has ${bytes.byteLength - 8})`);
  const dataStart = 8 + n;
  const { entries, metadata } = parseHeader(bytes.subarray(8, dataStart), source, bytes.byteLength - dataStart);
  const budget = new Budget(bytes.byteLength, source, opts);
  const tensors: StateDict = new Map();
  for (const t of entries) {
    charge(budget, t);
    tensors.set(t.name, {
      dtype: t.dtype,
      shape: t.shape,
      data: viewAs(t.dtype, bytes.subarray(dataStart + t.begin, dataStart + t.end), t.count),
    });
  }
  return { tensors, metadata };
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
 * Read a safetensors stream (e.g. `(await fetch(url)).body`) with progress callbacks (one per chunk).
 * The header length is checked against the cap before the header is buffered, and the header is
 * validated before any data is read; each tensor is allocated only once its bytes have arrived and is
 * charged to the memory budget first (`maxBytes`, default relative to the size the header declares).
 * `total` (Content-Length, when known) only feeds the progress events: it is not trusted for allocation.
 */
export async function readSafetensorsStream(
  stream: ReadableStream<Uint8Array>,
  opts: { total?: number | null; source?: string; onProgress?: (p: LoadProgress) => void } & ReadBudget = {},
): Promise<SafetensorsFile> {
  const source = opts.source ?? 'stream';
  const total = opts.total ?? null;
  opts.onProgress?.({ status: 'initiate', source });
  const reader = stream.getReader();
  const queue: Uint8Array[] = [];
  let queued = 0;
  let loaded = 0;
  let ended = false;
  const pull = async (): Promise<boolean> => {
    if (ended) return false;
    const { done, value } = await reader.read();
    if (done) {
      ended = true;
      return false;
    }
    if (value.byteLength) {
      queue.push(value);
      queued += value.byteLength;
    }
    loaded += value.byteLength;
    opts.onProgress?.({
      status: 'progress',
      source,
      loaded,
      total,
      progress: total ? Math.min(1, loaded / total) : null,
    });
    return true;
  };
  /**
   * The next `k` bytes in a fresh buffer of exactly `k` bytes; fewer if the stream ends first. Each
   * chunk is copied in as it arrives, into a buffer that grows by doubling up to `k`: a declared size
   * allocates nothing up front, and memory stays within twice what really arrived.
   */
  const take = async (k: number): Promise<Uint8Array> => {
    let out = new Uint8Array(Math.min(k, 2 ** 20));
    let p = 0;
    while (p < k) {
      if (queue.length === 0 && !(await pull())) return out.subarray(0, p);
      const c = queue[0]!;
      const m = Math.min(c.byteLength, k - p);
      if (p + m > out.length) {
        const grown = new Uint8Array(Math.min(k, Math.max(2 * out.length, p + m)));
        grown.set(out.subarray(0, p));
        out = grown;
      }
      out.set(c.subarray(0, m), p);
      p += m;
      queued -= m;
      if (m === c.byteLength) queue.shift();
      else queue[0] = c.subarray(m);
    }
    return out;
  };
  try {
    const first = await take(8);
    if (first.length < 8)
      throw new SafetensorsError(`${source}: truncated (${first.length} bytes, need at least 8 for the header length)`);
    const n = headerLength(first, source);
    const h = await take(n);
    if (h.length < n)
      throw new SafetensorsError(`${source}: truncated header (needs ${n} bytes, file has ${h.length})`);
    const { entries, metadata, dataBytes } = parseHeader(h, source, null);
    const budget = new Budget(8 + n + dataBytes, source, opts);
    const tensors: StateDict = new Map();
    for (const t of entries) {
      charge(budget, t);
      const data = await take(t.end - t.begin);
      if (data.length < t.end - t.begin)
        throw new SafetensorsError(
          `${source}: truncated: tensor ${quote(t.name)} ends at byte ${t.end} of the data section, which has only ${t.begin + data.length} bytes`,
        );
      tensors.set(t.name, {
        dtype: t.dtype,
        shape: t.shape,
        data: typedAs(t.dtype, data.buffer as ArrayBuffer, t.count),
      });
    }
    while (queued === 0 && (await pull()));
    if (queued > 0) {
      const last = entries[entries.length - 1];
      throw new SafetensorsError(
        `${source}: trailing bytes after the last tensor (${last ? `${quote(last.name)} ends at byte ${dataBytes} of the data section` : 'no tensors'})`,
      );
    }
    opts.onProgress?.({ status: 'done', source, loaded });
    return { tensors, metadata };
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}
