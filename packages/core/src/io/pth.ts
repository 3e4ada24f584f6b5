/**
 * Safe reader for PyTorch checkpoints (`.pth` / `.pt` written by `torch.save`).
 *
 * Two on-disk formats are understood:
 *
 *  - ZIP (torch ≥ 1.6, the default): an uncompressed archive `<name>/data.pkl` (the pickled object),
 *    `<name>/data/<key>` (one raw little-endian storage per key), `<name>/version`, and optionally
 *    `<name>/byteorder` (must be `little`). Inside data.pkl a storage is a persistent id
 *    `('storage', storage_type, key, location, numel)`.
 *  - Legacy (`_use_new_zipfile_serialization=False`, torch < 1.6): a sequence of pickles — the magic
 *    number 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys_info dict, the object itself
 *    (persistent ids `('storage', storage_type, root_key, location, numel, view_metadata)` where
 *    view_metadata is None or `(view_key, offset, size)`), then a pickle of the list of storage keys,
 *    then for each key in that order an 8-byte little-endian element count followed by the raw data.
 *    The even older tar format (torch < 0.4) is rejected with a clear error.
 *
 * The pickle is decoded by the restricted unpickler in `pickle.ts` (nothing a pickle names is ever
 * called; see its header for the exact rule), which turns `torch._utils._rebuild_tensor_v2` calls
 * into `TensorRef`s (storage, offset, shape, stride). This module then materialises each tensor as a
 * contiguous row-major `TensorData`, honouring storage offsets, arbitrary (e.g. transposed) strides
 * and storages shared between tensors. Storage element types map to `TensorData` dtypes as:
 * Float→F32, Half→F16, BFloat16→BF16, Long→I64, Int→I32, Byte→U8, Bool→U8, Double→F32 (rounded),
 * Short/Char→I32 (widened). The contiguous case is a single byte-range copy; a non-contiguous view
 * copies whole rows whenever its innermost stride is 1.
 *
 * Memory: before a tensor is materialised its element count is computed from size, stride and offset
 * and charged to a `Budget` (option `maxBytes`, default 4 × the file + 64 MiB) at its full expanded
 * size, so stride-0 views and many tensors viewing one storage count as what they become; over the
 * budget a `BudgetError` names the tensor and the sizes, before anything is allocated. The same budget
 * covers what the unpickler copies. The object tree is walked iteratively and nesting deeper than
 * `MAX_PTH_NESTING` is refused. Unknown globals are refused unless `allowUnknownGlobals` is set.
 */
import { BudgetError, CheckpointError, printable } from '../errors.js';
import { Budget, type ReadBudget } from './budget.js';
import { PickleDict, PickleGlobal, PickleObject, TensorRef, describeValue, unpickle, unpickleAt } from './pickle.js';
import { type StateDict, type TensorData, toFloat32 } from './tensor-data.js';
import { isZip, readZip } from './zip.js';

export { PickleDict, PickleGlobal, PickleObject } from './pickle.js';

export interface ReadPthOptions extends ReadBudget {
  /** Convert F16/BF16 tensors to F32. */
  upcast?: boolean;
  /**
   * `maxBytes` (from `ReadBudget`): what reading may materialise in all — tensors (stride-0 and
   * shared-storage views counted at their full expanded size) and what the unpickler copies; default
   * `defaultBudget(file size)` = 4 × the file + 64 MiB. Above it a `BudgetError` names the tensor.
   */
  maxBytes?: number;
  /**
   * Read globals outside the weights-only allow-list as inert placeholders instead of refusing the
   * file with `UnsafePickleError` (see pickle.ts). Only for trusted files; default false.
   */
  allowUnknownGlobals?: boolean;
}

/** Deepest nesting of containers `readPth` walks; deeper values are refused (no checkpoint nests 20 deep). */
export const MAX_PTH_NESTING = 1000;

