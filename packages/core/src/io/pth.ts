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
 */
import { CheckpointError } from '../errors.js';
import { PickleDict, PickleGlobal, PickleObject, TensorRef, describeValue, unpickle, unpickleAt } from './pickle.js';
import { type StateDict, type TensorData, toFloat32 } from './tensor-data.js';
import { isZip, readZip } from './zip.js';

export { PickleDict, PickleGlobal, PickleObject } from './pickle.js';

export interface ReadPthOptions {
  /** Convert F16/BF16 tensors to F32. */
  upcast?: boolean;
}

export interface LoadPthOptions extends ReadPthOptions {
  /** Top-level key holding the state dict (e.g. `state_dict`, `model`, `model_ema`); auto-detected when omitted. */
  key?: string;
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

function storagePid(pid: unknown, expectedLength: number[]): unknown[] {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || !expectedLength.includes(pid.length))
    throw new CheckpointError(
      `unexpected persistent id ${describeValue(pid)}; expected a ('storage', type, key, location, numel${expectedLength.includes(6) ? ', view' : ''}) tuple`,
    );
  return pid;
}

// ---------------------------------------------------------------------------------------------
// Container formats → object tree with TensorRefs

function parseCheckpoint(bytes: Uint8Array): unknown {
  if (isZip(bytes)) return parseZip(bytes);
  if (bytes.length >= 2 && bytes[0] === 0x80) return parseLegacy(bytes);
  if (bytes.length >= 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar')
    throw new CheckpointError(
      'this is a legacy tar-format PyTorch checkpoint (torch < 0.4), which is not supported; load and re-save it with a recent torch.save',
    );
  const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CheckpointError(
    `not a PyTorch checkpoint: expected a ZIP archive (50 4b 03 04) or a pickle (80 …) at offset 0, found ${head || 'an empty file'}`,
  );
}

function parseZip(bytes: Uint8Array): unknown {
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
    if (typeof key !== 'string') throw new CheckpointError(`storage key must be a string, got ${describeValue(key)}`);
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
  return unpickle(files.get(pklName)!, { persistentLoad, source: pklName });
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

function parseLegacy(bytes: Uint8Array): unknown {
  const magic = unpickleAt(bytes, 0, { source: 'legacy header' });
  if (magic.value !== LEGACY_MAGIC)
    throw new CheckpointError(
      `not a PyTorch checkpoint: the first pickle holds ${describeValue(magic.value)}, expected the torch magic number`,
    );
  const proto = unpickleAt(bytes, magic.end, { source: 'legacy header' });
  if (proto.value !== LEGACY_PROTOCOL)
    throw new CheckpointError(
      `unsupported legacy checkpoint protocol ${describeValue(proto.value)} (expected ${LEGACY_PROTOCOL})`,
    );
  const sysInfo = unpickleAt(bytes, proto.end, { source: 'legacy sys_info' });
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
    if (typeof key !== 'string') throw new CheckpointError(`storage key must be a string, got ${describeValue(key)}`);
    const numel = intField(count, `element count of storage ${key}`);
    let root = roots.get(key);
    if (root === undefined) {
      root = { key, dtype, numel, bytes: null };
      roots.set(key, root);
    } else if (root.dtype !== dtype)
      throw new CheckpointError(`storage ${key} is referenced as both ${root.dtype} and ${dtype}`);
    if (view === null || view === undefined)
      return views.get(`root:${key}`) ?? setView(`root:${key}`, new StorageRef(root, 0, numel));
    if (!Array.isArray(view) || view.length !== 3)
      throw new CheckpointError(`storage ${key} has malformed view metadata ${describeValue(view)}`);
    const [viewKey, offset, size] = view;
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
  const main = unpickleAt(bytes, sysInfo.end, { persistentLoad, source: 'legacy checkpoint object' });
  const keyList = unpickleAt(bytes, main.end, { source: 'legacy storage key list' });
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

/** Copy the elements of a strided view (element size `es`) into a fresh row-major byte buffer. */
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
  // `src` starts at the view's first element and is freshly allocated, so word views are aligned.
  const unit = es >= 4 ? 4 : es;
  const w = es / unit;
  const word = (b: Uint8Array): Uint8Array | Uint16Array | Uint32Array =>
    unit === 4
      ? new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4)
      : unit === 2
        ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)
        : b;
  const s = word(src);
  const o = word(out);
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

function materialize(t: TensorRef, upcast: boolean): TensorData {
  if (!LITTLE_ENDIAN_HOST) throw new CheckpointError('reading checkpoints requires a little-endian host');
  const st = t.storage;
  if (!(st instanceof StorageRef))
    throw new CheckpointError(
      `tensor [${t.shape.join(', ')}] has storage ${describeValue(st)}, expected a persistent storage reference`,
    );
  const { root } = st;
  const es = STORAGE_BYTES[root.dtype];
  const { shape, stride, storageOffset } = t;
  const where = `tensor [${shape.join(', ')}] in storage ${root.key}`;
  if (stride.length !== shape.length)
    throw new CheckpointError(`${where}: stride (${stride.join(', ')}) and size have different ranks`);
  let n = 1;
  let last = storageOffset;
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size < 0 || stride[d]! < 0)
      throw new CheckpointError(`${where}: negative size or stride (stride ${stride.join(', ')})`);
    n *= size;
    last += (size - 1) * stride[d]!;
  }
  if (storageOffset < 0) throw new CheckpointError(`${where}: negative storage offset ${storageOffset}`);
  if (n === 0) return toTensorData(new Uint8Array(0), root.dtype, [...shape], upcast);
  if (last >= st.numel)
    throw new CheckpointError(
      `${where}: the view (offset ${storageOffset}, stride ${stride.join(', ')}) reaches element ${last}, but the storage has ${st.numel} elements`,
    );
  const bytes = root.bytes!;
  const start = (st.offset + storageOffset) * es;
  if (isContiguous(shape, stride))
    return toTensorData(bytes.slice(start, start + n * es), root.dtype, [...shape], upcast);
  const span = bytes.slice(start, (st.offset + last + 1) * es);
  return toTensorData(gather(span, es, shape, stride, n), root.dtype, [...shape], upcast);
}

