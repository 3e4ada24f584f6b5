/**
 * Restricted unpickler for PyTorch checkpoints (pickle protocols 2–5; the few protocol 0/1 opcodes
 * that are trivial to decode are accepted too).
 *
 * A pickle is a program for a small stack machine. Most opcodes push plain data (ints, floats,
 * strings, bytes, lists, tuples, dicts, sets) and are decoded here directly. The dangerous ones are
 * GLOBAL / STACK_GLOBAL, which name an arbitrary Python object `module.name`, followed by REDUCE
 * (call it with a tuple of arguments), NEWOBJ / NEWOBJ_EX (`cls.__new__(cls, *args)`), INST / OBJ
 * (protocol 0/1 instantiation) and BUILD (`obj.__setstate__(state)`). A malicious checkpoint uses
 * them to run `os.system(...)` or `builtins.eval(...)` at load time.
 *
 * SAFETY RULE (PyTorch's `weights_only=True` semantics). Nothing a pickle names is ever called,
 * imported or looked up, and by default only an explicit allow-list of globals may even be named:
 *
 *  1. GLOBAL / STACK_GLOBAL produce an inert `PickleGlobal {module, name}` descriptor only for a
 *     global on the WEIGHTS-ONLY ALLOW-LIST:
 *       - reconstructors (REDUCE targets, our own code in `RECONSTRUCTORS`): `collections.OrderedDict`,
 *         `builtins.{dict,list,tuple,set,frozenset,bytes,bytearray}` (and `__builtin__.*`),
 *         `_codecs.encode` (protocol-2 bytes), `torch.Size`, `torch._utils._rebuild_tensor{,_v2}`,
 *         `torch._utils._rebuild_parameter{,_with_state}`, `torch._tensor._rebuild_from_type_v2`,
 *         `copyreg._reconstructor` / `copyreg.__newobj__` (for allow-listed classes only);
 *       - inert data classes read as `PickleObject` placeholders (`INERT_CLASSES`): `argparse.Namespace`
 *         (training `args` of timm/DeiT/DeBiFormer checkpoints), `yacs.config.CfgNode` (the `config`
 *         of Swin-codebase/DAT training checkpoints), `numpy.dtype`, `numpy.ndarray`,
 *         `numpy.{core,_core}.multiarray.{scalar,_reconstruct}`, `numpy.dtypes.*DType` (numpy values in
 *         mmdet/mmengine `meta`), `torch.device`;
 *       - plain values that are named but never called: the torch storage classes
 *         (`torch.FloatStorage`, …, `torch.UntypedStorage`, also under `torch.cuda` / `torch.storage`),
 *         torch dtypes (`torch.float32`, …), `torch.Tensor`, `torch.nn.parameter.Parameter`, and the
 *         plain value types of `builtins` (`object`, `int`, `str`, …).
 *     Any other global throws `UnsafePickleError` naming `module.name` right there — `zipfile.ZipFile`,
 *     `_winapi.CreateProcess`, `torch.load`, `torch.nn.Module` and its subclasses (a pickled model),
 *     `pathlib.PosixPath`, `__main__.*`, … Modules on the deny-list (`DENIED_MODULES`: `os`, `posix`,
 *     `nt`, `sys`, `subprocess`, `runpy`, `importlib`, `builtins` except its plain types, `operator`,
 *     `functools`, `pickle`, `ctypes`, `socket`, `shutil`, `torch.hub`, …) are refused always.
 *  2. REDUCE / INST / OBJ on a reconstructor runs it; on an inert class yields a `PickleObject`
 *     `{__class__, args, state}` that just records what was asked for; anything else (a storage
 *     class, a dtype, a callable that is not a global at all) throws `UnsafePickleError`.
 *  3. NEWOBJ / NEWOBJ_EX (`cls.__new__`) yields an empty container for the container types, a
 *     placeholder for an inert class, and throws otherwise.
 *  4. BUILD never runs a `__setstate__`: it stores the state on the placeholder (or as an
 *     OrderedDict's `attributes`). A state that sets `__setstate__`, `__class__`, `__reduce__`, …
 *     (`HIJACK_ATTRS`) — how a pickle makes a later BUILD call something — throws `UnsafePickleError`.
 *
 * OPT-IN `allowUnknownGlobals: true` (for trusted files) restores the older, lenient rule: any
 * non-denied global may be named (kept as a `PickleGlobal`), and REDUCE / NEWOBJ / copyreg on a
 * class-like name (an identifier starting with an uppercase letter, e.g. `pathlib.PosixPath`) or a
 * known value type (`datetime.*`, `builtins.slice`/`complex`/`range`, …) yields an inert
 * placeholder. REDUCE on function-like names (`torch.load`, `numpy.load`, …) and the deny-list
 * stay refused; still nothing is ever called.
 *
 * BOUNDS. LONG1/LONG4 integers over `MAX_LONG_BYTES` (4 KiB) and INT/LONG/PUT/GET text lines over
 * `MAX_INT_DIGITS` (10,000 digits) are refused on their length, before any digit is read; every
 * string/bytes length is checked against what is left of the input before anything is sliced; what
 * reconstructors copy (bytes, encoded strings, list/set/dict copies, shapes) and bytes objects are
 * charged to a `Budget` (option `budget`, default `defaultBudget(input size)`), so a memoised value
 * copied again and again throws `BudgetError`. The machine itself is iterative (no recursion on the
 * pickle's nesting). Strings from the pickle are escaped (`printable`) in every message, so an
 * error is always one line.
 *
 * Persistent ids (BINPERSID / PERSID, how torch refers to tensor storages) are handed to the
 * caller's `persistentLoad`, which only maps them to data it owns.
 *
 * Python values map to: None → null, bool → boolean, int → number (bigint beyond 2^53), float →
 * number, str → string, bytes/bytearray → Uint8Array, list and tuple → array, dict / OrderedDict →
 * `PickleDict` (an insertion-ordered Map), set / frozenset → Set.
 */