interface ParseContext {
  budget: Budget;
  allowUnknownGlobals: boolean;
}

function context(bytes: Uint8Array, opts: ReadPthOptions): ParseContext {
  return {
    budget: new Budget(bytes.length, 'checkpoint', opts),
    allowUnknownGlobals: opts.allowUnknownGlobals === true,
  };
}

export interface LoadPthOptions extends ReadPthOptions {
  /** Top-level key holding the state dict (e.g. `state_dict`, `model`, `model_ema`); auto-detected when omitted. */
  key?: string;
  /**
   * Without `key`: top-level keys to try first, in order (the key the official loader of a variant
   * reads, e.g. `['model_ema']` for GLNet-16G); the automatic choice applies when none is present.
   */
  preferKeys?: readonly string[];
}

/** A state dict and where in the checkpoint it was found. */
export interface PthStateDict {
  stateDict: StateDict;
  /** the top-level key it was read from; null when the checkpoint itself was the state dict */
  key: string | null;
  /** the checkpoint's top-level keys (empty for a bare state dict) */
  topLevelKeys: string[];
  /** whether a `module.` prefix (DataParallel) was stripped from every key */
  strippedModule: boolean;
}

// ---------------------------------------------------------------------------------------------
// Storages

type StorageDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const STORAGE_TYPES: Readonly<Record<string, StorageDType>> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

