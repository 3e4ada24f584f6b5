/**
 * Tests for the safe .pth reader: golden checkpoints against their safetensors references, the
 * hostile pickle, truncation, and hand-built pickles/archives (strides, offsets, shared storages,
 * ZIP64, legacy views, placeholders, refusals).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BudgetError, CheckpointError, UnsafePickleError } from '../errors.js';
import { Budget } from './budget.js';
import { PickleDict, PickleObject, unpickle } from './pickle.js';
import { loadPthCheckpoint, loadPthStateDict, readPth } from './pth.js';
import { type StateDict, type TensorData, f16ToF32, f32ToF16 } from './tensor-data.js';
import { readZip } from './zip.js';

const fixture = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url)));

// ---------------------------------------------------------------------------------------------
// Minimal safetensors reader for the references (independent of io/safetensors.ts)

interface RefTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

function readReference(bytes: Uint8Array): Map<string, RefTensor> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, RefTensor>();
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    out.set(k, {
      dtype: v.dtype,
      shape: v.shape,
      bytes: bytes.subarray(8 + n + v.data_offsets[0], 8 + n + v.data_offsets[1]),
    });
  }
  return out;
}

const rawBytes = (t: TensorData): Uint8Array => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

function expectMatchesReference(sd: StateDict, ref: Map<string, RefTensor>): void {
  expect([...sd.keys()]).toEqual([...ref.keys()]);
  for (const [k, r] of ref) {
    const t = sd.get(k)!;
    expect(t.shape, k).toEqual(r.shape);
    expect(t.dtype, k).toBe(r.dtype);
    expect(Buffer.from(rawBytes(t)).equals(Buffer.from(r.bytes)), `${k} bit-identical`).toBe(true);
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-built pickles and archives

const enc = new TextEncoder();
const u16 = (n: number) => [n & 0xff, (n >>> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const u64 = (n: number) => [...u32(n % 2 ** 32), ...u32(Math.floor(n / 2 ** 32))];

const MARK = 0x28;
const TUPLE = 0x74;
const EMPTY_TUPLE = 0x29;
const EMPTY_DICT = 0x7d;
const SETITEMS = 0x75;
const REDUCE = 0x52;
const NEWOBJ = 0x81;
const BUILD = 0x62;
const BINPERSID = 0x51;
const NEWFALSE = 0x89;
const NONE = 0x4e;
const STOP = 0x2e;

const P = {
  proto: (n: number) => [0x80, n],
  str: (s: string) => {
    const b = enc.encode(s);
    return [0x58, ...u32(b.length), ...b];
  },
  int: (n: number): number[] =>
    n >= 0 && n < 256
      ? [0x4b, n]
      : n >= 0 && n < 65536
        ? [0x4d, ...u16(n)]
        : n >= 0 && n >= 2 ** 31
          ? [0x8a, 8, ...u64(n)] // LONG1, 8 bytes
          : [0x4a, ...u32(n)],
  float: (x: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return [0x47, ...b];
  },
  global: (m: string, n: string) => [0x63, ...enc.encode(`${m}\n${n}\n`)],
  stackGlobal: (m: string, n: string) => [0x8c, m.length, ...enc.encode(m), 0x8c, n.length, ...enc.encode(n), 0x93],
  tuple: (items: number[][]) => [MARK, ...items.flat(), TUPLE],
  /** `{k: v, ...}` as EMPTY_DICT MARK ... SETITEMS. */
  dict: (entries: [string, number[]][]) => [
    EMPTY_DICT,
    MARK,
    ...entries.flatMap(([k, v]) => [...P.str(k), ...v]),
    SETITEMS,
  ],
  orderedDict: (entries: [string, number[]][]) => [
    ...P.global('collections', 'OrderedDict'),
    EMPTY_TUPLE,
    REDUCE,
    MARK,
    ...entries.flatMap(([k, v]) => [...P.str(k), ...v]),
    SETITEMS,
  ],
};

/** `_rebuild_tensor_v2(storage, offset, shape, stride, False, OrderedDict())`; `view` adds the legacy 6th pid field. */
function tensorPickle(
  storageType: string,
  key: string,
  numel: number,
  offset: number,
  shape: number[],
  stride: number[],
  view?: number[],
): number[] {
  const pid = [...P.str('storage'), ...P.global('torch', storageType), ...P.str(key), ...P.str('cpu'), ...P.int(numel)];
  if (view !== undefined) pid.push(...view);
  return [
    ...P.global('torch._utils', '_rebuild_tensor_v2'),
    MARK,
    MARK,
    ...pid,
    TUPLE,
    BINPERSID,
    ...P.int(offset),
    ...P.tuple(shape.map(P.int)),
    ...P.tuple(stride.map(P.int)),
    NEWFALSE,
    ...P.global('collections', 'OrderedDict'),
    EMPTY_TUPLE,
    REDUCE,
    TUPLE,
    REDUCE,
  ];
}

const pickleBytes = (...parts: number[][]) => new Uint8Array([...P.proto(2), ...parts.flat(), STOP]);

class Writer {
  private readonly chunks: number[] = [];
  get length(): number {
    return this.chunks.length;
  }
  push(...parts: (number[] | Uint8Array)[]): void {
    for (const p of parts) for (const b of p) this.chunks.push(b);
  }
  bytes(): Uint8Array {
    return new Uint8Array(this.chunks);
  }
}

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** A valid STORED ZIP archive, optionally with every ZIP64 structure (`lead` pads local headers, like torch does). */
function buildZip(
  files: [string, Uint8Array][],
  opts: { zip64?: boolean; method?: number; lead?: number } = {},
): Uint8Array {
  const w = new Writer();
  const z64 = opts.zip64 === true;
  const method = opts.method ?? 0;
  const central: { name: Uint8Array; size: number; offset: number; crc: number }[] = [];
  for (const [n, data] of files) {
    const name = enc.encode(n);
    const offset = w.length;
    const extra = z64
      ? [...u16(1), ...u16(16), ...u64(data.length), ...u64(data.length)]
      : [...u16(0xcafe), ...u16(opts.lead ?? 0), ...new Array(opts.lead ?? 0).fill(0x5a)];
    const crc = crc32(data);
    w.push(u32(0x04034b50), u16(z64 ? 45 : 20), u16(0), u16(method), u16(0), u16(0), u32(crc));
    w.push(
      u32(z64 ? 0xffffffff : data.length),
      u32(z64 ? 0xffffffff : data.length),
      u16(name.length),
      u16(extra.length),
      name,
      extra,
      data,
    );
    central.push({ name, size: data.length, offset, crc });
  }
  const cdOffset = w.length;
  for (const e of central) {
    const extra = z64 ? [...u16(1), ...u16(24), ...u64(e.size), ...u64(e.size), ...u64(e.offset)] : [];
    const sat = (v: number) => u32(z64 ? 0xffffffff : v);
    w.push(
      u32(0x02014b50),
      u16(45),
      u16(z64 ? 45 : 20),
      u16(0),
      u16(method),
      u16(0),
      u16(0),
      u32(e.crc),
      sat(e.size),
      sat(e.size),
    );
    w.push(u16(e.name.length), u16(extra.length), u16(0), u16(0), u16(0), u32(0), sat(e.offset), e.name, extra);
  }
  const cdSize = w.length - cdOffset;
  if (z64) {
    const z64Offset = w.length;
    w.push(
      u32(0x06064b50),
      u64(44),
      u16(45),
      u16(45),
      u32(0),
      u32(0),
      u64(central.length),
      u64(central.length),
      u64(cdSize),
      u64(cdOffset),
    );
    w.push(u32(0x07064b50), u32(0), u64(z64Offset), u32(1));
    w.push(u32(0x06054b50), u16(0), u16(0), u16(0xffff), u16(0xffff), u32(0xffffffff), u32(0xffffffff), u16(0));
  } else
    w.push(
      u32(0x06054b50),
      u16(0),
      u16(0),
      u16(central.length),
      u16(central.length),
      u32(cdSize),
      u32(cdOffset),
      u16(0),
    );
  return w.bytes();
}