import { CheckpointError, printable, UnsafePickleError } from '../errors.js';
import { Budget } from './budget.js';

/** An inert reference to `module.name`, as named by GLOBAL / STACK_GLOBAL. Never resolved. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict or OrderedDict, in insertion order. BUILD state (e.g. `_metadata`) lands in `attributes`. */
export class PickleDict extends Map<unknown, unknown> {
  attributes: unknown = undefined;
  constructor(readonly pyClass: string = 'dict') {
    super();
  }
}

/**
 * Inert placeholder for an instance of a class the unpickler does not rebuild (e.g.
 * `argparse.Namespace`): the class name, the constructor arguments, the BUILD state, and any items a
 * dict/list subclass received through SETITEM(S)/APPEND(S). Nothing of the class was run.
 */
export class PickleObject {
  state: unknown = undefined;
  kwargs: PickleDict | undefined = undefined;
  dictItems: PickleDict | undefined = undefined;
  listItems: unknown[] | undefined = undefined;
  constructor(
    readonly __class__: string,
    readonly args: unknown[],
  ) {}
}

/** What `torch._utils._rebuild_tensor_v2` and friends would build: a view into a storage. */
export class TensorRef {
  constructor(
    /** Whatever the caller's `persistentLoad` returned for the storage's persistent id. */
    readonly storage: unknown,
    /** In elements. */
    readonly storageOffset: number,
    readonly shape: number[],
    /** In elements. */
    readonly stride: number[],
    readonly requiresGrad: boolean,
  ) {}
}

export interface UnpickleOptions {
  /** Maps a persistent id (BINPERSID/PERSID) to a value; without it, persistent ids are an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Name of the pickle for error messages (e.g. `archive/data.pkl`). */
  source?: string;
  /**
   * Read globals outside the weights-only allow-list as inert placeholders (`PickleObject` for
   * class-like names, `PickleGlobal` for bare references) instead of refusing them. Deny-listed
   * modules (`os`, `builtins.eval`, `subprocess`, …) and REDUCE on function-like names stay refused.
   * Only for trusted files. Default false.
   */
  allowUnknownGlobals?: boolean;
  /**
   * Memory budget charged for what reconstructors copy (bytes, strings encoded to bytes, list/set/dict
   * copies, shapes); default: `new Budget(bytes.length, 'pickle')` with the default limit.
   */
  budget?: Budget;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode (pickles can be concatenated). */
  end: number;
}

/** Unpickle the pickle that starts at offset 0. Trailing bytes after STOP are ignored. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): unknown {
  return unpickleAt(bytes, 0, opts).value;
}

/** Unpickle the pickle that starts at `offset`; also returns where it ended. */
export function unpickleAt(bytes: Uint8Array, offset: number, opts: UnpickleOptions = {}): UnpickleResult {
  return new Unpickler(bytes, offset, opts).run();
}

// ---------------------------------------------------------------------------------------------
// Safety policy

/** Modules (and their submodules) whose globals are refused on sight. */
const DENIED_MODULES = new Set([
  'os',
  'posix',
  'nt',
  'posixpath',
  'ntpath',
  'sys',
  'subprocess',
  '_posixsubprocess',
  'runpy',
  'importlib',
  'imp',
  'pkgutil',
  'zipimport',
  'builtins',
  '__builtin__',
  'code',
  'codeop',
  'compileall',
  'py_compile',
  'pdb',
  'bdb',
  'trace',
  'timeit',
  'profile',
  'cProfile',
  'shutil',
  'tempfile',
  'glob',
  'socket',
  'socketserver',
  'ssl',
  'http',
  'urllib',
  'urllib2',
  'urllib3',
  'requests',
  'ftplib',
  'smtplib',
  'telnetlib',
  'webbrowser',
  'pty',
  'tty',
  'fcntl',
  'termios',
  'signal',
  'resource',
  'ctypes',
  '_ctypes',
  'cffi',
  'multiprocessing',
  'concurrent',
  'threading',
  '_thread',
  'thread',
  'asyncio',
  'selectors',
  'select',
  'mmap',
  'gc',
  'inspect',
  'types',
  'functools',
  'operator',
  '_operator',
  'pickle',
  '_pickle',
  'cPickle',
  'dill',
  'cloudpickle',
  'joblib',
  'marshal',
  'shelve',
  'dbm',
  'sqlite3',
  'io',
  '_io',
  'codecs',
  'copy',
  'weakref',
  'atexit',
  'site',
  'sysconfig',
  'distutils',
  'setuptools',
  'pip',
  'venv',
  'ensurepip',
  'platform',
  'commands',
  'popen2',
  'linecache',
  'tokenize',
  'ast',
  'dis',
  'pydoc',
  'logging',
  'torch.hub',
  'torch.utils.cpp_extension',
  'torch.jit',
  'torch.package',
  'torch.ops',
  'torch.classes',
  'torch.serialization',
  'numpy.f2py',
  'numpy.distutils',
  'numpy.testing',
  'numpy.lib.npyio',
]);

/** Plain value types of `builtins` that may be named (only rebuilt or turned into placeholders). */
const SAFE_BUILTINS = new Set([
  'set',
  'frozenset',
  'dict',
  'list',
  'tuple',
  'bytearray',
  'bytes',
  'slice',
  'complex',
  'range',
  'object',
  'int',
  'float',
  'str',
  'bool',
  'NoneType',
  'Ellipsis',
  'NotImplemented',
]);