const STORAGE_BYTES: Readonly<Record<StorageDType, number>> = {
  F32: 4,
  F64: 8,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** One serialized storage: its bytes are bound once known (immediately for ZIP, after the pickles for legacy). */
interface RootStorage {
  key: string;
  dtype: StorageDType;
  numel: number;
  bytes: Uint8Array | null;
}

/** What persistent ids resolve to: a window of `numel` elements starting `offset` elements into a root storage. */
class StorageRef {
  constructor(
    readonly root: RootStorage,
    readonly offset: number,
    readonly numel: number,
  ) {}
}

function storageDType(t: unknown): StorageDType {
  if (t instanceof PickleGlobal) {
    const okModule = t.module === 'torch' || t.module === 'torch.cuda' || t.module === 'torch.storage';
    const dtype = STORAGE_TYPES[t.name];
    if (okModule && dtype !== undefined) return dtype;
    throw new CheckpointError(`unsupported storage type ${t.qualifiedName} in a persistent id`);
  }
  throw new CheckpointError(`persistent id has a storage type of ${describeValue(t)}, expected a torch storage class`);
}

function intField(x: unknown, what: string): number {
  if (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) return x;
  if (typeof x === 'bigint' && x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(x);
  throw new CheckpointError(`${what} must be a non-negative integer, got ${describeValue(x)}`);
}

/** torch writes decimal storage keys; anything printable and short is accepted, so messages stay one line. */
const STORAGE_KEY = /^[\x21-\x7e]{1,200}$/;

function storagePid(pid: unknown, expectedLength: number[]): unknown[] {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || !expectedLength.includes(pid.length))
    throw new CheckpointError(
      `unexpected persistent id ${describeValue(pid)}; expected a ('storage', type, key, location, numel${expectedLength.includes(6) ? ', view' : ''}) tuple`,
    );
  return pid;
}

// ---------------------------------------------------------------------------------------------
// Container formats → object tree with TensorRefs

function parseCheckpoint(bytes: Uint8Array, ctx: ParseContext): unknown {
  if (isZip(bytes)) return parseZip(bytes, ctx);
  if (bytes.length >= 2 && bytes[0] === 0x80) return parseLegacy(bytes, ctx);
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar')
    throw new CheckpointError(
      'this is a legacy tar-format PyTorch checkpoint (torch < 0.4), which is not supported; load and re-save it with a recent torch.save',
    );
  const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CheckpointError(
    `not a PyTorch checkpoint: expected a ZIP archive (50 4b 03 04) or a pickle (80 …) at offset 0, found ${head || 'an empty file'}`,
  );
}

function parseZip(bytes: Uint8Array, ctx: ParseContext): unknown {
  const files = readZip(bytes);
  let pklName: string | undefined;
  for (const name of files.keys())
    if ((name === 'data.pkl' || name.endsWith('/data.pkl')) && (pklName === undefined || name.length < pklName.length))
      pklName = name;
  if (pklName === undefined) {
    const names = [...files.keys()];
    throw new CheckpointError(
      `ZIP archive has no data.pkl, so it is not a torch.save checkpoint (members: ${names.slice(0, 8).join(', ')}${names.length > 8 ? ', …' : ''})`,
    );
  }
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = files.get(`${prefix}byteorder`);
  if (byteorder !== undefined) {
    const order = new TextDecoder().decode(byteorder).trim();
    if (order !== 'little')
      throw new CheckpointError(`checkpoint byteorder is "${order}"; only little-endian checkpoints are supported`);
  }
  const roots = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown): StorageRef => {
    const [, type, key, , count] = storagePid(pid, [5]);
    const dtype = storageDType(type);
    if (typeof key !== 'string' || !STORAGE_KEY.test(key))
      throw new CheckpointError(`storage key must be a short printable string, got ${describeValue(key)}`);
    const numel = intField(count, `element count of storage ${key}`);
    const cacheKey = `${dtype}:${key}`;
    const cached = roots.get(cacheKey);
    if (cached !== undefined) return cached;
    const name = `${prefix}data/${key}`;
    const data = files.get(name);
    if (data === undefined)
      throw new CheckpointError(`storage ${key} is referenced by ${pklName} but ${name} is missing from the archive`);
    const need = numel * STORAGE_BYTES[dtype];
    if (data.length < need)
      throw new CheckpointError(
        `storage ${name} holds ${data.length} bytes, but ${numel} ${dtype} elements need ${need}`,
      );
    const ref = new StorageRef({ key, dtype, numel, bytes: data }, 0, numel);
    roots.set(cacheKey, ref);
    return ref;
  };
  return unpickle(files.get(pklName)!, {
    persistentLoad,
    source: pklName,
    budget: ctx.budget,
    allowUnknownGlobals: ctx.allowUnknownGlobals,
  });
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function parseLegacy(bytes: Uint8Array, ctx: ParseContext): unknown {
  const pickleOpts = { budget: ctx.budget, allowUnknownGlobals: ctx.allowUnknownGlobals };
  const magic = unpickleAt(bytes, 0, { ...pickleOpts, source: 'legacy header' });
  if (magic.value !== LEGACY_MAGIC)
    throw new CheckpointError(
      `not a PyTorch checkpoint: the first pickle holds ${describeValue(magic.value)}, expected the torch magic number`,
    );
  const proto = unpickleAt(bytes, magic.end, { ...pickleOpts, source: 'legacy header' });
  if (proto.value !== LEGACY_PROTOCOL)
    throw new CheckpointError(
      `unsupported legacy checkpoint protocol ${describeValue(proto.value)} (expected ${LEGACY_PROTOCOL})`,
    );
  const sysInfo = unpickleAt(bytes, proto.end, { ...pickleOpts, source: 'legacy sys_info' });
  if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false)
    throw new CheckpointError(
      'checkpoint was written on a big-endian machine; only little-endian checkpoints are supported',
    );

  const roots = new Map<string, RootStorage>();
  const views = new Map<string, StorageRef>();
  const setView = (k: string, ref: StorageRef): StorageRef => {
    views.set(k, ref);
    return ref;
  };
  const persistentLoad = (pid: unknown): StorageRef => {
    const [, type, key, , count, view] = storagePid(pid, [6]);
    const dtype = storageDType(type);
    if (typeof key !== 'string' || !STORAGE_KEY.test(key))
      throw new CheckpointError(`storage key must be a short printable string, got ${describeValue(key)}`);
    const numel = intField(count, `element count of storage ${key}`);
    let root = roots.get(key);
    if (root === undefined) {
      root = { key, dtype, numel, bytes: null };
      roots.set(key, root);
    } else if (root.dtype !== dtype)
      throw new CheckpointError(`storage ${key} is referenced as both ${root.dtype} and ${dtype}`);
    else if (root.numel !== numel)
      throw new CheckpointError(`storage ${key} is referenced with ${root.numel} and with ${numel} elements`);
    if (view === null || view === undefined)
      return views.get(`root:${key}`) ?? setView(`root:${key}`, new StorageRef(root, 0, numel));
    if (!Array.isArray(view) || view.length !== 3)
      throw new CheckpointError(`storage ${key} has malformed view metadata ${describeValue(view)}`);
    const [rawViewKey, offset, size] = view;
    const viewKey = printable(String(rawViewKey), 100);
    const cached = views.get(`view:${String(viewKey)}`);
    if (cached !== undefined) return cached;
    const ref = new StorageRef(
      root,
      intField(offset, `offset of storage view ${String(viewKey)}`),
      intField(size, `size of storage view ${String(viewKey)}`),
    );
    if (ref.offset + ref.numel > root.numel)
      throw new CheckpointError(
        `storage view ${String(viewKey)} [${ref.offset}, ${ref.offset + ref.numel}) exceeds its root storage ${key} of ${root.numel} elements`,
      );
    return setView(`view:${String(viewKey)}`, ref);
  };
  const main = unpickleAt(bytes, sysInfo.end, {
    ...pickleOpts,
    persistentLoad,
    source: 'legacy checkpoint object',
  });
  const keyList = unpickleAt(bytes, main.end, { ...pickleOpts, source: 'legacy storage key list' });
  if (!Array.isArray(keyList.value))
    throw new CheckpointError(
      `legacy checkpoint: expected the list of storage keys at offset ${main.end}, got ${describeValue(keyList.value)}`,
    );

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keyList.end;
  for (const key of keyList.value) {
    if (typeof key !== 'string')
      throw new CheckpointError(`legacy checkpoint: storage key must be a string, got ${describeValue(key)}`);
    const root = roots.get(key);
    if (root === undefined)
      throw new CheckpointError(
        `legacy checkpoint: storage ${key} at offset ${pos} is not referenced by the checkpoint object, so its element type is unknown`,
      );
    if (pos + 8 > bytes.length)
      throw new CheckpointError(
        `legacy checkpoint truncated: expected the 8-byte element count of storage ${key} at offset ${pos}, but the file is ${bytes.length} bytes long`,
      );
    const count = view.getBigInt64(pos, true);
    if (count < 0n || count > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CheckpointError(
        `legacy checkpoint: storage ${key} at offset ${pos} has an invalid element count ${count}`,
      );
    const n = Number(count);
    if (n < root.numel)
      throw new CheckpointError(
        `legacy checkpoint: storage ${key} at offset ${pos} holds ${n} elements, but the checkpoint object expects ${root.numel}`,
      );
    const size = n * STORAGE_BYTES[root.dtype];
    if (pos + 8 + size > bytes.length)
      throw new CheckpointError(
        `legacy checkpoint truncated: storage ${key} needs ${size} bytes at offset ${pos + 8}, but only ${Math.max(0, bytes.length - pos - 8)} remain`,
      );
    root.bytes = bytes.subarray(pos + 8, pos + 8 + size);
    pos += 8 + size;
  }
  for (const root of roots.values())
    if (root.bytes === null)
      throw new CheckpointError(
        `legacy checkpoint: storage ${root.key} is referenced but its data is missing from the file`,
      );
  return main.value;
}

// ---------------------------------------------------------------------------------------------
// Tensor materialisation

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expected) return false;
    expected *= shape[d]!;
  }
  return true;
}