const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const i64Bytes = (xs: number[]) => new Uint8Array(BigInt64Array.from(xs, (x) => BigInt(x)).buffer);
const f16Bytes = (xs: number[]) => new Uint8Array(Uint16Array.from(xs, f32ToF16).buffer);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** A checkpoint exercising offsets, strides and shared storages in every element size. */
function stridedCheckpointPickle(prefix = ''): Uint8Array {
  return pickleBytes(
    P.dict([
      [
        'state_dict',
        P.orderedDict([
          [`${prefix}a`, tensorPickle('FloatStorage', '0', 12, 0, [3, 4], [4, 1])], // contiguous
          [`${prefix}a_t`, tensorPickle('FloatStorage', '0', 12, 0, [4, 3], [1, 4])], // transposed view of a
          [`${prefix}tail`, tensorPickle('FloatStorage', '0', 12, 5, [3], [1])], // shared storage, offset 5
          [`${prefix}odd`, tensorPickle('FloatStorage', '0', 12, 1, [2, 2], [4, 2])], // offset + strides
          [`${prefix}scalar`, tensorPickle('FloatStorage', '0', 12, 11, [], [])], // 0-d
          [`${prefix}bcast`, tensorPickle('FloatStorage', '0', 12, 2, [2, 3], [0, 1])], // stride 0 (expand)
          [`${prefix}long_t`, tensorPickle('LongStorage', '1', 6, 0, [3, 2], [1, 3])], // 8-byte elements, transposed
          [`${prefix}half_t`, tensorPickle('HalfStorage', '2', 4, 0, [2, 2], [1, 2])], // 2-byte elements, transposed
          [`${prefix}empty`, tensorPickle('FloatStorage', '0', 12, 0, [0, 4], [4, 1])],
        ]),
      ],
      ['epoch', P.int(7)],
      [
        'args',
        [
          ...P.global('argparse', 'Namespace'),
          EMPTY_TUPLE,
          NEWOBJ,
          ...P.dict([
            ['lr', P.float(0.5)],
            ['name', P.str('x')],
          ]),
          BUILD,
        ],
      ],
    ]),
  );
}

function stridedArchive(opts: { zip64?: boolean; lead?: number; prefix?: string } = {}): Uint8Array {
  return buildZip(
    [
      ['ckpt/data.pkl', stridedCheckpointPickle(opts.prefix)],
      ['ckpt/byteorder', enc.encode('little')],
      ['ckpt/data/0', f32Bytes(range(12))],
      ['ckpt/data/1', i64Bytes(range(6))],
      ['ckpt/data/2', f16Bytes([0.5, 1.5, 2.5, 3.5])],
      ['ckpt/version', enc.encode('3\n')],
    ],
    opts,
  );
}

function expectStrided(sd: StateDict): void {
  const vals = (k: string) => Array.from(sd.get(k)!.data as Float32Array);
  expect(sd.get('a')!.shape).toEqual([3, 4]);
  expect(vals('a')).toEqual(range(12));
  expect(sd.get('a_t')!.shape).toEqual([4, 3]);
  expect(vals('a_t')).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  expect(vals('tail')).toEqual([5, 6, 7]);
  expect(vals('odd')).toEqual([1, 3, 5, 7]);
  expect(sd.get('scalar')!.shape).toEqual([]);
  expect(vals('scalar')).toEqual([11]);
  expect(vals('bcast')).toEqual([2, 3, 4, 2, 3, 4]);
  expect(sd.get('long_t')!.dtype).toBe('I64');
  expect(Array.from(sd.get('long_t')!.data as BigInt64Array, Number)).toEqual([0, 3, 1, 4, 2, 5]);
  expect(sd.get('half_t')!.dtype).toBe('F16');
  expect(Array.from(sd.get('half_t')!.data as Uint16Array, f16ToF32)).toEqual([0.5, 2.5, 1.5, 3.5]);
  expect(sd.get('empty')!.shape).toEqual([0, 4]);
  expect(sd.get('empty')!.data.length).toBe(0);
  // every tensor owns its data: writing one never changes another that shares the storage
  (sd.get('a')!.data as Float32Array)[5] = -1;
  expect(vals('tail')).toEqual([5, 6, 7]);
}

/** `pickle.dumps(obj, protocol)` from CPython 3.11 for a dict covering the plain-data opcodes (see the test below for `obj`). */
const PYTHON_PICKLES: Record<number, string> = {
  2:
    '80027d71002858010000006971015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000808a0500000080008a0800' +
    '000000000000408a090000000000000000c06558010000006671035d710428473fe000000000000047fe37e43c8800759c477ff0000000' +
    '000000655801000000737105580a00000068c3a96c6c6f20e29c9371065801000000627107635f636f646563730a656e636f64650a7108' +
    '580300000000c3bf710958060000006c6174696e31710a86710b52710c58020000006261710d635f5f6275696c74696e5f5f0a62797465' +
    '61727261790a710e680858020000006162710f680a8671105271118571125271135801000000747114284b014b024b038671154b044b05' +
    '4b068771162974711758030000007365747118635f5f6275696c74696e5f5f0a7365740a71195d711a4b036185711b52711c5802000000' +
    '6673711d635f5f6275696c74696e5f5f0a66726f7a656e7365740a711e5d711f4b046185712052712158040000006e6f6e6571224e5804' +
    '000000626f6f6c71235d71242888896558020000006f64712563636f6c6c656374696f6e730a4f726465726564446963740a7126295271' +
    '272858010000007871284b0158010000007971294b02755806000000736861726564712a5d712b286817681765752e',
  4:
    '80049530010000000000007d94288c0169945d94284b004b014affffffff4bff4d00014dffff4a000001004a000000808a050000008000' +
    '8a0800000000000000408a090000000000000000c0658c0166945d9428473fe000000000000047fe37e43c8800759c477ff00000000000' +
    '00658c0173948c0a68c3a96c6c6f20e29c93948c016294430200ff948c026261948c086275696c74696e73948c09627974656172726179' +
    '9493944302616294859452948c017494284b014b024b0386944b044b054b0687942974948c03736574948f94284b03908c02667394284b' +
    '0491948c046e6f6e65944e8c04626f6f6c945d94288889658c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963' +
    '74949394295294288c0178944b018c0179944b02758c06736861726564945d94286813681365752e',
  5:
    '8005951a010000000000007d94288c0169945d94284b004b014affffffff4bff4d00014dffff4a000001004a000000808a050000008000' +
    '8a0800000000000000408a090000000000000000c0658c0166945d9428473fe000000000000047fe37e43c8800759c477ff00000000000' +
    '00658c0173948c0a68c3a96c6c6f20e29c93948c016294430200ff948c026261949602000000000000006162948c017494284b014b024b' +
    '0386944b044b054b0687942974948c03736574948f94284b03908c02667394284b0491948c046e6f6e65944e8c04626f6f6c945d942888' +
    '89658c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178944b018c0179944b02758c' +
    '06736861726564945d9428680e680e65752e',
};