/** `copyreg` helpers that only allocate an instance of a class named in their arguments. */
const SAFE_COPYREG = new Set(['_reconstructor', '__newobj__', '__newobj_ex__']);

/**
 * Classes read as inert `PickleObject` placeholders by default (weights-only allow-list): plain data
 * that official checkpoints really hold — timm/DeiT/DeBiFormer training `args`, numpy scalars, dtypes
 * and arrays in mmdet/mmengine `meta`, devices. Their BUILD state is stored, never passed to a
 * `__setstate__`.
 */
const INERT_CLASSES = new Set([
  'argparse.Namespace',
  // Swin-codebase training checkpoints (DAT) save their yacs config: a dict subclass of plain values
  'yacs.config.CfgNode',
  'numpy.dtype',
  'numpy.ndarray',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar',
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'torch.device',
]);

/**
 * Attributes a BUILD state may not set: through them Python's BUILD (`getattr(obj, '__setstate__')`,
 * `setattr` of slot state) would call or retype with a pickled value. Other dunder-looking names are
 * plain data (yacs stores `__immutable__` in its instances).
 */
const HIJACK_ATTRS = new Set([
  '__setstate__',
  '__reduce__',
  '__reduce_ex__',
  '__getstate__',
  '__class__',
  '__dict__',
  '__getattr__',
  '__getattribute__',
  '__setattr__',
  '__init__',
  '__new__',
  '__call__',
]);

/** numpy ≥ 1.25 dtype classes (`numpy.dtypes.Float64DType`, …), also inert. */
const NUMPY_DTYPE_CLASS = /^[A-Z][A-Za-z0-9]*DType$/;

/** Storage classes named in torch persistent ids (see pth.ts). */
const STORAGE_CLASS = /^(?:Untyped|Typed|Float|Double|Half|BFloat16|Long|Int|Short|Char|Byte|Bool)Storage$/;

/** torch dtypes, pickled as plain globals (`torch.float32`). */
const TORCH_DTYPES = new Set([
  'float32',
  'float',
  'float64',
  'double',
  'float16',
  'half',
  'bfloat16',
  'int64',
  'long',
  'int32',
  'int',
  'int16',
  'short',
  'int8',
  'uint8',
  'bool',
  'complex64',
  'complex128',
]);

/** Lowercase-named value types that become placeholders under `allowUnknownGlobals` (never called). */
const INERT_VALUE_TYPES = new Set([
  ...INERT_CLASSES,
  'torch.dtype',
  'datetime.datetime',
  'datetime.date',
  'datetime.time',
  'datetime.timedelta',
  'datetime.timezone',
  'builtins.slice',
  'builtins.complex',
  'builtins.range',
  'builtins.object',
  '__builtin__.slice',
  '__builtin__.complex',
  '__builtin__.object',
]);

function deniedModule(module: string): string | undefined {
  const parts = module.split('.');
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join('.');
    if (DENIED_MODULES.has(prefix)) return prefix;
  }
  return undefined;
}

function isInertClass(g: PickleGlobal): boolean {
  return INERT_CLASSES.has(g.qualifiedName) || (g.module === 'numpy.dtypes' && NUMPY_DTYPE_CLASS.test(g.name));
}

/** True for a global a weights-only checkpoint may name (allow-listed; see the header). */
function allowListed(module: string, name: string): boolean {
  const key = `${module} ${name}`;
  if (RECONSTRUCTORS.has(key) || NEW_CONTAINERS.has(key)) return true;
  const g = new PickleGlobal(module, name);
  if (isInertClass(g)) return true;
  if ((module === 'builtins' || module === '__builtin__') && SAFE_BUILTINS.has(name)) return true;
  if ((module === 'torch' || module === 'torch.cuda' || module === 'torch.storage') && STORAGE_CLASS.test(name))
    return true;
  if (module === 'torch' && (TORCH_DTYPES.has(name) || name === 'Tensor')) return true;
  if (module === 'torch.nn.parameter' && name === 'Parameter') return true;
  return false;
}

/** Throws `UnsafePickleError` if a GLOBAL may not even be named. */
function checkGlobal(module: string, name: string, at: number, allowUnknown: boolean): void {
  const denied = deniedModule(module);
  if (denied === undefined) {
    if (allowUnknown || allowListed(module, name)) return;
    const hint =
      module === 'torch.nn' || module.startsWith('torch.nn.') || module === '__main__'
        ? ' (a pickled module or class: save and load model.state_dict() instead)'
        : module.startsWith('torch') && name.startsWith('_rebuild_')
          ? ' (an unsupported tensor kind: quantized, sparse, nested, meta...)'
          : '';
    throw new UnsafePickleError(
      `${module}.${name}`,
      `GLOBAL at offset ${at}; it is not on the weights-only allow-list (torch tensor/storage rebuilders, OrderedDict, plain containers, argparse.Namespace, numpy scalars and dtypes)${hint}; pass allowUnknownGlobals: true to read such objects as inert placeholders if the file is trusted`,
    );
  }
  if ((module === 'builtins' || module === '__builtin__') && SAFE_BUILTINS.has(name)) return;
  if ((module === 'copyreg' || module === 'copy_reg') && SAFE_COPYREG.has(name)) return;
  throw new UnsafePickleError(
    `${module}.${name}`,
    `GLOBAL at offset ${at}; module ${denied} can run code or reach the system`,
  );
}

const CLASS_NAME = /^[A-Z][A-Za-z0-9_]*$/;

/** May REDUCE / NEWOBJ / copyreg turn this global into a placeholder? */
function becomesPlaceholder(g: PickleGlobal, allowUnknown: boolean): boolean {
  if (isInertClass(g)) return true;
  return allowUnknown && (CLASS_NAME.test(g.name) || INERT_VALUE_TYPES.has(g.qualifiedName));
}