/**
 * Copy the elements of a strided view (element size `es`) into a fresh row-major byte buffer. `src`
 * starts at the view's first element and is not copied; it is read in 4- or 2-byte words when aligned.
 */
function gather(
  src: Uint8Array,
  es: number,
  shape: readonly number[],
  stride: readonly number[],
  n: number,
): Uint8Array {
  const out = new Uint8Array(n * es);
  const rank = shape.length;
  if (rank === 0) {
    out.set(src.subarray(0, es));
    return out;
  }
  let unit = es >= 4 ? 4 : es;
  if (src.byteOffset % unit !== 0) unit = 1;
  const w = es / unit;
  const word = (b: Uint8Array, len: number): Uint8Array | Uint16Array | Uint32Array =>
    unit === 4
      ? new Uint32Array(b.buffer, b.byteOffset, len / 4)
      : unit === 2
        ? new Uint16Array(b.buffer, b.byteOffset, len / 2)
        : b.subarray(0, len);
  const s = word(src, src.byteLength - (src.byteLength % unit));
  const o = word(out, out.byteLength);
  const inner = shape[rank - 1]!;
  const innerStride = stride[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let srcElem = 0;
  for (let row = 0; row * inner < n; row++) {
    const dst = row * inner * w;
    if (innerStride === 1) o.set(s.subarray(srcElem * w, (srcElem + inner) * w), dst);
    else
      for (let j = 0; j < inner; j++) {
        const from = (srcElem + j * innerStride) * w;
        for (let k = 0; k < w; k++) o[dst + j * w + k] = s[from + k]!;
      }
    // advance the odometer over the outer dimensions
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      srcElem += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      srcElem -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** Bytes per element of the `TensorData` a storage dtype becomes (after the optional upcast). */
function outputBytes(dtype: StorageDType, upcast: boolean): number {
  switch (dtype) {
    case 'F16':
    case 'BF16':
      return upcast ? 4 : 2;
    case 'F64':
    case 'I16':
    case 'I8':
      return 4;
    default:
      return STORAGE_BYTES[dtype];
  }
}

/** View a freshly allocated byte buffer (offset 0) as the storage dtype and convert to a `TensorData` dtype. */
function toTensorData(buf: Uint8Array, dtype: StorageDType, shape: number[], upcast: boolean): TensorData {
  const b = buf.buffer as ArrayBuffer;
  const n = buf.byteLength / STORAGE_BYTES[dtype];
  let out: TensorData;
  switch (dtype) {
    case 'F32':
      out = { dtype: 'F32', shape, data: new Float32Array(b, 0, n) };
      break;
    case 'F64':
      out = { dtype: 'F32', shape, data: new Float32Array(new Float64Array(b, 0, n)) };
      break;
    case 'F16':
    case 'BF16':
      out = { dtype, shape, data: new Uint16Array(b, 0, n) };
      break;
    case 'I64':
      out = { dtype: 'I64', shape, data: new BigInt64Array(b, 0, n) };
      break;
    case 'I32':
      out = { dtype: 'I32', shape, data: new Int32Array(b, 0, n) };
      break;
    case 'I16':
      out = { dtype: 'I32', shape, data: new Int32Array(new Int16Array(b, 0, n)) };
      break;
    case 'I8':
      out = { dtype: 'I32', shape, data: new Int32Array(new Int8Array(b, 0, n)) };
      break;
    case 'U8':
    case 'BOOL':
      out = { dtype: 'U8', shape, data: new Uint8Array(b, 0, n) };
      break;
  }
  if (upcast && (out.dtype === 'F16' || out.dtype === 'BF16')) out = { dtype: 'F32', shape, data: toFloat32(out) };
  return out;
}

/**
 * Materialise one tensor as a contiguous `TensorData`. Its element count is computed from size,
 * stride and offset and charged to the budget (at its full expanded size: stride-0 and shared-storage
 * views count as what they become) before anything is allocated.
 * @param name the tensor's key (or path in the tree), for messages
 */
function materialize(t: TensorRef, upcast: boolean, budget: Budget, name: string): TensorData {
  if (!LITTLE_ENDIAN_HOST) throw new CheckpointError('reading checkpoints requires a little-endian host');
  const st = t.storage;
  const { shape, stride, storageOffset } = t;
  const where = `tensor ${name} [${shape.join(', ')}]`;
  if (!(st instanceof StorageRef))
    throw new CheckpointError(`${where} has storage ${describeValue(st)}, expected a persistent storage reference`);
  const { root } = st;
  const es = STORAGE_BYTES[root.dtype];
  if (stride.length !== shape.length)
    throw new CheckpointError(
      `${where} in storage ${root.key}: stride (${stride.join(', ')}) and size have different ranks`,
    );
  let n = 1;
  let last = storageOffset;
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(stride[d]) || size < 0 || stride[d]! < 0)
      throw new CheckpointError(
        `${where} in storage ${root.key}: sizes and strides must be non-negative integers (size ${shape.join(', ')}; stride ${stride.join(', ')})`,
      );
    n *= size;
    last += (size - 1) * stride[d]!;
  }
  if (!Number.isSafeInteger(storageOffset) || storageOffset < 0)
    throw new CheckpointError(`${where} in storage ${root.key}: negative storage offset ${storageOffset}`);
  if (n === 0) return toTensorData(new Uint8Array(0), root.dtype, [...shape], upcast);
  if (last >= st.numel)
    throw new CheckpointError(
      `${where} in storage ${root.key}: the view (offset ${storageOffset}, stride ${stride.join(', ')}) reaches element ${last}, but the storage has ${st.numel} elements`,
    );
  // what will exist once converted (the wider of the copied buffer and the converted array; the
  // narrower one is transient and dropped per tensor)
  const outEs = outputBytes(root.dtype, upcast);
  budget.take(
    n * Math.max(es, outEs),
    `${where} (${n} ${root.dtype} elements viewing ${st.numel} stored in storage ${root.key})`,
  );
  const bytes = root.bytes!;
  const start = (st.offset + storageOffset) * es;
  if ((st.offset + last + 1) * es > bytes.length)
    throw new CheckpointError(
      `${where} in storage ${root.key}: the view reaches byte ${(st.offset + last + 1) * es}, but the storage holds ${bytes.length} bytes`,
    );
  try {
    if (isContiguous(shape, stride))
      return toTensorData(bytes.slice(start, start + n * es), root.dtype, [...shape], upcast);
    const span = bytes.subarray(start, (st.offset + last + 1) * es);
    return toTensorData(gather(span, es, shape, stride, n), root.dtype, [...shape], upcast);
  } catch (e) {
    // within a raised budget, the runtime may still refuse the allocation (typed arrays have a maximum length)
    if (e instanceof RangeError)
      throw new BudgetError(
        `checkpoint: ${where} (${n} ${root.dtype} elements) could not be allocated: ${e.message}; the tensor is larger than this runtime can hold`,
      );
    throw e;
  }
}

function keyPath(parent: string, key: unknown): string {
  const k = typeof key === 'string' || typeof key === 'number' ? printable(String(key), 100) : describeValue(key);
  return parent === '' ? k : `${parent}.${k}`;
}

/**
 * Replace every `TensorRef` in the tree, in place, by its `TensorData` (shared refs stay shared).
 * Iterative (an explicit stack, no recursion), and refuses nesting deeper than `MAX_PTH_NESTING`.
 */
function materializeTree(root: unknown, upcast: boolean, budget: Budget): unknown {
  const done = new Map<TensorRef, TensorData>();
  const conv = (x: unknown, name: string): unknown => {
    if (!(x instanceof TensorRef)) return x;
    let t = done.get(x);
    if (t === undefined) {
      t = materialize(x, upcast, budget, name);
      done.set(x, t);
    }
    return t;
  };
  const seen = new Set<unknown>();
  const work: { node: unknown; name: string; depth: number }[] = [];
  const visit = (node: unknown, name: string, depth: number): void => {
    if (node === null || typeof node !== 'object' || node instanceof TensorRef || seen.has(node)) return;
    if (depth > MAX_PTH_NESTING)
      throw new CheckpointError(
        `checkpoint value ${name || '(root)'} is nested more than ${MAX_PTH_NESTING} containers deep; no checkpoint is, so the file is refused`,
      );
    seen.add(node);
    work.push({ node, name, depth });
  };
  const top = conv(root, '(root)');
  visit(top, '', 0);
  while (work.length > 0) {
    const { node: x, name, depth } = work.pop()!;
    const d = depth + 1;
    if (Array.isArray(x))
      for (let i = 0; i < x.length; i++) {
        x[i] = conv(x[i], keyPath(name, i));
        visit(x[i], keyPath(name, i), d);
      }
    else if (x instanceof PickleDict) {
      for (const [k, v] of x) {
        const c = conv(v, keyPath(name, k));
        if (c !== v) x.set(k, c);
        visit(c, keyPath(name, k), d);
      }
      x.attributes = conv(x.attributes, keyPath(name, '_attributes'));
      visit(x.attributes, keyPath(name, '_attributes'), d);
    } else if (x instanceof PickleObject) {
      for (let i = 0; i < x.args.length; i++) {
        x.args[i] = conv(x.args[i], keyPath(name, i));
        visit(x.args[i], keyPath(name, i), d);
      }
      x.state = conv(x.state, keyPath(name, '_state'));
      visit(x.state, keyPath(name, '_state'), d);
      visit(x.kwargs, name, d);
      visit(x.dictItems, name, d);
      visit(x.listItems, name, d);
    } else if (x instanceof Map) {
      for (const [k, v] of x) {
        const c = conv(v, keyPath(name, k));
        if (c !== v) x.set(k, c);
        visit(c, keyPath(name, k), d);
      }
    }
  }
  return top;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Decode a checkpoint into its object tree: dicts are `PickleDict` (insertion-ordered Maps), lists
 * and tuples arrays, tensors `TensorData`, unknown class instances inert `PickleObject`s.
 * Throws `UnsafePickleError` if the pickle names a global outside the weights-only allow-list (unless
 * `allowUnknownGlobals`) or anything on the deny-list, `BudgetError` if the tensors (at their expanded
 * size) or the unpickler's copies exceed `maxBytes` (default 4 × the file + 64 MiB), and
 * `CheckpointError` for corrupt, truncated, too deeply nested or unsupported files.
 */
export function readPth(bytes: Uint8Array, opts: ReadPthOptions = {}): unknown {
  const ctx = context(bytes, opts);
  return materializeTree(parseCheckpoint(bytes, ctx), opts.upcast === true, ctx.budget);
}

const STATE_DICT_KEYS = ['state_dict', 'model', 'model_ema', 'module'];

function tensorEntries(d: Map<unknown, unknown>): [string, TensorRef][] {
  const out: [string, TensorRef][] = [];
  for (const [k, v] of d) if (typeof k === 'string' && v instanceof TensorRef) out.push([k, v]);
  return out;
}

const MAX_LISTED = 20;

function listed(items: string[]): string {
  return items.length > MAX_LISTED
    ? `${items.slice(0, MAX_LISTED).join(', ')}, … (+${items.length - MAX_LISTED} more)`
    : items.join(', ');
}

function describeTopLevel(d: Map<unknown, unknown>): string {
  return listed([...d].map(([k, v]) => `${printable(String(k), 100)}: ${describeValue(v)}`));
}

/**
 * Load the state dict of a checkpoint as a `StateDict` in the pickle's insertion order.
 *
 * With `key`, takes `checkpoint[key]`; otherwise a top-level dict whose values are all tensors is the
 * state dict, else the first of `state_dict`, `model`, `model_ema`, `module` that is a dict holding
 * tensors. Non-tensor entries of the chosen dict are dropped, and a `module.` prefix shared by every
 * key (DataParallel) is stripped. Only the chosen tensors are materialised, each charged to the
 * `maxBytes` budget first; the same refusals as `readPth` apply (the rest of the tree is decoded, not walked).
 */
export function loadPthStateDict(bytes: Uint8Array, opts: LoadPthOptions = {}): StateDict {
  return loadPthCheckpoint(bytes, opts).stateDict;
}

/** `loadPthStateDict`, also telling which key the state dict came from (for reports such as "read checkpoint['model_ema']"). */
export function loadPthCheckpoint(bytes: Uint8Array, opts: LoadPthOptions = {}): PthStateDict {
  const ctx = context(bytes, opts);
  const root = parseCheckpoint(bytes, ctx);
  let chosen: [string, TensorRef][] | undefined;
  let chosenKey: string | null = null;
  const take = (key: string): [string, TensorRef][] => {
    const v = (root as Map<unknown, unknown>).get(key);
    if (!(v instanceof Map))
      throw new CheckpointError(`checkpoint["${printable(key)}"] is ${describeValue(v)}, not a dict of tensors`);
    const entries = tensorEntries(v);
    if (entries.length === 0)
      throw new CheckpointError(`checkpoint["${printable(key)}"] holds no tensors (${describeTopLevel(v) || 'empty'})`);
    return entries;
  };
  if (opts.key !== undefined) {
    if (!(root instanceof Map))
      throw new CheckpointError(
        `cannot take key "${printable(opts.key)}": the checkpoint holds ${describeValue(root)}, not a dict`,
      );
    if (!root.has(opts.key))
      throw new CheckpointError(
        `checkpoint has no top-level key "${printable(opts.key)}"; available keys: ${listed([...root.keys()].map((k) => printable(String(k), 100))) || '(none)'}`,
      );
    chosen = take(opts.key);
    chosenKey = opts.key;
  } else {
    if (!(root instanceof Map)) {
      const hint =
        root instanceof PickleObject && root.state instanceof Map && root.state.has('_parameters')
          ? '; it looks like a whole pickled nn.Module — save model.state_dict() instead'
          : '';
      throw new CheckpointError(
        `cannot find a state dict: the checkpoint holds ${describeValue(root)}, not a dict${hint}`,
      );
    }
    const all = tensorEntries(root);
    if (all.length > 0 && all.length === root.size) chosen = all;
    else {
      const preferred = (opts.preferKeys ?? []).find((k) => root.has(k));
      if (preferred !== undefined) {
        chosen = take(preferred);
        chosenKey = preferred;
      } else
        for (const k of STATE_DICT_KEYS) {
          const v = root.get(k);
          if (v instanceof Map) {
            const entries = tensorEntries(v);
            if (entries.length > 0) {
              chosen = entries;
              chosenKey = k;
              break;
            }
          }
        }
    }
    if (chosen === undefined)
      throw new CheckpointError(
        `cannot find a state dict in the checkpoint: no dict of tensors at the top level or under ${STATE_DICT_KEYS.join(', ')}; top-level keys are ${describeTopLevel(root) || '(none)'}. Pass { key } to choose one`,
      );
  }
  const strip = chosen.every(([k]) => k.startsWith('module.'));
  const upcast = opts.upcast === true;
  const sd: StateDict = new Map();
  for (const [k, ref] of chosen)
    sd.set(strip ? k.slice('module.'.length) : k, materialize(ref, upcast, ctx.budget, printable(k, 100)));
  const topLevelKeys = chosenKey === null ? [] : [...(root as Map<unknown, unknown>).keys()].map(String);
  return { stateDict: sd, key: chosenKey, topLevelKeys, strippedModule: strip };
}