function entries(x: unknown): [unknown, unknown][] {
  expect(x).toBeInstanceOf(Map);
  return [...(x as Map<unknown, unknown>)];
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected the call to throw');
}

// ---------------------------------------------------------------------------------------------

describe('golden checkpoints', () => {
  const heads = readReference(fixture('heads_maskrcnn_small.weights.safetensors'));
  // the dbra reference is vendored as a per-tensor sha256 digest (tools/copy-fixtures.mjs), not its 2.5 MB
  const dbraDigest = JSON.parse(
    new TextDecoder().decode(fixture('dbra_cls_tiny_reduced.weights.digest.json')),
  ) as Record<string, { dtype: string; shape: number[]; sha256: string }>;
  const expectMatchesDigest = (sd: StateDict) => {
    expect([...sd.keys()]).toEqual(Object.keys(dbraDigest));
    for (const [k, d] of Object.entries(dbraDigest)) {
      const t = sd.get(k)!;
      expect([t.dtype, t.shape], k).toEqual([d.dtype, d.shape]);
      expect(createHash('sha256').update(rawBytes(t)).digest('hex'), `${k} bit-identical`).toBe(d.sha256);
    }
  };

  it('heads_maskrcnn_small.pth (zip, state_dict next to meta) reproduces its reference bit-exactly', () => {
    const bytes = fixture('heads_maskrcnn_small.pth');
    expectMatchesReference(loadPthStateDict(bytes), heads);
    expectMatchesReference(loadPthStateDict(bytes, { key: 'state_dict' }), heads);
  });

  it('heads_maskrcnn_small.fp16.pth holds exactly the reference rounded to fp16', () => {
    const bytes = fixture('heads_maskrcnn_small.fp16.pth');
    const sd = loadPthStateDict(bytes);
    expect([...sd.keys()]).toEqual([...heads.keys()]);
    for (const [k, r] of heads) {
      const t = sd.get(k)!;
      expect(t.dtype).toBe('F16');
      expect(t.shape).toEqual(r.shape);
      const ref = new Float32Array(r.bytes.slice().buffer);
      expect(Array.from(t.data as Uint16Array), k).toEqual(Array.from(ref, f32ToF16));
    }
    const up = loadPthStateDict(bytes, { upcast: true });
    for (const [k, t] of up) {
      expect(t.dtype).toBe('F32');
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from(sd.get(k)!.data as Uint16Array, f16ToF32));
    }
  });

  it('dbra_cls_tiny_reduced.legacy.pth (pre-zip format) reproduces its reference bit-exactly (F32 + I64, 0-d tensors)', () => {
    const bytes = fixture('dbra_cls_tiny_reduced.legacy.pth');
    const sd = loadPthStateDict(bytes, { key: 'model' });
    expectMatchesDigest(sd);
    expect(sd.get('downsample_layers.0.1.num_batches_tracked')!.shape).toEqual([]);
    expectMatchesDigest(loadPthStateDict(bytes));
  });

  it('readPth returns the whole tree of a real legacy checkpoint (OrderedDict of tensors, plain numbers)', () => {
    const root = readPth(fixture('dbra_cls_tiny_reduced.legacy.pth'));
    expect(root).toBeInstanceOf(PickleDict);
    const ckpt = root as PickleDict;
    expect([...ckpt.keys()]).toEqual(['model', 'epoch']);
    expect(typeof ckpt.get('epoch')).toBe('number');
    const model = ckpt.get('model') as PickleDict;
    expect(model.pyClass).toBe('collections.OrderedDict');
    const w = model.get('downsample_layers.0.0.weight') as TensorData;
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([8, 3, 3, 3]);
  });
});

describe('which state dict: the key the official loader reads', () => {
  // torch.save({'model': {'w': zeros(2, 3)}, 'model_ema': {'w': ones(2, 3)}, 'epoch': 300}) — a DeiT-style release
  const bytes = () => fixture('two-state-dicts.pth');
  const w = (sd: StateDict) => Array.from(sd.get('w')!.data as Float32Array);
  it('takes `model` by default, `preferKeys` first when present (GLNet-16G reads model_ema), and says which', () => {
    expect(loadPthCheckpoint(bytes())).toMatchObject({ key: 'model', topLevelKeys: ['model', 'model_ema', 'epoch'] });
    expect(w(loadPthCheckpoint(bytes()).stateDict)).toEqual([0, 0, 0, 0, 0, 0]);
    const ema = loadPthCheckpoint(bytes(), { preferKeys: ['model_ema'] });
    expect([ema.key, w(ema.stateDict)]).toEqual(['model_ema', [1, 1, 1, 1, 1, 1]]);
    // an absent preference falls back to the automatic choice; `key` is strict
    expect(loadPthCheckpoint(bytes(), { preferKeys: ['state_dict_ema'] }).key).toBe('model');
    expect(() => loadPthCheckpoint(bytes(), { key: 'state_dict' })).toThrow(
      'checkpoint has no top-level key "state_dict"; available keys: model, model_ema, epoch',
    );
    expect(() => loadPthCheckpoint(bytes(), { preferKeys: ['epoch'] })).toThrow(
      'checkpoint["epoch"] is int 300, not a dict of tensors',
    );
  });
});