/**
 * Caps on what one opcode may announce. No integer in a checkpoint is more than a few bytes wide
 * (element counts and offsets fit 8 bytes, the legacy magic number 10, a 256-bit hash 32), so 4 KiB
 * (a 9,864-digit number) leaves two orders of magnitude of room while making a LONG4 or a text LONG
 * decode in microseconds; larger ones are refused on their length, before any digit is read.
 */
export const MAX_LONG_BYTES = 4096;
/** Decimal digits of a protocol-0 INT / LONG line (≈ `MAX_LONG_BYTES` in binary; BigInt parsing is quadratic). */
export const MAX_INT_DIGITS = 10_000;

// ---------------------------------------------------------------------------------------------
// Allow-listed reconstructors (our own code; they receive already-decoded plain values)

type Reconstructor = (args: unknown[], at: number, allowUnknown: boolean) => unknown;

function fail(at: number, message: string): never {
  throw new CheckpointError(`pickle: ${message} (at offset ${at})`);
}

function toInt(x: unknown, what: string, at: number): number {
  if (typeof x === 'bigint' && x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER))
    return Number(x);
  if (typeof x === 'number' && Number.isSafeInteger(x)) return x;
  return fail(at, `${what} must be an integer, got ${describeValue(x)}`);
}

function toIntArray(x: unknown, what: string, at: number): number[] {
  if (!Array.isArray(x)) return fail(at, `${what} must be a tuple of integers, got ${describeValue(x)}`);
  return x.map((v, i) => toInt(v, `${what}[${i}]`, at));
}

function iterableItems(x: unknown, what: string, at: number): unknown[] {
  if (Array.isArray(x)) return x;
  if (x instanceof Set) return [...x];
  if (x instanceof Map) return [...x.keys()];
  return fail(at, `${what} must be a list, tuple or set, got ${describeValue(x)}`);
}

function encodeString(s: unknown, encoding: unknown, at: number): Uint8Array {
  if (typeof s !== 'string') return fail(at, `expected a str to encode, got ${describeValue(s)}`);
  const enc = typeof encoding === 'string' ? encoding.toLowerCase().replace(/_/g, '-') : 'utf-8';
  if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1' || enc === 'l1') {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) fail(at, `character U+${c.toString(16)} cannot be latin-1 encoded`);
      out[i] = c;
    }
    return out;
  }
  if (enc === 'utf-8' || enc === 'utf8') return new TextEncoder().encode(s);
  return fail(at, `unsupported string encoding "${printable(String(encoding))}"`);
}

function rebuildTensor(args: unknown[], at: number, requiresGradIndex: number): TensorRef {
  if (args.length < 4) fail(at, `tensor reconstructor needs at least 4 arguments, got ${args.length}`);
  const shape = toIntArray(args[2], 'tensor size', at);
  const stride = toIntArray(args[3], 'tensor stride', at);
  const requiresGrad = requiresGradIndex >= 0 && args[requiresGradIndex] === true;
  return new TensorRef(args[0], toInt(args[1], 'tensor storage offset', at), shape, stride, requiresGrad);
}

function rebuildParameter(args: unknown[], at: number): TensorRef {
  const data = args[0];
  if (!(data instanceof TensorRef)) return fail(at, `parameter data must be a tensor, got ${describeValue(data)}`);
  return new TensorRef(data.storage, data.storageOffset, data.shape, data.stride, args[1] === true);
}

function newDict(pyClass: string, args: unknown[], at: number): PickleDict {
  const d = new PickleDict(pyClass);
  const init = args[0];
  if (init === undefined || init === null) return d;
  if (init instanceof Map) {
    for (const [k, v] of init) d.set(k, v);
    return d;
  }
  for (const pair of iterableItems(init, `${pyClass} initialiser`, at)) {
    if (!Array.isArray(pair) || pair.length !== 2) fail(at, `${pyClass} initialiser items must be (key, value) pairs`);
    d.set(pair[0], pair[1]);
  }
  return d;
}

function newBytes(args: unknown[], at: number): Uint8Array {
  const x = args[0];
  if (x === undefined) return new Uint8Array(0);
  if (x instanceof Uint8Array) return x.slice();
  if (typeof x === 'string') return encodeString(x, args[1], at);
  return Uint8Array.from(iterableItems(x, 'bytes initialiser', at), (v) => toInt(v, 'byte', at) & 0xff);
}

function placeholderFor(cls: unknown, args: unknown[], at: number, allowUnknown: boolean): PickleObject {
  if (!(cls instanceof PickleGlobal)) return fail(at, `expected a class, got ${describeValue(cls)}`);
  if (!becomesPlaceholder(cls, allowUnknown))
    throw new UnsafePickleError(
      cls.qualifiedName,
      `instantiated through copyreg at offset ${at}; not an inert data class on the weights-only allow-list`,
    );
  return new PickleObject(cls.qualifiedName, args);
}

/** Containers that NEWOBJ (`cls.__new__`) creates empty, ready for SETITEMS / APPENDS / ADDITEMS. */
const NEW_CONTAINERS = new Map<string, () => unknown>([
  ['collections OrderedDict', () => new PickleDict('collections.OrderedDict')],
  ['builtins dict', () => new PickleDict()],
  ['__builtin__ dict', () => new PickleDict()],
  ['builtins list', () => []],
  ['__builtin__ list', () => []],
  ['builtins set', () => new Set()],
  ['__builtin__ set', () => new Set()],
]);