/** Replace every `TensorRef` in the tree, in place, by its `TensorData` (shared refs stay shared). */
function materializeTree(root: unknown, upcast: boolean): unknown {
  const done = new Map<TensorRef, TensorData>();
  const seen = new Set<unknown>();
  const conv = (x: unknown): unknown => {
    if (x instanceof TensorRef) {
      let t = done.get(x);
      if (t === undefined) {
        t = materialize(x, upcast);
        done.set(x, t);
      }
      return t;
    }
    if (x !== null && typeof x === 'object' && !seen.has(x)) {
      seen.add(x);
      if (Array.isArray(x)) for (let i = 0; i < x.length; i++) x[i] = conv(x[i]);
      else if (x instanceof PickleDict) {
        for (const [k, v] of x) x.set(k, conv(v));
        x.attributes = conv(x.attributes);
      } else if (x instanceof PickleObject) {
        for (let i = 0; i < x.args.length; i++) x.args[i] = conv(x.args[i]);
        x.state = conv(x.state);
        conv(x.kwargs);
        conv(x.dictItems);
        conv(x.listItems);
      }
    }
    return x;
  };
  return conv(root);
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Decode a checkpoint into its object tree: dicts are `PickleDict` (insertion-ordered Maps), lists
 * and tuples arrays, tensors `TensorData`, unknown class instances inert `PickleObject`s.
 * Throws `UnsafePickleError` if the pickle asks for anything outside the safety rule, and
 * `CheckpointError` for corrupt, truncated or unsupported files.
 */
export function readPth(bytes: Uint8Array, opts: ReadPthOptions = {}): unknown {
  return materializeTree(parseCheckpoint(bytes), opts.upcast === true);
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
  return listed([...d].map(([k, v]) => `${String(k)}: ${describeValue(v)}`));
}

/**
 * Load the state dict of a checkpoint as a `StateDict` in the pickle's insertion order.
 *
 * With `key`, takes `checkpoint[key]`; otherwise a top-level dict whose values are all tensors is the
 * state dict, else the first of `state_dict`, `model`, `model_ema`, `module` that is a dict holding
 * tensors. Non-tensor entries of the chosen dict are dropped, and a `module.` prefix shared by every
 * key (DataParallel) is stripped. Only the chosen tensors are materialised.
 */
export function loadPthStateDict(bytes: Uint8Array, opts: LoadPthOptions = {}): StateDict {
  const root = parseCheckpoint(bytes);
  let chosen: [string, TensorRef][] | undefined;
  if (opts.key !== undefined) {
    if (!(root instanceof Map))
      throw new CheckpointError(
        `cannot take key "${opts.key}": the checkpoint holds ${describeValue(root)}, not a dict`,
      );
    if (!root.has(opts.key))
      throw new CheckpointError(
        `checkpoint has no top-level key "${opts.key}"; available keys: ${listed([...root.keys()].map(String)) || '(none)'}`,
      );
    const v = root.get(opts.key);
    if (!(v instanceof Map))
      throw new CheckpointError(`checkpoint["${opts.key}"] is ${describeValue(v)}, not a dict of tensors`);
    chosen = tensorEntries(v);
    if (chosen.length === 0)
      throw new CheckpointError(`checkpoint["${opts.key}"] holds no tensors (${describeTopLevel(v) || 'empty'})`);
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
    else
      for (const k of STATE_DICT_KEYS) {
        const v = root.get(k);
        if (v instanceof Map) {
          const entries = tensorEntries(v);
          if (entries.length > 0) {
            chosen = entries;
            break;
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
  for (const [k, ref] of chosen) sd.set(strip ? k.slice('module.'.length) : k, materialize(ref, upcast));
  return sd;
}