describe('safety', () => {
  it('refuses hostile.pth (posix.system) before anything runs', () => {
    const bytes = fixture('hostile.pth');
    for (const load of [() => readPth(bytes), () => loadPthStateDict(bytes)]) {
      const e = thrown(load);
      expect(e).toBeInstanceOf(UnsafePickleError);
      expect((e as UnsafePickleError).callable).toBe('posix.system');
      expect((e as Error).message).toContain('posix.system');
    }
    expect(existsSync('dynavit-pwned.txt')).toBe(false);
  });

  it.each([
    ['os', 'system'],
    ['nt', 'system'],
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['builtins', 'getattr'],
    ['builtins', '__import__'],
    ['__builtin__', 'eval'],
    ['subprocess', 'Popen'],
    ['subprocess', 'check_output'],
    ['runpy', '_run_code'],
    ['sys', 'modules'],
    ['os.path', 'join'],
    ['operator', 'attrgetter'],
    ['torch.hub', 'load'],
  ])('refuses a GLOBAL naming %s.%s', (m, n) => {
    const viaGlobal = pickleBytes(P.global(m, n), P.tuple([P.str('x')]), [REDUCE]);
    const viaStack = new Uint8Array([0x80, 4, ...P.stackGlobal(m, n), ...P.tuple([P.str('x')]), REDUCE, STOP]);
    for (const b of [viaGlobal, viaStack]) {
      const e = thrown(() => unpickle(b));
      expect(e).toBeInstanceOf(UnsafePickleError);
      expect((e as Error).message).toContain(`${m}.${n}`);
    }
  });

  it('refuses REDUCE on function-like names outside the allow-list, but keeps class instances as placeholders', () => {
    for (const [m, n] of [
      ['__main__', 'evil'],
      ['torch', 'load'],
      ['numpy', 'load'],
      ['collections', 'OrderedDict.fromkeys'],
      ['torch._utils', '_rebuild_qtensor'],
    ] as const)
      for (const allowUnknownGlobals of [false, true]) {
        const e = thrown(() =>
          unpickle(pickleBytes(P.global(m, n), P.tuple([P.str('x')]), [REDUCE]), { allowUnknownGlobals }),
        );
        expect(e, `${m}.${n}`).toBeInstanceOf(UnsafePickleError);
        expect((e as UnsafePickleError).callable).toBe(`${m}.${n}`);
      }
    const posixPath = pickleBytes(
      P.global('pathlib', 'PosixPath'),
      P.tuple([P.str('/tmp/x')]),
      [REDUCE],
      P.dict([['k', P.int(1)]]),
      [BUILD],
    );
    // weights-only by default: a class outside the allow-list is refused, named
    const refused = thrown(() => unpickle(posixPath));
    expect(refused).toBeInstanceOf(UnsafePickleError);
    expect((refused as UnsafePickleError).callable).toBe('pathlib.PosixPath');
    expect((refused as Error).message).toContain('allowUnknownGlobals');
    const obj = unpickle(posixPath, { allowUnknownGlobals: true });
    expect(obj).toBeInstanceOf(PickleObject);
    expect((obj as PickleObject).__class__).toBe('pathlib.PosixPath');
    expect((obj as PickleObject).args).toEqual(['/tmp/x']);
    expect(entries((obj as PickleObject).state)).toEqual([['k', 1]]);
    // a REDUCE whose callable is not a global at all
    expect(() => unpickle(pickleBytes(P.str('os.system'), P.tuple([P.str('x')]), [REDUCE]))).toThrow(UnsafePickleError);
  });

  it.each([2, 4, 5])('decodes plain data pickled by CPython with protocol %i', (proto) => {
    // obj = {'i': [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31, 2**62, -2**70], 'f': [0.5, -1e300, inf], 's': 'héllo ✓',
    //        'b': b'\x00\xff', 'ba': bytearray(b'ab'), 't': (1, (2, 3), (4, 5, 6), ()), 'set': {3}, 'fs': frozenset({4}),
    //        'none': None, 'bool': [True, False], 'od': OrderedDict(x=1, y=2), 'shared': [t, t]}
    const hex = PYTHON_PICKLES[proto]!;
    const v = unpickle(Uint8Array.from(hex.match(/../g)!, (h) => Number.parseInt(h, 16))) as PickleDict;
    expect(v).toBeInstanceOf(PickleDict);
    expect(v.get('i')).toEqual([0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2n ** 62n, -(2n ** 70n)]);
    expect(v.get('f')).toEqual([0.5, -1e300, Number.POSITIVE_INFINITY]);
    expect(v.get('s')).toBe('héllo ✓');
    expect(v.get('b')).toEqual(new Uint8Array([0, 255]));
    expect(v.get('ba')).toEqual(new Uint8Array([0x61, 0x62]));
    expect(v.get('t')).toEqual([1, [2, 3], [4, 5, 6], []]);
    expect(v.get('set')).toEqual(new Set([3]));
    expect(v.get('fs')).toEqual(new Set([4]));
    expect(v.get('none')).toBeNull();
    expect(v.get('bool')).toEqual([true, false]);
    expect(entries(v.get('od'))).toEqual([
      ['x', 1],
      ['y', 2],
    ]);
    expect((v.get('od') as PickleDict).pyClass).toBe('collections.OrderedDict');
    const shared = v.get('shared') as unknown[];
    expect(shared[0]).toBe(v.get('t'));
    expect(shared[1]).toBe(v.get('t'));
  });

  it('decodes protocol-2 bytes through _codecs.encode without calling anything', () => {
    const v = unpickle(
      pickleBytes(P.global('_codecs', 'encode'), P.tuple([P.str('\u00ff\u0001A'), P.str('latin1')]), [REDUCE]),
    );
    expect(v).toEqual(new Uint8Array([0xff, 0x01, 0x41]));
  });
});

describe('hand-built checkpoints', () => {
  it('materialises storage offsets, non-contiguous strides and shared storages (zip)', () => {
    const bytes = stridedArchive();
    expectStrided(loadPthStateDict(bytes));
    const root = readPth(bytes) as PickleDict;
    const args = root.get('args') as PickleObject;
    expect(args.__class__).toBe('argparse.Namespace');
    expect(entries(args.state)).toEqual([
      ['lr', 0.5],
      ['name', 'x'],
    ]);
  });

  it('reads ZIP64 archives and unaligned member data', () => {
    const z64 = stridedArchive({ zip64: true });
    expect([...readZip(z64).keys()]).toContain('ckpt/data/0');
    expectStrided(loadPthStateDict(z64));
    expectStrided(loadPthStateDict(stridedArchive({ lead: 3 })));
  });

  it('strips a module. prefix shared by every key', () => {
    const sd = loadPthStateDict(stridedArchive({ prefix: 'module.' }));
    expect([...sd.keys()][0]).toBe('a');
    expectStrided(sd);
  });

  it('reads the legacy format, including storage views', () => {
    const w = new Writer();
    w.push(new Uint8Array([...P.proto(2), 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, STOP])); // magic
    w.push(pickleBytes(P.int(1001)));
    w.push(
      pickleBytes(
        P.dict([
          ['protocol_version', P.int(1001)],
          ['little_endian', [0x88]],
        ]),
      ),
    );
    const view = (key: string, offset: number, size: number) => P.tuple([P.str(key), P.int(offset), P.int(size)]);
    w.push(
      pickleBytes(
        P.orderedDict([
          ['w', tensorPickle('FloatStorage', '100', 8, 0, [2, 2], [1, 2], [NONE])],
          ['v', tensorPickle('FloatStorage', '100', 8, 1, [2], [2], view('101', 4, 4))], // view at element 4: elements 5, 7
          ['n', tensorPickle('LongStorage', '200', 1, 0, [], [], [NONE])],
        ]),
      ),
    );
    w.push(pickleBytes([0x5d, MARK, ...P.str('200'), ...P.str('100'), 0x65]));
    w.push(u64(1), i64Bytes([42]), u64(8), f32Bytes(range(8)));
    const bytes = w.bytes();
    const sd = loadPthStateDict(bytes);
    expect([...sd.keys()]).toEqual(['w', 'v', 'n']);
    expect(Array.from(sd.get('w')!.data as Float32Array)).toEqual([0, 2, 1, 3]);
    expect(Array.from(sd.get('v')!.data as Float32Array)).toEqual([5, 7]);
    expect(sd.get('n')!.data).toEqual(new BigInt64Array([42n]));
    const e = thrown(() => loadPthStateDict(bytes.subarray(0, bytes.length - 5)));
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as Error).message).toMatch(/truncated: storage 100 needs 32 bytes at offset \d+, but only 27 remain/);
  });

  it('maps every storage dtype (Double→F32, Bool→U8, Short/Char→I32) and upcasts BF16/F16 on request', () => {
    const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const storages: [string, string, Uint8Array, number][] = [
      ['f64', 'DoubleStorage', bytesOf(new Float64Array([0.1, -2])), 2],
      ['bf16', 'BFloat16Storage', bytesOf(new Uint16Array([0x3fc0, 0xc000])), 2], // 1.5, -2
      ['f16', 'HalfStorage', f16Bytes([0.25, -3]), 2],
      ['i32', 'IntStorage', bytesOf(new Int32Array([-7, 9])), 2],
      ['i16', 'ShortStorage', bytesOf(new Int16Array([-300, 300])), 2],
      ['i8', 'CharStorage', bytesOf(new Int8Array([-5, 6])), 2],
      ['u8', 'ByteStorage', new Uint8Array([250, 3]), 2],
      ['bool', 'BoolStorage', new Uint8Array([1, 0]), 2],
    ];
    const archive = buildZip([
      [
        'c/data.pkl',
        pickleBytes(
          P.orderedDict(storages.map(([k, type, , n], i) => [k, tensorPickle(type, String(i), n, 0, [n], [1])])),
        ),
      ],
      ...storages.map(([, , b], i): [string, Uint8Array] => [`c/data/${i}`, b]),
    ]);
    const sd = loadPthStateDict(archive);
    const got = (k: string) => [sd.get(k)!.dtype, Array.from(sd.get(k)!.data as ArrayLike<number>)];
    expect(got('f64')).toEqual(['F32', [Math.fround(0.1), -2]]);
    expect(got('bf16')).toEqual(['BF16', [0x3fc0, 0xc000]]);
    expect(got('f16')).toEqual(['F16', [f32ToF16(0.25), f32ToF16(-3)]]);
    expect(got('i32')).toEqual(['I32', [-7, 9]]);
    expect(got('i16')).toEqual(['I32', [-300, 300]]);
    expect(got('i8')).toEqual(['I32', [-5, 6]]);
    expect(got('u8')).toEqual(['U8', [250, 3]]);
    expect(got('bool')).toEqual(['U8', [1, 0]]);
    const up = loadPthStateDict(archive, { upcast: true });
    expect([up.get('bf16')!.dtype, Array.from(up.get('bf16')!.data as Float32Array)]).toEqual(['F32', [1.5, -2]]);
    expect([up.get('f16')!.dtype, Array.from(up.get('f16')!.data as Float32Array)]).toEqual(['F32', [0.25, -3]]);
    expect(up.get('i32')!.dtype).toBe('I32');
  });

  it('selects the state dict by key, and explains what exists when it cannot', () => {
    const bytes = stridedArchive();
    expect(() => loadPthStateDict(bytes, { key: 'nope' })).toThrow(
      /no top-level key "nope"; available keys: state_dict, epoch, args/,
    );
    expect(() => loadPthStateDict(bytes, { key: 'epoch' })).toThrow(/not a dict of tensors/);
    const noTensors = buildZip([
      [
        'c/data.pkl',
        pickleBytes(
          P.dict([
            ['epoch', P.int(3)],
            ['model', P.dict([['x', P.int(1)]])],
          ]),
        ),
      ],
    ]);
    expect(() => loadPthStateDict(noTensors)).toThrow(
      /cannot find a state dict.*top-level keys are epoch: int 3, model: dict\(1 keys\)/,
    );
    // a bare state dict at the top level
    const bare = buildZip([
      ['c/data.pkl', pickleBytes(P.orderedDict([['module.x', tensorPickle('FloatStorage', '0', 2, 0, [2], [1])]]))],
      ['c/data/0', f32Bytes([1, 2])],
    ]);
    expect([...loadPthStateDict(bare).keys()]).toEqual(['x']);
  });
});