const RECONSTRUCTORS = new Map<string, Reconstructor>([
  ['collections OrderedDict', (a, at) => newDict('collections.OrderedDict', a, at)],
  ['builtins dict', (a, at) => newDict('dict', a, at)],
  ['__builtin__ dict', (a, at) => newDict('dict', a, at)],
  ['builtins set', (a, at) => new Set(a.length ? iterableItems(a[0], 'set initialiser', at) : [])],
  ['__builtin__ set', (a, at) => new Set(a.length ? iterableItems(a[0], 'set initialiser', at) : [])],
  ['builtins frozenset', (a, at) => new Set(a.length ? iterableItems(a[0], 'frozenset initialiser', at) : [])],
  ['__builtin__ frozenset', (a, at) => new Set(a.length ? iterableItems(a[0], 'frozenset initialiser', at) : [])],
  ['builtins list', (a, at) => (a.length ? [...iterableItems(a[0], 'list initialiser', at)] : [])],
  ['__builtin__ list', (a, at) => (a.length ? [...iterableItems(a[0], 'list initialiser', at)] : [])],
  ['builtins tuple', (a, at) => (a.length ? [...iterableItems(a[0], 'tuple initialiser', at)] : [])],
  ['__builtin__ tuple', (a, at) => (a.length ? [...iterableItems(a[0], 'tuple initialiser', at)] : [])],
  ['builtins bytearray', newBytes],
  ['__builtin__ bytearray', newBytes],
  ['builtins bytes', newBytes],
  ['_codecs encode', (a, at) => encodeString(a[0], a[1], at)],
  ['torch Size', (a, at) => (a.length ? toIntArray(a[0], 'torch.Size', at) : [])],
  ['torch._utils _rebuild_tensor', (a, at) => rebuildTensor(a, at, -1)],
  ['torch._utils _rebuild_tensor_v2', (a, at) => rebuildTensor(a, at, 4)],
  ['torch._utils _rebuild_parameter', rebuildParameter],
  ['torch._utils _rebuild_parameter_with_state', rebuildParameter],
  [
    'torch._tensor _rebuild_from_type_v2',
    (a, at, u): unknown => {
      // (func, new_type, args, state): a tensor subclass; rebuild the plain tensor through our table.
      const [func, , inner] = a;
      if (!(func instanceof PickleGlobal))
        return fail(at, `_rebuild_from_type_v2 needs a global function, got ${describeValue(func)}`);
      const rebuild: Reconstructor | undefined = RECONSTRUCTORS.get(`${func.module} ${func.name}`);
      if (rebuild === undefined || !func.name.startsWith('_rebuild_'))
        throw new UnsafePickleError(
          func.qualifiedName,
          `passed to torch._tensor._rebuild_from_type_v2 at offset ${at}; not an allow-listed tensor reconstructor`,
        );
      if (!Array.isArray(inner)) return fail(at, '_rebuild_from_type_v2 arguments must be a tuple');
      return rebuild(inner, at, u);
    },
  ],
  ['copyreg _reconstructor', (a, at, u) => placeholderFor(a[0], [], at, u)],
  ['copy_reg _reconstructor', (a, at, u) => placeholderFor(a[0], [], at, u)],
  ['copyreg __newobj__', (a, at, u) => placeholderFor(a[0], a.slice(1), at, u)],
  ['copy_reg __newobj__', (a, at, u) => placeholderFor(a[0], a.slice(1), at, u)],
]);

const HAS_CONTROL = /[\p{Cc}\u2028\u2029]/u;

/** Short human description of a decoded value, for error messages. */
export function describeValue(x: unknown): string {
  if (x === null) return 'None';
  if (x === undefined) return 'nothing';
  if (typeof x === 'boolean') return 'bool';
  if (typeof x === 'number') return Number.isInteger(x) ? `int ${x}` : `float ${x}`;
  if (typeof x === 'bigint') return 'int';
  if (typeof x === 'string') return x.length > 40 ? 'str' : `str "${printable(x)}"`;
  if (x instanceof Uint8Array) return `bytes(${x.length})`;
  if (Array.isArray(x)) return `list/tuple(${x.length})`;
  if (x instanceof PickleDict) return `${x.pyClass}(${x.size} keys)`;
  if (x instanceof Set) return `set(${x.size})`;
  if (x instanceof TensorRef) return `tensor [${x.shape.join(', ')}]`;
  if (x instanceof PickleGlobal) return `global ${x.qualifiedName}`;
  if (x instanceof PickleObject) return `${x.__class__} object`;
  return typeof x;
}

// ---------------------------------------------------------------------------------------------
// The machine

/** Pickle opcodes by name (see CPython's pickletools for their definitions). */
const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  PERSID: 0x50,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  BUILD: 0x62,
  GLOBAL: 0x63,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  INST: 0x69,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  OBJ: 0x6f,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  PROTO: 0x80,
  NEWOBJ: 0x81,
  EXT1: 0x82,
  EXT2: 0x83,
  EXT4: 0x84,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  NEWOBJ_EX: 0x92,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
  NEXT_BUFFER: 0x97,
  READONLY_BUFFER: 0x98,
} as const;

const OPCODE_NAMES = new Map<number, string>(Object.entries(OP).map(([name, code]) => [code, name]));

const utf8 = new TextDecoder('utf-8');

/** True ISO-8859-1 (TextDecoder's 'latin1' label is windows-1252). */
function latin1Decode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

class Unpickler {
  private pos: number;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;
  private readonly where: string;
  /** Offset of the opcode being executed. */
  private at = 0;
  private op = 0;
  private readonly allowUnknown: boolean;
  private readonly budget: Budget;

  constructor(
    private readonly bytes: Uint8Array,
    offset: number,
    private readonly opts: UnpickleOptions,
  ) {
    this.pos = offset;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.where = opts.source ? ` in ${opts.source}` : '';
    this.allowUnknown = opts.allowUnknownGlobals === true;
    this.budget = opts.budget ?? new Budget(bytes.length, `pickle${this.where}`);
  }

  private error(message: string): never {
    const name = OPCODE_NAMES.get(this.op) ?? '?';
    throw new CheckpointError(`pickle${this.where}: ${message} (opcode ${name} at offset ${this.at})`);
  }

  private need(n: number, what: string): number {
    const p = this.pos;
    if (!Number.isSafeInteger(n) || n < 0 || p + n > this.bytes.length)
      this.error(
        `truncated: ${what} needs ${n} bytes at offset ${p}, but only ${Math.max(0, this.bytes.length - p)} remain`,
      );
    this.pos = p + n;
    return p;
  }
  private u8(): number {
    return this.bytes[this.need(1, 'a 1-byte argument')]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2, 'a 2-byte argument'), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4, 'a 4-byte argument'), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4, 'a 4-byte argument'), true);
  }
  /** An 8-byte length; refused when it exceeds what is left of the input (nothing is allocated first). */
  private u64(): number {
    const v = this.view.getBigUint64(this.need(8, 'an 8-byte argument'), true);
    if (v > BigInt(this.bytes.length - this.pos))
      this.error(`length ${v} is larger than the ${this.bytes.length - this.pos} bytes left in the input`);
    return Number(v);
  }
  private take(n: number, what: string): Uint8Array {
    const p = this.need(n, what);
    return this.bytes.subarray(p, p + n);
  }
  private line(what: string, max = Number.POSITIVE_INFINITY): string {
    const start = this.pos;
    const nl = this.bytes.indexOf(0x0a, start);
    if (nl < 0) this.error(`truncated: ${what} needs a newline-terminated line at offset ${start}`);
    if (nl - start > max)
      this.error(
        `integer of ${nl - start} characters is over the cap of ${MAX_INT_DIGITS} digits (no checkpoint holds integers that large)`,
      );
    this.pos = nl + 1;
    return utf8.decode(this.bytes.subarray(start, nl));
  }

  private push(x: unknown): void {
    this.stack.push(x);
  }
  private pop(): unknown {
    if (this.stack.length === 0) this.error('stack underflow');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.error('stack underflow');
    return this.stack[this.stack.length - 1];
  }
  private popMark(): unknown[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (prev === undefined) this.error('no MARK to pop to');
    this.stack = prev;
    return items;
  }
  private memoGet(i: number): unknown {
    if (!this.memo.has(i)) this.error(`memo key ${i} was never stored`);
    return this.memo.get(i);
  }
  private memoPut(i: number): void {
    this.memo.set(i, this.top());
  }

  /** The length of a LONG1/LONG4 integer, refused above `MAX_LONG_BYTES` before its digits are read. */
  private longLength(n: number): number {
    if (n < 0) this.error(`negative integer length ${n}`);
    if (n > MAX_LONG_BYTES)
      this.error(
        `integer of ${n} bytes is over the cap of ${MAX_LONG_BYTES} bytes (no checkpoint holds integers that large)`,
      );
    return n;
  }

  private decodeLong(b: Uint8Array): number | bigint {
    if (b.length === 0) return 0;
    // little-endian two's complement; via a hex string so huge values stay linear-time
    let hexDigits = '';
    for (let i = b.length - 1; i >= 0; i--) hexDigits += b[i]!.toString(16).padStart(2, '0');
    let v = BigInt(`0x${hexDigits}`);
    if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private parseIntLine(s: string): number | bigint | boolean {
    if (this.op === OP.INT && s === '01') return true;
    if (this.op === OP.INT && s === '00') return false;
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (t.length > MAX_INT_DIGITS)
      this.error(
        `integer of ${t.length} characters is over the cap of ${MAX_INT_DIGITS} digits (no checkpoint holds integers that large)`,
      );
    if (!/^[+-]?\d+$/.test(t)) this.error(`malformed integer "${printable(s, 40)}"`);
    const v = BigInt(t);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private makeGlobal(module: unknown, name: unknown): PickleGlobal {
    if (typeof module !== 'string' || typeof name !== 'string') this.error('global module and name must be strings');
    if (HAS_CONTROL.test(module) || HAS_CONTROL.test(name) || module.length > 1000 || name.length > 1000)
      this.error(`malformed global name "${printable(module, 100)}.${printable(name, 100)}"`);
    checkGlobal(module, name, this.at, this.allowUnknown);
    return new PickleGlobal(module, name);
  }

  /** REDUCE / INST / OBJ: `callable(*args)`, resolved by the safety rule. */
  private call(fn: unknown, args: unknown): unknown {
    const opName = OPCODE_NAMES.get(this.op) ?? '?';
    if (!(fn instanceof PickleGlobal))
      throw new UnsafePickleError(
        describeValue(fn),
        `${opName} at offset ${this.at} on something that is not a global`,
      );
    if (!Array.isArray(args))
      this.error(`arguments of ${fn.qualifiedName} must be a tuple, got ${describeValue(args)}`);
    const rebuild = RECONSTRUCTORS.get(`${fn.module} ${fn.name}`);
    if (rebuild !== undefined) return this.charge(rebuild(args, this.at, this.allowUnknown), fn.qualifiedName);
    if (becomesPlaceholder(fn, this.allowUnknown)) return new PickleObject(fn.qualifiedName, args);
    const hint =
      fn.module.startsWith('torch') && fn.name.startsWith('_rebuild_')
        ? 'unsupported tensor kind (quantized, sparse, nested, meta...)'
        : 'not an allow-listed reconstructor and not a class';
    throw new UnsafePickleError(fn.qualifiedName, `${opName} at offset ${this.at}; ${hint}`);
  }

  /** NEWOBJ / NEWOBJ_EX: `cls.__new__(cls, *args)`. */
  private newObject(cls: unknown, args: unknown, kwargs?: unknown): unknown {
    if (!(cls instanceof PickleGlobal))
      throw new UnsafePickleError(describeValue(cls), `NEWOBJ at offset ${this.at} on something that is not a global`);
    if (!Array.isArray(args)) this.error(`NEWOBJ arguments must be a tuple, got ${describeValue(args)}`);
    const container = NEW_CONTAINERS.get(`${cls.module} ${cls.name}`);
    if (container !== undefined) return container();
    if (!becomesPlaceholder(cls, this.allowUnknown))
      throw new UnsafePickleError(
        cls.qualifiedName,
        `NEWOBJ at offset ${this.at}; not an inert data class on the weights-only allow-list`,
      );
    const obj = new PickleObject(cls.qualifiedName, args);
    if (kwargs instanceof PickleDict && kwargs.size > 0) obj.kwargs = kwargs;
    return obj;
  }

  /**
   * BUILD: store `state` on the placeholder (Python: `obj.__setstate__(state)`, else update `__dict__`
   * and `setattr` the slot state).
   */
  private build(obj: unknown, state: unknown): void {
    // In Python, BUILD calls `obj.__setstate__(state)` if the object has one, else updates its __dict__.
    // A state that sets `__setstate__` (or `__class__`, `__reduce__`, …; see HIJACK_ATTRS) is how a
    // pickle makes a later BUILD call whatever it stored there: refused, whatever the value is.
    const dicts = (Array.isArray(state) ? state : [state]).filter((d): d is Map<unknown, unknown> => d instanceof Map);
    let dunder: unknown;
    for (const d of dicts)
      for (const k of d.keys()) if (dunder === undefined && typeof k === 'string' && HIJACK_ATTRS.has(k)) dunder = k;
    if (dunder !== undefined)
      throw new UnsafePickleError(
        `${obj instanceof PickleObject ? obj.__class__ : obj instanceof PickleDict ? obj.pyClass : describeValue(obj)}.${String(dunder)}`,
        `BUILD at offset ${this.at} sets ${String(dunder)}, which would make Python call a pickled value; nothing was called`,
      );
    if (obj instanceof PickleObject) {
      if (obj.state instanceof Map && state instanceof Map) for (const [k, v] of state) obj.state.set(k, v);
      else obj.state = state;
    } else if (obj instanceof PickleDict) obj.attributes = state;
    else this.error(`BUILD on ${describeValue(obj)} is not supported`);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2 !== 0) this.error('SETITEMS needs key/value pairs');
    let d: Map<unknown, unknown>;
    if (target instanceof Map) d = target;
    else if (target instanceof PickleObject) {
      target.dictItems ??= new PickleDict();
      d = target.dictItems;
    } else this.error(`cannot set items on ${describeValue(target)}`);
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  }

  private appendItems(target: unknown, items: unknown[]): void {
    let list: unknown[];
    if (Array.isArray(target)) list = target;
    else if (target instanceof PickleObject) {
      target.listItems ??= [];
      list = target.listItems;
    } else this.error(`cannot append to ${describeValue(target)}`);
    for (const x of items) list.push(x);
  }

  private copy(b: Uint8Array): Uint8Array {
    this.budget.take(b.length, `a ${b.length}-byte bytes object at offset ${this.at}`);
    return b.slice();
  }

  /** Charge what a reconstructor allocated (each is bounded by a small multiple of its arguments). */
  private charge(x: unknown, what: string): unknown {
    const n =
      x instanceof Uint8Array
        ? x.length
        : Array.isArray(x)
          ? 8 * x.length
          : x instanceof Map || x instanceof Set
            ? 16 * x.size
            : x instanceof TensorRef
              ? 16 * x.shape.length
              : 0;
    if (n > 0) this.budget.take(n, `${what} at offset ${this.at}`);
    return x;
  }

  private string(bytes: Uint8Array): string {
    return utf8.decode(bytes);
  }

  run(): UnpickleResult {
    const bytes = this.bytes;
    for (;;) {
      this.at = this.pos;
      if (this.pos >= bytes.length) {
        this.op = 0;
        throw new CheckpointError(
          `pickle${this.where}: truncated: expected an opcode at offset ${this.pos}, but the data ends there without a STOP opcode`,
        );
      }
      const op = bytes[this.pos++]!;
      this.op = op;
      switch (op) {
        case OP.PROTO: {
          const proto = this.u8();
          if (proto > 5) this.error(`unsupported pickle protocol ${proto}`);
          break;
        }
        case OP.FRAME: {
          const n = this.u64();
          if (this.pos + n > bytes.length)
            this.error(
              `truncated: frame announces ${n} bytes at offset ${this.pos}, but only ${bytes.length - this.pos} remain`,
            );
          break;
        }
        case OP.STOP: {
          const value = this.pop();
          if (this.stack.length !== 0 || this.metastack.length !== 0)
            this.error('STOP with values or marks left on the stack');
          return { value, end: this.pos };
        }
        // --- constants and numbers
        case OP.NONE:
          this.push(null);
          break;
        case OP.NEWTRUE:
          this.push(true);
          break;
        case OP.NEWFALSE:
          this.push(false);
          break;
        case OP.BININT:
          this.push(this.i32());
          break;
        case OP.BININT1:
          this.push(this.u8());
          break;
        case OP.BININT2:
          this.push(this.u16());
          break;
        case OP.LONG1:
          this.push(this.decodeLong(this.take(this.u8(), 'LONG1 digits')));
          break;
        case OP.LONG4:
          this.push(this.decodeLong(this.take(this.longLength(this.i32()), 'LONG4 digits')));
          break;
        case OP.BINFLOAT:
          this.push(this.view.getFloat64(this.need(8, 'a BINFLOAT'), false));
          break;
        case OP.INT:
        case OP.LONG:
          this.push(this.parseIntLine(this.line('an integer', MAX_INT_DIGITS + 2)));
          break;
        case OP.FLOAT: {
          const s = this.line('a float');
          const v = Number(s);
          if (s.trim() === '' || (Number.isNaN(v) && !/nan/i.test(s)))
            this.error(`malformed float "${printable(s, 40)}"`);
          this.push(v);
          break;
        }
        // --- strings and bytes
        case OP.BINUNICODE:
          this.push(this.string(this.take(this.u32(), 'BINUNICODE data')));
          break;
        case OP.SHORT_BINUNICODE:
          this.push(this.string(this.take(this.u8(), 'SHORT_BINUNICODE data')));
          break;
        case OP.BINUNICODE8:
          this.push(this.string(this.take(this.u64(), 'BINUNICODE8 data')));
          break;
        case OP.BINSTRING: {
          const n = this.i32();
          if (n < 0) this.error(`negative BINSTRING length ${n}`);
          this.push(this.legacyString(this.take(n, 'BINSTRING data')));
          break;
        }
        case OP.SHORT_BINSTRING:
          this.push(this.legacyString(this.take(this.u8(), 'SHORT_BINSTRING data')));
          break;
        case OP.BINBYTES:
          this.push(this.copy(this.take(this.u32(), 'BINBYTES data')));
          break;
        case OP.SHORT_BINBYTES:
          this.push(this.copy(this.take(this.u8(), 'SHORT_BINBYTES data')));
          break;
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          this.push(this.copy(this.take(this.u64(), `${OPCODE_NAMES.get(op)} data`)));
          break;
        // --- containers
        case OP.EMPTY_DICT:
          this.push(new PickleDict());
          break;
        case OP.EMPTY_LIST:
          this.push([]);
          break;
        case OP.EMPTY_TUPLE:
          this.push([]);
          break;
        case OP.EMPTY_SET:
          this.push(new Set());
          break;
        case OP.MARK:
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case OP.TUPLE:
          this.push(this.popMark());
          break;
        case OP.LIST:
          this.push(this.popMark());
          break;
        case OP.DICT: {
          const items = this.popMark();
          const d = new PickleDict();
          this.setItems(d, items);
          this.push(d);
          break;
        }
        case OP.FROZENSET:
          this.push(new Set(this.popMark()));
          break;
        case OP.TUPLE1: {
          const a = this.pop();
          this.push([a]);
          break;
        }
        case OP.TUPLE2: {
          const b = this.pop();
          const a = this.pop();
          this.push([a, b]);
          break;
        }
        case OP.TUPLE3: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push([a, b, c]);
          break;
        }
        case OP.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case OP.APPEND: {
          const v = this.pop();
          this.appendItems(this.top(), [v]);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          this.appendItems(this.top(), items);
          break;
        }
        case OP.ADDITEMS: {
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.error(`ADDITEMS on ${describeValue(s)}`);
          for (const x of items) s.add(x);
          break;
        }
        // --- stack and memo
        case OP.POP:
          if (this.stack.length > 0) this.stack.pop();
          else this.popMark();
          break;
        case OP.POP_MARK:
          this.popMark();
          break;
        case OP.DUP:
          this.push(this.top());
          break;
        case OP.BINPUT:
          this.memoPut(this.u8());
          break;
        case OP.LONG_BINPUT:
          this.memoPut(this.u32());
          break;
        case OP.PUT:
          this.memoPut(Number(this.parseIntLine(this.line('a memo key', MAX_INT_DIGITS + 2))));
          break;
        case OP.MEMOIZE:
          this.memoPut(this.memo.size);
          break;
        case OP.BINGET:
          this.push(this.memoGet(this.u8()));
          break;
        case OP.LONG_BINGET:
          this.push(this.memoGet(this.u32()));
          break;
        case OP.GET:
          this.push(this.memoGet(Number(this.parseIntLine(this.line('a memo key', MAX_INT_DIGITS + 2)))));
          break;
        // --- globals and object construction (see the safety rule above)
        case OP.GLOBAL: {
          const module = this.line('GLOBAL module');
          const name = this.line('GLOBAL name');
          this.push(this.makeGlobal(module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          this.push(this.makeGlobal(module, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.pop();
          const fn = this.pop();
          this.push(this.call(fn, args));
          break;
        }
        case OP.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.push(this.newObject(cls, args));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          this.push(this.newObject(cls, args, kwargs));
          break;
        }
        case OP.INST: {
          const cls = this.makeGlobal(this.line('INST module'), this.line('INST name'));
          this.push(this.call(cls, this.popMark()));
          break;
        }
        case OP.OBJ: {
          const items = this.popMark();
          if (items.length === 0) this.error('OBJ without a class');
          this.push(this.call(items[0], items.slice(1)));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case OP.BINPERSID:
          this.push(this.persistent(this.pop()));
          break;
        case OP.PERSID:
          this.push(this.persistent(this.line('PERSID id')));
          break;
        default: {
          const name = OPCODE_NAMES.get(op);
          if (name !== undefined)
            this.error(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} (${name})`);
          throw new CheckpointError(
            `pickle${this.where}: unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} at offset ${this.at}; the data is corrupt or not a pickle`,
          );
        }
      }
    }
  }

  private legacyString(b: Uint8Array): string {
    // Python 2 `str`: bytes of unknown encoding. torch.load decodes them as UTF-8; fall back to latin-1.
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(b);
    } catch {
      return latin1Decode(b);
    }
  }

  private persistent(pid: unknown): unknown {
    const load = this.opts.persistentLoad;
    if (load === undefined) this.error('persistent id found but no persistent loader was given');
    return load(pid);
  }
}