describe('corrupt input', () => {
  it.each([
    'heads_maskrcnn_small.pth',
    'dbra_cls_tiny_reduced.legacy.pth',
  ])('truncated %s throws CheckpointError', (name) => {
    const bytes = fixture(name);
    for (const n of [0, 1, 10, 100, 1000, Math.floor(bytes.length / 2), bytes.length - 30, bytes.length - 1]) {
      const e = thrown(() => loadPthStateDict(bytes.subarray(0, n)));
      expect(e, `${name} cut at ${n}`).toBeInstanceOf(CheckpointError);
    }
  });

  it('reports a truncated pickle with the offset', () => {
    const b = pickleBytes(P.dict([['abcdef', P.int(1)]]));
    expect(() => unpickle(b.subarray(0, 12))).toThrow(
      /truncated: BINUNICODE data needs 6 bytes at offset 9, but only 3 remain \(opcode BINUNICODE at offset 4\)/,
    );
    expect(() => unpickle(b.subarray(0, b.length - 1))).toThrow(/without a STOP opcode/);
  });

  it('names an unknown opcode', () => {
    expect(() => unpickle(new Uint8Array([0x80, 2, 0xff, STOP]))).toThrow(/unknown pickle opcode 0xff at offset 2/);
  });

  it('rejects compressed members, missing storages and non-checkpoints', () => {
    expect(() => readPth(buildZip([['c/data.pkl', pickleBytes([NONE])]], { method: 8 }))).toThrow(
      /compression method 8/,
    );
    const missing = buildZip([['c/data.pkl', pickleBytes(tensorPickle('FloatStorage', '0', 2, 0, [2], [1]))]]);
    expect(() => readPth(missing)).toThrow(/c\/data\/0 is missing/);
    const short = buildZip([
      ['c/data.pkl', pickleBytes(tensorPickle('FloatStorage', '0', 4, 0, [4], [1]))],
      ['c/data/0', f32Bytes([1])],
    ]);
    expect(() => readPth(short)).toThrow(/holds 4 bytes, but 4 F32 elements need 16/);
    const outOfBounds = buildZip([
      ['c/data.pkl', pickleBytes(tensorPickle('FloatStorage', '0', 2, 1, [2], [1]))],
      ['c/data/0', f32Bytes([1, 2])],
    ]);
    expect(() => readPth(outOfBounds)).toThrow(/reaches element 2, but the storage has 2 elements/);
    expect(() => readPth(enc.encode('hello world'))).toThrow(CheckpointError);
    expect(() => readPth(buildZip([['x.txt', enc.encode('hi')]]))).toThrow(/no data.pkl/);
    const bigEndian = buildZip([
      ['c/data.pkl', pickleBytes([NONE])],
      ['c/byteorder', enc.encode('big')],
    ]);
    expect(() => readPth(bigEndian)).toThrow(/byteorder is "big"/);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 18: weights-only allow-list, opcode caps, nesting, memory budget, ZIP bounds

const NEWOBJ_PICKLE = (m: string, n: string, state: number[]) =>
  pickleBytes(P.dict([['args', [...P.global(m, n), EMPTY_TUPLE, NEWOBJ, ...state, BUILD]]]));

describe('weights-only allow-list', () => {
  it.each([
    ['zipfile', 'ZipFile'],
    ['_winapi', 'CreateProcess'],
    ['torch.nn', 'Module'],
    ['torch.nn.modules.conv', 'Conv2d'],
    ['__main__', 'Net'],
    ['pathlib', 'PosixPath'],
    ['collections', 'defaultdict'],
    ['torch', 'load'],
    ['numpy', 'load'],
  ])('refuses a global outside the allow-list (%s.%s), as a reference, a REDUCE or a NEWOBJ', (m, n) => {
    for (const b of [
      pickleBytes(P.dict([['x', P.global(m, n)]])),
      pickleBytes(P.global(m, n), P.tuple([P.str('x')]), [REDUCE]),
      NEWOBJ_PICKLE(m, n, P.dict([])),
    ]) {
      const e = thrown(() => unpickle(b));
      expect(e).toBeInstanceOf(UnsafePickleError);
      expect((e as UnsafePickleError).callable).toBe(`${m}.${n}`);
      expect((e as Error).message).toContain(`${m}.${n}`);
    }
  });

  it('suggests saving a state dict when the pickle names a torch.nn module', () => {
    expect(() => unpickle(NEWOBJ_PICKLE('torch.nn.modules.linear', 'Linear', P.dict([])))).toThrow(
      /torch\.nn\.modules\.linear\.Linear.*model\.state_dict\(\)/,
    );
  });

  it('reads argparse.Namespace as plain data (NEWOBJ + BUILD, or copyreg._reconstructor), nothing run', () => {
    const state = P.dict([
      ['lr', P.float(0.5)],
      ['model', P.str('dbra')],
      ['input_size', P.tuple([P.int(3), P.int(224)])],
    ]);
    const viaNewobj = unpickle(NEWOBJ_PICKLE('argparse', 'Namespace', state)) as PickleDict;
    const viaCopyreg = unpickle(
      pickleBytes(
        P.dict([
          [
            'args',
            [
              ...P.global('copy_reg', '_reconstructor'),
              ...P.tuple([P.global('argparse', 'Namespace'), P.global('__builtin__', 'object'), [NONE]]),
              REDUCE,
              ...state,
              BUILD,
            ],
          ],
        ]),
      ),
    ) as PickleDict;
    for (const root of [viaNewobj, viaCopyreg]) {
      const args = root.get('args') as PickleObject;
      expect(args).toBeInstanceOf(PickleObject);
      expect(args.__class__).toBe('argparse.Namespace');
      expect(entries(args.state)).toEqual([
        ['lr', 0.5],
        ['model', 'dbra'],
        ['input_size', [3, 224]],
      ]);
    }
    // copyreg may only instantiate allow-listed classes
    const e = thrown(() =>
      unpickle(
        pickleBytes(
          P.global('copyreg', '_reconstructor'),
          P.tuple([P.global('copyreg', '__newobj__'), P.global('builtins', 'object'), [NONE]]),
          [REDUCE],
        ),
      ),
    );
    expect(e).toBeInstanceOf(UnsafePickleError);
    expect((e as UnsafePickleError).callable).toBe('copyreg.__newobj__');
  });

  it('reads numpy scalars and dtypes (mmdet/mmengine meta), torch dtypes and devices as inert values', () => {
    // meta = {'best': numpy.float64(0.5), 'dtype': torch.float16, 'device': torch.device('cpu')}, as pickled
    const dtype = [
      ...P.global('numpy', 'dtype'),
      ...P.tuple([P.str('f8'), [NEWFALSE], [0x88]]),
      REDUCE,
      ...P.tuple([P.int(3), P.str('<'), [NONE], [NONE], [NONE], P.int(0xffffffff), P.int(0xffffffff), P.int(0)]),
      BUILD,
    ];
    const scalar = [
      ...P.global('numpy.core.multiarray', 'scalar'),
      ...P.tuple([dtype, [0x43, 8, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f]]),
      REDUCE,
    ];
    const meta = unpickle(
      pickleBytes(
        P.dict([
          ['best', scalar],
          ['dtype', P.global('torch', 'float16')],
          ['device', [...P.global('torch', 'device'), ...P.tuple([P.str('cpu')]), REDUCE]],
          ['np2', [...P.global('numpy.dtypes', 'Float64DType'), EMPTY_TUPLE, NEWOBJ]],
        ]),
      ),
    ) as PickleDict;
    const best = meta.get('best') as PickleObject;
    expect(best.__class__).toBe('numpy.core.multiarray.scalar');
    expect((best.args[0] as PickleObject).__class__).toBe('numpy.dtype');
    expect(best.args[1]).toEqual(new Uint8Array([0, 0, 0, 0, 0, 0, 0xe0, 0x3f]));
    expect((meta.get('dtype') as { qualifiedName: string }).qualifiedName).toBe('torch.float16');
    expect((meta.get('device') as PickleObject).args).toEqual(['cpu']);
    expect((meta.get('np2') as PickleObject).__class__).toBe('numpy.dtypes.Float64DType');
  });

  it('reads a yacs CfgNode (dict subclass, __immutable__ in its state) as plain data', () => {
    const cfg = unpickle(
      pickleBytes(
        P.global('yacs.config', 'CfgNode'),
        [EMPTY_TUPLE, NEWOBJ, MARK],
        P.str('MODEL'),
        P.str('dat'),
        [SETITEMS],
        P.dict([['__immutable__', [NEWFALSE]]]),
        [BUILD],
      ),
    ) as PickleObject;
    expect(cfg.__class__).toBe('yacs.config.CfgNode');
    expect(entries(cfg.dictItems)).toEqual([['MODEL', 'dat']]);
    expect(entries(cfg.state)).toEqual([['__immutable__', false]]);
  });

  it('refuses a BUILD state that sets __setstate__ (or __class__, __reduce__), even to an allow-listed value', () => {
    for (const target of [
      [...P.global('argparse', 'Namespace'), EMPTY_TUPLE, NEWOBJ],
      [...P.global('collections', 'OrderedDict'), EMPTY_TUPLE, REDUCE],
    ])
      for (const key of ['__setstate__', '__reduce__', '__class__']) {
        const b = pickleBytes(target, P.dict([[key, P.global('collections', 'OrderedDict')]]), [BUILD]);
        const e = thrown(() => unpickle(b, { allowUnknownGlobals: true }));
        expect(e).toBeInstanceOf(UnsafePickleError);
        expect((e as UnsafePickleError).callable).toMatch(new RegExp(`(Namespace|OrderedDict)\\.${key}$`));
      }
    // OrderedDict's own BUILD state (_metadata of a state dict) is fine
    const od = unpickle(
      pickleBytes(P.orderedDict([]), P.dict([['_metadata', P.dict([['', P.dict([['version', P.int(1)]])]])]]), [BUILD]),
    ) as PickleDict;
    expect(entries(od.attributes)[0]![0]).toBe('_metadata');
  });

  it('allowUnknownGlobals keeps the inert placeholders, but never the deny-list', () => {
    const b = pickleBytes(
      P.dict([
        ['zip', [...P.global('zipfile', 'ZipFile'), ...P.tuple([P.str('x.zip')]), REDUCE]],
        ['fn', P.global('torch', 'load')],
      ]),
    );
    expect(() => unpickle(b)).toThrow(UnsafePickleError);
    const v = unpickle(b, { allowUnknownGlobals: true }) as PickleDict;
    expect((v.get('zip') as PickleObject).__class__).toBe('zipfile.ZipFile');
    expect((v.get('fn') as { qualifiedName: string }).qualifiedName).toBe('torch.load');
    const archive = buildZip([['c/data.pkl', b]]);
    expect(() => readPth(archive)).toThrow(UnsafePickleError);
    expect(((readPth(archive, { allowUnknownGlobals: true }) as PickleDict).get('zip') as PickleObject).args).toEqual([
      'x.zip',
    ]);
    const evil = pickleBytes(P.global('os', 'system'), P.tuple([P.str('x')]), [REDUCE]);
    expect(() => unpickle(evil, { allowUnknownGlobals: true })).toThrow(/os\.system/);
  });
});

/** `{'x': <LONG4 of n bytes>}` with all digits present. */
function long4Pickle(n: number): Uint8Array {
  const b = new Uint8Array(4 + n + 16);
  b.set([0x80, 2, EMPTY_DICT, 0x8c, 1, 0x78, 0x8b, ...u32(n)]);
  b.fill(1, 11, 11 + n);
  b.set([SETITEM_OP, STOP], 11 + n);
  return b.subarray(0, 13 + n);
}
const SETITEM_OP = 0x73;

describe('integer and string caps', () => {
  it.each([50e6, 140e6])('refuses a complete %d-byte LONG4 on its length, at once', (n) => {
    const b = long4Pickle(n);
    const t0 = performance.now();
    const e = thrown(() => unpickle(b));
    expect(performance.now() - t0).toBeLessThan(200);
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as Error).message).toContain(`integer of ${n} bytes is over the cap of 4096 bytes`);
  });

  it('accepts a LONG4 at the cap and decodes it', () => {
    const v = unpickle(long4Pickle(4096)) as PickleDict;
    expect(v.get('x')).toBe(BigInt(`0x${'01'.repeat(4096)}`));
    expect(() => unpickle(long4Pickle(4097))).toThrow(/over the cap of 4096 bytes/);
  });

  it('refuses protocol-0 INT/LONG lines over 10,000 digits (BigInt parsing is quadratic)', () => {
    const line = (d: number) => enc.encode(`L${'7'.repeat(d)}L\n.`);
    expect(unpickle(line(10_000))).toBe(BigInt('7'.repeat(10_000)));
    const huge = line(5_000_000);
    const t0 = performance.now();
    expect(() => unpickle(huge)).toThrow(/integer of 5000001 characters is over the cap of 10000 digits/);
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it.each([
    ['BINUNICODE8', 0x8d],
    ['BINBYTES8', 0x8e],
    ['BYTEARRAY8', 0x96],
  ])('refuses a %s longer than the rest of the input before allocating', (name, op) => {
    for (const n of [2 ** 40, 2 ** 60]) {
      const b = new Uint8Array([0x80, 5, op, ...u64(Number(n)), 0x61, 0x62, STOP]);
      if (n === 2 ** 60) new DataView(b.buffer).setBigUint64(3, 2n ** 60n, true);
      expect(() => unpickle(b)).toThrow(new RegExp(`length ${BigInt(n)} is larger than the 3 bytes left.*${name}`));
    }
  });

  it('charges what reconstructors copy to the budget (one string encoded again and again)', () => {
    const parts: number[][] = [P.str('x'.repeat(4096)), [0x71, 1, 0x30, 0x5d]];
    for (let i = 0; i < 64; i++)
      parts.push([...P.global('_codecs', 'encode'), 0x68, 1, ...P.str('latin1'), 0x86, REDUCE, 0x61]);
    const b = pickleBytes(...parts);
    expect((unpickle(b) as Uint8Array[]).length).toBe(64);
    const e = thrown(() => unpickle(b, { budget: new Budget(b.length, 'test pickle', { maxBytes: 100_000 }) }));
    expect(e).toBeInstanceOf(BudgetError);
    expect((e as Error).message).toMatch(/^test pickle: _codecs\.encode at offset \d+ would materialise/);
  });
});

/** `{'model': OrderedDict(), 'x': [[[...]]]}` nested `depth` lists deep. */
function deepPickle(depth: number, container: 'list' | 'tuple' | 'dict'): Uint8Array {
  const body: number[] = [];
  if (container === 'list') {
    for (let i = 0; i < depth; i++) body.push(0x5d);
    for (let i = 1; i < depth; i++) body.push(0x61);
  } else if (container === 'tuple') {
    body.push(EMPTY_TUPLE);
    for (let i = 1; i < depth; i++) body.push(0x85); // TUPLE1
  } else {
    for (let i = 0; i < depth; i++) body.push(EMPTY_DICT, 0x4b, 0);
    body.splice(body.length - 2, 2); // the innermost dict holds nothing
    for (let i = 1; i < depth; i++) body.push(SETITEM_OP);
  }
  return pickleBytes(P.dict([['model', P.orderedDict([])]]).slice(0, -1), P.str('x'), body, [SETITEMS]);
}

describe('untrusted nesting depth', () => {
  it.each([
    'list',
    'tuple',
    'dict',
  ] as const)('walks 500-deep %s nesting iteratively and refuses 10,000 and 100,000 deep with a typed error', (kind) => {
    const ok = readPth(buildZip([['c/data.pkl', deepPickle(500, kind)]])) as PickleDict;
    let x = ok.get('x');
    let depth = 0;
    while (x !== undefined && (Array.isArray(x) ? x.length > 0 : x instanceof Map && x.size > 0)) {
      x = Array.isArray(x) ? x[0] : (x as Map<unknown, unknown>).get(0);
      depth++;
    }
    expect(depth).toBe(499);
    for (const n of [10_000, 100_000]) {
      const bytes = buildZip([['c/data.pkl', deepPickle(n, kind)]]);
      const e = thrown(() => readPth(bytes));
      expect(e, `${kind} ${n}`).toBeInstanceOf(CheckpointError);
      expect((e as Error).message).toMatch(/^checkpoint value x(\.0)+ is nested more than 1000 containers deep/);
      expect(() => loadPthStateDict(bytes)).toThrow(/cannot find a state dict/);
    }
  });
});

describe('memory budget', () => {
  /** One F32 storage of `numel` elements (0..numel-1) and the given views of it. */
  const viewsArchive = (numel: number, views: [string, number, number[], number[]][]) =>
    buildZip([
      [
        'c/data.pkl',
        pickleBytes(
          P.orderedDict(
            views.map(([k, off, size, stride]) => [k, tensorPickle('FloatStorage', '0', numel, off, size, stride)]),
          ),
        ),
      ],
      ['c/data/0', f32Bytes(range(numel))],
    ]);

  it('refuses a stride-0 view of 2^28 elements from a tiny file before allocating, naming the tensor and sizes', () => {
    const bytes = viewsArchive(1, [['blocks.0.w', 0, [16384, 16384], [0, 0]]]);
    expect(bytes.length).toBeLessThan(1024);
    for (const load of [() => readPth(bytes), () => loadPthStateDict(bytes)]) {
      const t0 = performance.now();
      const e = thrown(load);
      expect(performance.now() - t0).toBeLessThan(200);
      expect(e).toBeInstanceOf(BudgetError);
      expect((e as Error).message).toMatch(
        /^checkpoint: tensor blocks\.0\.w \[16384, 16384\] \(268435456 F32 elements viewing 1 stored in storage 0\) would materialise 1024\.0 MiB .*over the memory budget of 64\.0 MiB .*maxBytes/,
      );
    }
  });

  it('refuses stride 0 over 1e12 elements with a BudgetError, never a RangeError', () => {
    const bytes = viewsArchive(1, [['w', 0, [1e12], [0]]]);
    for (const load of [
      () => readPth(bytes),
      () => loadPthStateDict(bytes),
      () => readPth(bytes, { maxBytes: 2 ** 53 }),
    ]) {
      const e = thrown(load);
      expect(e).toBeInstanceOf(BudgetError);
      expect((e as Error).message).toContain('tensor w [1000000000000]');
    }
  });

  it('counts every view of a shared storage at its full size (500 views of one storage)', () => {
    const numel = 1 << 16;
    const views = range(500).map((i): [string, number, number[], number[]] => [`w${i}`, 0, [numel], [1]]);
    const bytes = viewsArchive(numel, views);
    const e = thrown(() => loadPthStateDict(bytes));
    expect(e).toBeInstanceOf(BudgetError);
    expect((e as Error).message).toMatch(/tensor w\d+ \[65536\]/);
    // with the budget raised, the same file loads, every view its own copy
    const sd = loadPthStateDict(bytes, { maxBytes: 600 * 4 * numel });
    expect(sd.size).toBe(500);
    expect((sd.get('w499')!.data as Float32Array)[numel - 1]).toBe(numel - 1);
  });

  it('maxBytes lowers and raises the budget; a legal broadcast view within it is materialised', () => {
    const bytes = viewsArchive(4, [['b', 0, [1024, 1024], [0, 1]]]);
    expect(() => readPth(bytes)).toThrow(/reaches element 1023, but the storage has 4 elements/);
    const ok = viewsArchive(4, [['b', 1, [512, 3], [0, 1]]]); // 6 KiB
    expect(() => loadPthStateDict(ok, { maxBytes: 4096 })).toThrow(BudgetError);
    const sd = loadPthStateDict(ok, { maxBytes: 8192 });
    expect(Array.from((sd.get('b')!.data as Float32Array).subarray(1533))).toEqual([1, 2, 3]);
    expect(() => loadPthStateDict(fixture('heads_maskrcnn_small.pth'), { maxBytes: 100_000 })).toThrow(
      /^checkpoint: tensor \S+ \[.*\] \(\d+ F32 elements viewing \d+ stored in storage \S+\) would materialise/,
    );
  });

  it.each([
    [[Number.POSITIVE_INFINITY], /tensor size\[0\] must be an integer, got float Infinity/],
    [[Number.NaN], /tensor size\[0\] must be an integer, got float NaN/],
    [[-4], /tensor w \[-4\] in storage 0: sizes and strides must be non-negative integers/],
    [[1.5], /tensor size\[0\] must be an integer, got float 1\.5/],
  ])('refuses a size of %s with a CheckpointError', (size, message) => {
    // _rebuild_tensor_v2(storage, 0, (size,), (1,), False, OrderedDict()), the size written as given
    const x = size[0]!;
    const pid = [
      ...P.str('storage'),
      ...P.global('torch', 'FloatStorage'),
      ...P.str('0'),
      ...P.str('cpu'),
      ...P.int(4),
    ];
    const t = [
      ...P.global('torch._utils', '_rebuild_tensor_v2'),
      MARK,
      MARK,
      ...pid,
      TUPLE,
      BINPERSID,
      ...P.int(0),
      ...P.tuple([Number.isInteger(x) ? [0x4a, ...u32(x >>> 0)] : P.float(x)]),
      ...P.tuple([P.int(1)]),
      NEWFALSE,
      ...P.global('collections', 'OrderedDict'),
      EMPTY_TUPLE,
      REDUCE,
      TUPLE,
      REDUCE,
    ];
    const bytes = buildZip([
      ['c/data.pkl', pickleBytes(P.orderedDict([['w', t]]))],
      ['c/data/0', f32Bytes([1, 2, 3, 4])],
    ]);
    for (const load of [() => readPth(bytes), () => loadPthStateDict(bytes)]) {
      const e = thrown(load);
      expect(e).toBeInstanceOf(CheckpointError);
      expect((e as Error).message).toMatch(message);
    }
  });

  it('refuses stride-0 expansion in the legacy format too', () => {
    const w = new Writer();
    w.push(new Uint8Array([...P.proto(2), 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, STOP]));
    w.push(pickleBytes(P.int(1001)));
    w.push(pickleBytes(P.dict([['little_endian', [0x88]]])));
    w.push(
      pickleBytes(P.orderedDict([['w', tensorPickle('FloatStorage', '7', 1, 0, [65536, 65536], [0, 0], [NONE])]])),
    );
    w.push(pickleBytes([0x5d, MARK, ...P.str('7'), 0x65]));
    w.push(u64(1), f32Bytes([1]));
    const e = thrown(() => loadPthStateDict(w.bytes()));
    expect(e).toBeInstanceOf(BudgetError);
    expect((e as Error).message).toContain(
      'tensor w [65536, 65536] (4294967296 F32 elements viewing 1 stored in storage 7)',
    );
  });

  it('loads every official checkpoint fixture under the default budget', () => {
    for (const f of ['heads_maskrcnn_small.pth', 'heads_maskrcnn_small.fp16.pth', 'dbra_cls_tiny_reduced.legacy.pth']) {
      const bytes = fixture(f);
      expect(loadPthStateDict(bytes, { upcast: true }).size, f).toBeGreaterThan(0);
      expect(readPth(bytes, { upcast: true }), f).toBeInstanceOf(PickleDict);
    }
  });
});

describe('zip bounds', () => {
  const archive = () =>
    buildZip([
      ['c/data.pkl', pickleBytes([NONE])],
      ['c/version', enc.encode('3\n')],
    ]);
  const eocdAt = (b: Uint8Array) => b.length - 22;

  it('refuses an entry count the central directory cannot hold, at once', () => {
    const b = archive();
    const dv = new DataView(b.buffer);
    dv.setUint16(eocdAt(b) + 8, 0xfffe, true);
    dv.setUint16(eocdAt(b) + 10, 0xfffe, true);
    expect(() => readZip(b)).toThrow(/declares 65534 entries, but its \d+-byte central directory holds at most 2/);
  });

  it('refuses more than MAX_ZIP_ENTRIES entries', () => {
    const z = buildZip([['c/data.pkl', pickleBytes([NONE])]], { zip64: true });
    const dv = new DataView(z.buffer);
    const z64 = z.length - 22 - 20 - 56;
    expect(dv.getUint32(z64, true)).toBe(0x06064b50);
    dv.setBigUint64(z64 + 32, 2_000_000n, true);
    dv.setBigUint64(z64 + 24, 2_000_000n, true);
    expect(() => readZip(z)).toThrow(/declares 2000000 entries, over the cap of 1000000/);
  });

  it('refuses declared member sizes beyond the file, before reading', () => {
    const b = archive();
    const dv = new DataView(b.buffer);
    const cd = dv.getUint32(eocdAt(b) + 16, true);
    dv.setUint32(cd + 20, 0x7fffffff, true);
    dv.setUint32(cd + 24, 0x7fffffff, true);
    expect(() => readZip(b)).toThrow(
      /entry "c\/data.pkl" declares 2147483647 bytes at offset \d+, but the file is \d+ bytes long/,
    );
  });
});

describe('one-line messages from hostile strings', () => {
  it('escapes newlines from the pickle in every message', () => {
    const viaStr = pickleBytes(P.str('a\nb'), P.tuple([P.str('x')]), [REDUCE]);
    expect(thrown(() => unpickle(viaStr))).toBeInstanceOf(UnsafePickleError);
    const viaGlobal = new Uint8Array([0x80, 4, ...P.stackGlobal('torch', 'lo\nad'), STOP]);
    const numelKey = buildZip([
      [
        'c/data.pkl',
        pickleBytes(P.orderedDict([['bad\nkey', tensorPickle('FloatStorage', '0', 1, 0, [4096, 4096], [0, 0])]])),
      ],
      ['c/data/0', f32Bytes([1])],
    ]);
    for (const fn of [
      () => unpickle(viaStr),
      () => unpickle(viaGlobal),
      () => loadPthStateDict(numelKey, { maxBytes: 1 << 20 }),
    ]) {
      const e = thrown(fn) as Error;
      expect(e.message).not.toMatch(/[\n\r]/);
    }
    expect(() => loadPthStateDict(numelKey, { maxBytes: 1 << 20 })).toThrow(/tensor bad\\u000akey \[4096, 4096\]/);
    expect(() => unpickle(viaGlobal)).toThrow(/malformed global name "torch\.lo\\u000aad"/);
  });

  it('refuses a legacy storage referenced with two element counts', () => {
    const w = new Writer();
    w.push(new Uint8Array([...P.proto(2), 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, STOP]));
    w.push(pickleBytes(P.int(1001)));
    w.push(pickleBytes(P.dict([['little_endian', [0x88]]])));
    w.push(
      pickleBytes(
        P.orderedDict([
          ['a', tensorPickle('FloatStorage', '5', 2, 0, [2], [1], [NONE])],
          ['b', tensorPickle('FloatStorage', '5', 1000, 0, [1000], [1], [NONE])],
        ]),
      ),
    );
    w.push(pickleBytes([0x5d, MARK, ...P.str('5'), 0x65]));
    w.push(u64(2), f32Bytes([1, 2]));
    expect(() => loadPthStateDict(w.bytes())).toThrow(/storage 5 is referenced with 2 and with 1000 elements/);
  });
});
