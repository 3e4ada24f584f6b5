/**
 * Seeded property-based fuzzers (fast-check) over the readers of untrusted files: safetensors, the
 * restricted unpickler, the ZIP reader and the .pth readers (ZIP and legacy formats).
 *
 * Inputs are mutations of the real fixtures (this folder's `__fixtures__`, every package's golden
 * safetensors, the hostile corpus in `__fixtures__/hostile`): bit flips, byte sets, truncations,
 * deletions, insertions, splices from another fixture, and length-field mutations (an interesting
 * integer written, or a small delta added, at 1/2/4/8 bytes) — biased towards the regions that hold
 * structure (the safetensors header, the pickle, the ZIP directories) — plus structure-aware
 * generated inputs: safetensors headers built from random entries (bad dtypes, shapes with 1e300 or
 * -1, overlapping or shifted offsets, trailing bytes, deep nesting, many entries), pickles built from
 * random value trees (containers, globals allowed and denied, REDUCE/NEWOBJ/BUILD, tensors with
 * random sizes, strides and storage offsets, deep nesting, long integers) and from random opcode
 * streams, and random ZIP archives.
 *
 * The property, for every input: the reader returns, or throws a `DynavitError` with a one-line
 * message; within LIMIT_MS, plus MS_PER_64MIB for each 64 MiB of the input's default memory budget
 * (materialising what the budget allows, e.g. upcasting a 64 MiB stride-0 view, takes time too); what
 * it returns is well-formed (every tensor's shape is made of safe non-negative integers and matches
 * its data) and materialises no more than the default memory budget (4 × input + 64 MiB); the
 * process's resident memory grows by no more than that budget plus RSS_SLACK while it runs. Seeds are
 * fixed so CI is reproducible; `DYNAVIT_FUZZ_RUNS=n` runs n inputs per fuzzer instead of the default,
 * `DYNAVIT_FUZZ_SEED=s` changes the seeds, `DYNAVIT_FUZZ_SURVEY=dir` goes on past failures and writes
 * the smallest input of each kind of failure to dir, `DYNAVIT_FUZZ_VERBOSE=1` lists the most frequent
 * error messages, `DYNAVIT_FUZZ_SLOW_MS=ms` logs slower inputs. Each fuzzer prints one
 * summary line (inputs, outcomes by error code, slowest input, largest memory growth).
 *
 * Inputs a fuzzer found that broke the property are kept in `__fixtures__/fuzz/` (minimal bytes, one
 * file each, the reader in the name) and replayed by the last test.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { DynavitError } from '../errors.js';
import { defaultBudget } from './budget.js';
import { unpickle } from './pickle.js';
import { loadPthStateDict, readPth } from './pth.js';
import { readSafetensors, readSafetensorsStream } from './safetensors.js';
import { DTYPE_BYTES } from './tensor-data.js';
import { readZip } from './zip.js';

// ---------------------------------------------------------------------------------------------
// The property

const LIMIT_MS = 2000;
const MS_PER_64MIB = 1000;
const RSS_SLACK = 256 * 2 ** 20;
const SEED_BASE = Number(process.env.DYNAVIT_FUZZ_SEED ?? 18_000);
const runs = (n: number): number => {
  const env = Number(process.env.DYNAVIT_FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? env : n;
};
/** `DYNAVIT_FUZZ_SURVEY=dir`: do not stop at the first failure; write the smallest input of each kind of failure to dir. */
const SURVEY = process.env.DYNAVIT_FUZZ_SURVEY;
/** `DYNAVIT_FUZZ_SLOW_MS=ms`: log every input that takes longer (default: half the limit). */
const SLOW_MS = Number(process.env.DYNAVIT_FUZZ_SLOW_MS ?? LIMIT_MS / 2);
/** `DYNAVIT_FUZZ_VERBOSE=1`: the summary also lists the most frequent error messages (to tune the generators). */
const VERBOSE = process.env.DYNAVIT_FUZZ_VERBOSE === '1';
const surveyed = new Map<string, { message: string; bytes: Uint8Array }>();
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

type Reader = (bytes: Uint8Array) => unknown;
type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

type Outcome = { threw: false; result: unknown } | { threw: true; error: unknown };

/** Counts what one fuzzer saw and checks the property on each input. */
class Campaign {
  tried = 0;
  parsed = 0;
  readonly codes = new Map<string, number>();
  readonly messages = new Map<string, number>();
  maxMs = 0;
  maxRss = 0;
  readonly started = performance.now();
  constructor(
    readonly name: string,
    readonly seed: number,
  ) {}

  /** Throws (a property failure) unless `read(input)` returns well-formed data or throws a one-line DynavitError, in time and memory. */
  check(input: Uint8Array, read: Reader, what: string): void {
    const start = this.start();
    let outcome: Outcome;
    try {
      outcome = { threw: false, result: read(input) };
    } catch (error) {
      outcome = { threw: true, error };
    }
    this.judge(input, what, start, outcome);
  }

  /** `check` for an asynchronous reader. */
  async checkAsync(input: Uint8Array, read: (bytes: Uint8Array) => Promise<unknown>, what: string): Promise<void> {
    const start = this.start();
    let outcome: Outcome;
    try {
      outcome = { threw: false, result: await read(input) };
    } catch (error) {
      outcome = { threw: true, error };
    }
    this.judge(input, what, start, outcome);
  }

  private start(): { rss0: number; t0: number } {
    this.tried++;
    return { rss0: process.memoryUsage().rss, t0: performance.now() };
  }

  private judge(input: Uint8Array, what: string, { rss0, t0 }: { rss0: number; t0: number }, outcome: Outcome): void {
    const ms = performance.now() - t0;
    const grew = process.memoryUsage().rss - rss0;
    const { threw, error, result } = outcome as { threw: boolean; error?: unknown; result?: unknown };
    if (ms > SLOW_MS)
      console.log(
        `slow: ${this.name}: ${what} (${input.length} bytes): ${Math.round(ms)} ms, ${threw ? (error as Error).message?.slice(0, 200) : 'parsed'}`,
      );
    this.maxMs = Math.max(this.maxMs, ms);
    this.maxRss = Math.max(this.maxRss, grew);
    const budget = defaultBudget(input.length);
    const fail = (why: string): never => {
      const message = `${this.name}: ${what} (${input.length} bytes): ${why}`;
      if (SURVEY) {
        // survey mode: keep the smallest input per kind of failure and go on
        const kind = `${this.name}: ${why.replace(/\d+(\.\d+)?/g, 'N').slice(0, 80)}`;
        const old = surveyed.get(kind);
        if (old === undefined || old.bytes.length > input.length) surveyed.set(kind, { message, bytes: input.slice() });
      }
      throw new Error(message);
    };
    if (threw) {
      if (!DynavitError.isInstance(error)) {
        const e = error as Error;
        fail(`not a DynavitError: ${e?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 300)}`);
      }
      const e = error as DynavitError;
      if (/[\n\r\u2028\u2029]/.test(e.message))
        fail(`${e.code} message is not one line: ${JSON.stringify(e.message.slice(0, 300))}`);
      this.codes.set(e.code, (this.codes.get(e.code) ?? 0) + 1);
      if (VERBOSE) {
        const kind = e.message
          .replace(/\d+/g, 'N')
          .replace(/"[^"]*"/g, 'S')
          .slice(0, 110);
        this.messages.set(kind, (this.messages.get(kind) ?? 0) + 1);
      }
    } else {
      this.parsed++;
      const { bytes, problem } = inspectTensors(result);
      if (problem) fail(`returned a malformed tensor: ${problem}`);
      if (bytes > budget) fail(`returned ${mib(bytes)} of tensors, over the default budget of ${mib(budget)}`);
    }
    const limit = LIMIT_MS + (MS_PER_64MIB * budget) / 2 ** 26;
    if (ms > limit) fail(`took ${Math.round(ms)} ms (limit ${Math.round(limit)} ms)`);
    if (grew > budget + RSS_SLACK) fail(`resident memory grew by ${mib(grew)} (limit ${mib(budget + RSS_SLACK)})`);
  }

  summary(): string {
    const codes = [...this.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
    const s = ((performance.now() - this.started) / 1000).toFixed(1);
    return (
      `fuzz ${this.name} (seed ${this.seed}): ${this.tried} inputs in ${s} s — parsed ${this.parsed}` +
      `${codes.length ? `, DynavitError ${codes.join(', ')}` : ''}; slowest ${Math.round(this.maxMs)} ms,` +
      ` largest rss growth ${mib(Math.max(0, this.maxRss))}` +
      [...this.messages]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([m, n]) => `\n  ${n} × ${m}`)
        .join('')
    );
  }
}

/** Runs a fuzzer: `numRuns` cases from `arb`, each turned into inputs checked by the campaign; prints the summary. */
function fuzz<T>(
  name: string,
  seedOffset: number,
  numRuns: number,
  arb: fc.Arbitrary<T>,
  body: (c: Campaign, x: T) => void,
) {
  const seed = SEED_BASE + seedOffset;
  const campaign = new Campaign(name, seed);
  try {
    if (SURVEY) {
      fc.check(
        fc.property(arb, (x) => {
          try {
            body(campaign, x);
          } catch {}
        }),
        { seed, numRuns: runs(numRuns) },
      );
      mkdirSync(SURVEY, { recursive: true });
      for (const [kind, { message, bytes }] of surveyed) {
        const file = `${SURVEY}/${createHash('sha1').update(kind).digest('hex').slice(0, 10)}.bin`;
        writeFileSync(file, bytes);
        console.log(`survey: ${file}: ${message}`);
      }
      surveyed.clear();
    } else
      fc.assert(
        fc.property(arb, (x) => body(campaign, x)),
        { seed, numRuns: runs(numRuns) },
      );
  } finally {
    console.log(campaign.summary());
  }
}

/** `fuzz` for an asynchronous body (no survey mode). */
async function fuzzAsync<T>(
  name: string,
  seedOffset: number,
  numRuns: number,
  arb: fc.Arbitrary<T>,
  body: (c: Campaign, x: T) => Promise<void>,
): Promise<void> {
  const seed = SEED_BASE + seedOffset;
  const campaign = new Campaign(name, seed);
  try {
    await fc.assert(
      fc.asyncProperty(arb, (x) => body(campaign, x)),
      { seed, numRuns: runs(numRuns) },
    );
  } finally {
    console.log(campaign.summary());
  }
}

interface TensorLike {
  dtype: unknown;
  shape: unknown;
  data: ArrayBufferView;
}

const isTensor = (x: object): x is TensorLike =>
  'data' in x && ArrayBuffer.isView((x as TensorLike).data) && 'shape' in x && 'dtype' in x;

/** Walks a reader's result (iteratively: results may be deep): total tensor bytes, and the first malformed tensor. */
function inspectTensors(root: unknown): { bytes: number; problem?: string } {
  let bytes = 0;
  const seen = new Set<object>();
  const todo: unknown[] = [root];
  while (todo.length) {
    const x = todo.pop();
    if (x === null || typeof x !== 'object' || seen.has(x) || ArrayBuffer.isView(x)) continue;
    seen.add(x);
    if (isTensor(x)) {
      bytes += x.data.byteLength;
      const shape = x.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
        return { bytes, problem: `shape ${JSON.stringify(shape)?.slice(0, 100)}` };
      const n = shape.reduce((a: number, d: number) => a * d, 1);
      const size = DTYPE_BYTES[x.dtype as keyof typeof DTYPE_BYTES];
      if (size === undefined) return { bytes, problem: `dtype ${String(x.dtype)}` };
      if (!Number.isSafeInteger(n) || x.data.byteLength !== n * size)
        return { bytes, problem: `${String(x.dtype)}[${shape.join(',')}] holds ${x.data.byteLength} bytes` };
      continue;
    }
    if (x instanceof Map)
      for (const [k, v] of x) {
        todo.push(k);
        todo.push(v);
      }
    else if (x instanceof Set) for (const v of x) todo.push(v);
    else if (Array.isArray(x)) for (const v of x) todo.push(v);
    else for (const v of Object.values(x)) todo.push(v);
  }
  return { bytes };
}

// ---------------------------------------------------------------------------------------------
// Seeds: the real fixtures

const here = (p: string) => new URL(p, import.meta.url);
const load = (u: URL): Uint8Array => new Uint8Array(readFileSync(u));

function listDir(u: URL): string[] {
  try {
    return readdirSync(u).filter((f) => statSync(new URL(f, u)).isFile());
  } catch {
    return [];
  }
}

interface Seed {
  name: string;
  bytes: Uint8Array;
  /** [start, end) ranges that hold structure; mutations land in one of them (the last is the whole file). */
  regions: [number, number][];
}

const u64le = (b: Uint8Array, at: number) =>
  b.length >= at + 8 ? Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(at, true)) : 0;

function safetensorsSeed(name: string, bytes: Uint8Array): Seed {
  const n = Math.min(u64le(bytes, 0), bytes.length - 8);
  const len = bytes.length;
  return {
    name,
    bytes,
    regions: [
      [0, 8],
      [8, 8 + n],
      [8, 8 + n],
      [Math.max(0, 8 + n - 64), Math.min(len, 8 + n + 64)],
      [Math.max(0, len - 256), len],
      [0, len],
    ],
  };
}

const SIG_EOCD = 0x06054b50;

/** Regions of a ZIP: the central directory and EOCD, each member's local header, the pickle, the start. */
function zipSeed(name: string, bytes: Uint8Array): Seed {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const regions: [number, number][] = [[0, Math.min(len, 128)]];
  for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--)
    if (dv.getUint32(i, true) === SIG_EOCD) {
      const cd = dv.getUint32(i + 16, true);
      regions.push([Math.min(cd, len), len], [i, len]);
      // every local header: scan for PK\x03\x04; the pickle follows the first one (data.pkl is written first)
      for (let p = 0; p + 30 <= cd && p < len; p++)
        if (dv.getUint32(p, true) === 0x04034b50) {
          const dataAt = p + 30 + dv.getUint16(p + 26, true) + dv.getUint16(p + 28, true);
          const size = dv.getUint32(p + 18, true);
          regions.push([p, Math.min(len, dataAt)]);
          const member = new TextDecoder().decode(bytes.subarray(p + 30, p + 30 + dv.getUint16(p + 26, true)));
          if (member.endsWith('data.pkl'))
            regions.push([dataAt, Math.min(len, dataAt + size)], [dataAt, Math.min(len, dataAt + size)]);
          p = Math.max(p, dataAt + size - 1);
        }
      break;
    }
  regions.push([0, len]);
  return { name, bytes, regions };
}

function legacySeed(name: string, bytes: Uint8Array): Seed {
  const len = bytes.length;
  return {
    name,
    bytes,
    regions: [
      [0, Math.min(len, 512)],
      [0, Math.min(len, 64 * 1024)],
      [Math.max(0, len - 4096), len],
      [0, len],
    ],
  };
}

const isZipBytes = (b: Uint8Array) => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && b[2] === 0x03 && b[3] === 0x04;

const coreFixtures = here('./__fixtures__/');
const hostileDir = here('./__fixtures__/hostile/');
const findingsDir = here('./__fixtures__/fuzz/');
const packagesDir = here('../../../');

const goldenSafetensors: Seed[] = [];
for (const pkg of readdirSync(packagesDir)) {
  const dir = new URL(`${pkg}/src/__fixtures__/golden/`, packagesDir);
  for (const f of listDir(dir).sort())
    if (f.endsWith('.safetensors')) goldenSafetensors.push(safetensorsSeed(`${pkg}/${f}`, load(new URL(f, dir))));
}
/** The hostile corpus's files up to 1 MB (each mutated input is a copy of its seed). */
const hostile = listDir(hostileDir)
  .filter((f) => !f.endsWith('.json') && statSync(new URL(f, hostileDir)).size <= 2 ** 20)
  .sort()
  .map((f) => ({ name: `hostile/${f}`, bytes: load(new URL(f, hostileDir)) }));

const SAFETENSORS_SEEDS: Seed[] = [
  safetensorsSeed(
    'heads_maskrcnn_small.weights.safetensors',
    load(new URL('heads_maskrcnn_small.weights.safetensors', coreFixtures)),
  ),
  ...goldenSafetensors,
  ...hostile.filter((h) => h.name.endsWith('.safetensors')).map((h) => safetensorsSeed(h.name, h.bytes)),
];
const ZIP_SEEDS: Seed[] = [
  ...['heads_maskrcnn_small.pth', 'heads_maskrcnn_small.fp16.pth', 'hostile.pth'].map((f) =>
    zipSeed(f, load(new URL(f, coreFixtures))),
  ),
  ...hostile.filter((h) => isZipBytes(h.bytes)).map((h) => zipSeed(h.name, h.bytes)),
];
const LEGACY_SEEDS: Seed[] = [
  legacySeed('dbra_cls_tiny_reduced.legacy.pth', load(new URL('dbra_cls_tiny_reduced.legacy.pth', coreFixtures))),
  ...hostile
    .filter((h) => !isZipBytes(h.bytes) && h.bytes[0] === 0x80 && !h.name.endsWith('.pkl'))
    .map((h) => legacySeed(h.name, h.bytes)),
];
/** The pickles inside the ZIP fixtures, and the hostile corpus's bare pickles. */
const PICKLE_SEEDS: Seed[] = [
  ...ZIP_SEEDS.flatMap((s) => {
    try {
      return [...readZip(s.bytes)]
        .filter(([k]) => k.endsWith('data.pkl'))
        .map(([k, v]) => ({ name: `${s.name}:${k}`, bytes: v.slice(), regions: [[0, v.length] as [number, number]] }));
    } catch {
      return [];
    }
  }),
  ...hostile
    .filter((h) => h.name.endsWith('.pkl'))
    .map((h) => ({ name: h.name, bytes: h.bytes, regions: [[0, h.bytes.length] as [number, number]] })),
];
const ALL_SEEDS = [...SAFETENSORS_SEEDS, ...ZIP_SEEDS, ...LEGACY_SEEDS];

// ---------------------------------------------------------------------------------------------
// Byte mutations

const INTERESTING = [
  0n,
  1n,
  2n,
  7n,
  8n,
  0x7fn,
  0x80n,
  0xffn,
  0x100n,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x10000n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

type Mutation =
  | { k: 'flip'; region: number; at: number; bit: number }
  | { k: 'set'; region: number; at: number; value: number }
  | { k: 'int'; region: number; at: number; width: 1 | 2 | 4 | 8; value: bigint }
  | { k: 'add'; region: number; at: number; width: 1 | 2 | 4 | 8; delta: number }
  | { k: 'truncate'; region: number; at: number }
  | { k: 'delete'; region: number; at: number; len: number }
  | { k: 'insert'; region: number; at: number; bytes: number[] }
  | { k: 'splice'; region: number; at: number; donor: number; from: number; len: number; overwrite: boolean };

const region = fc.nat();
const at = fc.nat();
const width = fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8);
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('flip' as const), region, at, bit: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('set' as const), region, at, value: fc.nat(255) }) },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('int' as const), region, at, width, value: fc.constantFrom(...INTERESTING) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('add' as const),
      region,
      at,
      width,
      delta: fc.integer({ min: -16, max: 16 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), region, at }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('delete' as const), region, at, len: fc.nat(64) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('insert' as const),
      region,
      at,
      bytes: fc.array(fc.nat(255), { maxLength: 16 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('splice' as const),
      region,
      at,
      donor: fc.nat(),
      from: fc.nat(),
      len: fc.nat(2048),
      overwrite: fc.boolean(),
    }),
  },
);
const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Applies mutations in order; positions are taken modulo the chosen region of the seed (clamped to the current length). */
function mutate(seed: Seed, muts: Mutation[]): Uint8Array {
  let b: Uint8Array = seed.bytes.slice();
  for (const m of muts) {
    const [s, e] = seed.regions[m.region % seed.regions.length]!;
    const p = Math.min(b.length, s + (e > s ? m.at % (e - s) : 0));
    switch (m.k) {
      case 'flip':
        if (p < b.length) b[p]! ^= 1 << m.bit;
        break;
      case 'set':
        if (p < b.length) b[p] = m.value;
        break;
      case 'int':
      case 'add': {
        let v = 0n;
        for (let i = 0; i < m.width && p + i < b.length; i++) v |= BigInt(b[p + i]!) << BigInt(8 * i);
        if (m.k === 'int') v = m.value;
        else v += BigInt(m.delta);
        v = BigInt.asUintN(8 * m.width, v);
        for (let i = 0; i < m.width && p + i < b.length; i++) b[p + i] = Number((v >> BigInt(8 * i)) & 0xffn);
        break;
      }
      case 'truncate':
        b = b.slice(0, p);
        break;
      case 'delete':
        b = concat(b.subarray(0, p), b.subarray(Math.min(b.length, p + m.len)));
        break;
      case 'insert':
        b = concat(b.subarray(0, p), Uint8Array.from(m.bytes), b.subarray(p));
        break;
      case 'splice': {
        const donor = ALL_SEEDS[m.donor % ALL_SEEDS.length]!.bytes;
        const from = donor.length ? m.from % donor.length : 0;
        const chunk = donor.subarray(from, from + m.len);
        b = concat(b.subarray(0, p), chunk, b.subarray(m.overwrite ? Math.min(b.length, p + chunk.length) : p));
        break;
      }
    }
  }
  return b;
}

const seedCase = fc.record({ seed: fc.nat(), muts: mutationsArb });

// ---------------------------------------------------------------------------------------------
// Little writers

const enc = new TextEncoder();

class Bytes {
  private parts: Uint8Array[] = [];
  private cur: number[] = [];
  length = 0;
  push(...xs: number[]): this {
    for (const x of xs) this.cur.push(x & 0xff);
    this.length += xs.length;
    return this;
  }
  raw(b: Uint8Array): this {
    this.flush();
    this.parts.push(b);
    this.length += b.length;
    return this;
  }
  u16(n: number): this {
    return this.push(n, n >>> 8);
  }
  u32(n: number): this {
    return this.push(n, n >>> 8, n >>> 16, n >>> 24);
  }
  u64(n: number | bigint): this {
    const v = BigInt.asUintN(64, BigInt(n));
    for (let i = 0n; i < 8n; i++) this.push(Number((v >> (8n * i)) & 0xffn));
    return this;
  }
  private flush(): void {
    if (this.cur.length) this.parts.push(Uint8Array.from(this.cur));
    this.cur = [];
  }
  bytes(): Uint8Array {
    this.flush();
    return concat(...this.parts);
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

interface ZipMember {
  name: string;
  data: Uint8Array;
  method?: number;
  flags?: number;
  zip64?: boolean;
  /** Lead padding in the local header's extra field, as torch writes it. */
  lead?: number;
}

/** A STORED ZIP archive as torch.save writes it (ZIP64 per member on request). */
function buildZip(members: ZipMember[], opts: { comment?: number; eocdEntries?: number } = {}): Uint8Array {
  const w = new Bytes();
  const central: { m: ZipMember; name: Uint8Array; offset: number; crc: number }[] = [];
  for (const m of members) {
    const name = enc.encode(m.name);
    const offset = w.length;
    const crc = m.data.length <= 4096 ? crc32(m.data) : 0; // the reader does not check CRCs
    const extra = new Bytes();
    if (m.zip64) extra.u16(1).u16(16).u64(m.data.length).u64(m.data.length);
    else if (m.lead)
      extra
        .u16(0xcafe)
        .u16(m.lead)
        .push(...new Array<number>(m.lead).fill(0x5a));
    const ex = extra.bytes();
    const size = m.zip64 ? 0xffffffff : m.data.length;
    w.u32(0x04034b50)
      .u16(45)
      .u16(m.flags ?? 0)
      .u16(m.method ?? 0)
      .u16(0)
      .u16(0)
      .u32(crc)
      .u32(size)
      .u32(size);
    w.u16(name.length).u16(ex.length).raw(name).raw(ex).raw(m.data);
    central.push({ m, name, offset, crc });
  }
  const cd = w.length;
  for (const { m, name, offset, crc } of central) {
    const extra = new Bytes();
    if (m.zip64) extra.u16(1).u16(24).u64(m.data.length).u64(m.data.length).u64(offset);
    const ex = extra.bytes();
    const sat = (v: number) => (m.zip64 ? 0xffffffff : v);
    w.u32(0x02014b50)
      .u16(45)
      .u16(45)
      .u16(m.flags ?? 0)
      .u16(m.method ?? 0)
      .u16(0)
      .u16(0)
      .u32(crc);
    w.u32(sat(m.data.length)).u32(sat(m.data.length)).u16(name.length).u16(ex.length).u16(0).u16(0).u16(0).u32(0);
    w.u32(sat(offset)).raw(name).raw(ex);
  }
  const cdSize = w.length - cd;
  const n = opts.eocdEntries ?? central.length;
  w.u32(SIG_EOCD)
    .u16(0)
    .u16(0)
    .u16(n)
    .u16(n)
    .u32(cdSize)
    .u32(cd)
    .u16(opts.comment ?? 0);
  w.push(...new Array<number>(opts.comment ?? 0).fill(0x20));
  return w.bytes();
}

// ---------------------------------------------------------------------------------------------
// Generated pickles: random value trees and random opcode streams

const STORAGE_TYPES = [
  'FloatStorage',
  'HalfStorage',
  'BFloat16Storage',
  'LongStorage',
  'IntStorage',
  'ByteStorage',
  'BoolStorage',
  'DoubleStorage',
  'ShortStorage',
  'CharStorage',
  'UntypedStorage',
  'Tensor',
];
const STORAGE_ES: Record<string, number> = {
  FloatStorage: 4,
  HalfStorage: 2,
  BFloat16Storage: 2,
  LongStorage: 8,
  IntStorage: 4,
  ByteStorage: 1,
  BoolStorage: 1,
  DoubleStorage: 8,
  ShortStorage: 2,
  CharStorage: 1,
  UntypedStorage: 1,
  Tensor: 4,
};
/** Globals a checkpoint may name: allowed reconstructors, inert classes, refused callables, junk. */
const GLOBALS: [string, string][] = [
  ['collections', 'OrderedDict'],
  ['builtins', 'set'],
  ['builtins', 'list'],
  ['builtins', 'dict'],
  ['builtins', 'bytearray'],
  ['builtins', 'frozenset'],
  ['__builtin__', 'set'],
  ['_codecs', 'encode'],
  ['torch', 'Size'],
  ['torch', 'device'],
  ['torch._utils', '_rebuild_tensor_v2'],
  ['torch._utils', '_rebuild_tensor'],
  ['torch._utils', '_rebuild_parameter'],
  ['torch._tensor', '_rebuild_from_type_v2'],
  ['torch._utils', '_rebuild_qtensor'],
  ['copyreg', '_reconstructor'],
  ['copyreg', '__newobj__'],
  ['argparse', 'Namespace'],
  ['numpy', 'dtype'],
  ['numpy.core.multiarray', '_reconstruct'],
  ['numpy.core.multiarray', 'scalar'],
  ['torch.nn.modules.conv', 'Conv2d'],
  ['zipfile', 'ZipFile'],
  ['_winapi', 'CreateProcess'],
  ['torch', 'load'],
  ['__main__', 'f'],
  ['numpy', 'load'],
  ['posix', 'system'],
  ['os', 'system'],
  ['builtins', 'eval'],
  ['subprocess', 'Popen'],
  ['builtins', 'getattr'],
  ['torch', 'FloatStorage'],
  ['', ''],
  ['a.b', 'c.d'],
];
const DIMS = [0, 1, 1, 2, 2, 3, 4, 5, 8, 16, 64, 255, 2 ** 16, 2 ** 24, 2 ** 31 - 1, 2 ** 40, 1e12, -1];

type PNode =
  | { t: 'none' | 'true' | 'false' | 'emptytuple' }
  | { t: 'int'; v: bigint; op: number }
  | { t: 'float'; v: number }
  | { t: 'str'; v: string; op: number }
  | { t: 'bytes'; n: number; op: number }
  | { t: 'list' | 'tuple' | 'set' | 'frozenset'; items: PNode[]; op: number }
  | { t: 'dict'; items: [PNode, PNode][]; op: number }
  | { t: 'call'; g: number; args: PNode[]; op: number; state: PNode | null; stackGlobal: boolean }
  | { t: 'tensor'; spec: TensorSpec }
  | { t: 'memo'; put: PNode; get: number }
  | { t: 'deep'; depth: number; kind: number }
  | { t: 'long'; n: number }
  | { t: 'raw'; bytes: number[] };

interface TensorSpec {
  type: number;
  key: number;
  numel: number;
  fit: boolean;
  offset: number;
  shape: number[];
  stride: number[];
  contiguous: boolean;
  wrap: number;
  view: number[] | null;
}

const tensorSpecArb: fc.Arbitrary<TensorSpec> = fc.record({
  type: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(0, 1) },
    { weight: 1, arbitrary: fc.nat(STORAGE_TYPES.length - 1) },
  ),
  key: fc.nat(4),
  numel: fc.constantFrom(0, 1, 4, 12, 64, 2 ** 31 - 1, 2 ** 53),
  fit: fc.constantFrom(true, true, true, false),
  offset: fc.constantFrom(0, 0, 0, 0, 1, 3, 11, 2 ** 31 - 1, -1),
  shape: fc.array(fc.constantFrom(...DIMS), { maxLength: 4 }),
  stride: fc.array(fc.constantFrom(0, 0, 1, 1, 2, 3, 4, 12, 2 ** 20, 2 ** 40, -1), { maxLength: 4 }),
  contiguous: fc.constantFrom(true, false, false),
  wrap: fc.nat(3),
  view: fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(0, 1, 4, 2 ** 40, -1), { minLength: 2, maxLength: 2 }) },
  ),
});

const { node: pnodeArb } = fc.letrec<{ node: PNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constantFrom('none' as const, 'true' as const, 'false' as const, 'emptytuple' as const),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('int' as const),
        v: fc.constantFrom(...INTERESTING, -1n, -(2n ** 63n)),
        op: fc.nat(5),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('float' as const), v: fc.double() }) },
    {
      weight: 4,
      arbitrary: fc.record({ t: fc.constant('str' as const), v: fc.string({ maxLength: 12 }), op: fc.nat(5) }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('bytes' as const), n: fc.nat(64), op: fc.nat(3) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constantFrom('list' as const, 'tuple' as const, 'set' as const, 'frozenset' as const),
        items: fc.array(tie('node'), { maxLength: 4 }),
        op: fc.nat(3),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        t: fc.constant('dict' as const),
        items: fc.array(fc.tuple(tie('node'), tie('node')), { maxLength: 4 }),
        op: fc.nat(3),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        t: fc.constant('call' as const),
        g: fc.nat(GLOBALS.length - 1),
        args: fc.array(tie('node'), { maxLength: 4 }),
        op: fc.nat(4),
        state: fc.option(tie('node'), { nil: null }),
        stackGlobal: fc.boolean(),
      }),
    },
    { weight: 6, arbitrary: fc.record({ t: fc.constant('tensor' as const), spec: tensorSpecArb }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('memo' as const), put: tie('node'), get: fc.nat(8) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('deep' as const),
        depth: fc.constantFrom(3, 100, 2_000, 20_000, 100_000),
        kind: fc.nat(3),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('long' as const), n: fc.constantFrom(1, 9, 100, 10_000, 1_000_000) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ t: fc.constant('raw' as const), bytes: fc.array(fc.nat(255), { maxLength: 12 }) }),
    },
  ),
}));

const MARK = 0x28;

/** Serialises a value tree as a pickle body (no PROTO/STOP). `legacy` writes 6-field persistent ids. */
class PickleWriter {
  readonly w = new Bytes();
  private memo = 0;
  /** Storage keys the tensors refer to, with their element size (the legacy format lists them after the object). */
  readonly keys = new Map<number, number>();
  constructor(private readonly legacy: boolean) {}

  str(s: string, op = 0): void {
    const b = enc.encode(s);
    if (op === 1 && b.length < 256) this.w.push(0x8c, b.length).raw(b);
    else if (op === 2) this.w.push(0x8d).u64(b.length).raw(b);
    else if (op === 3) this.w.push(0x54).u32(b.length).raw(b);
    else if (op === 4 && b.length < 256) this.w.push(0x55, b.length).raw(b);
    else this.w.push(0x58).u32(b.length).raw(b);
  }
  int(v: bigint, op = 0): void {
    if (op === 0 && v >= 0n && v < 256n) this.w.push(0x4b, Number(v));
    else if (op === 1 && v >= 0n && v < 65536n) this.w.push(0x4d).u16(Number(v));
    else if (op === 2 && v >= -(2n ** 31n) && v < 2n ** 31n) this.w.push(0x4a).u32(Number(BigInt.asUintN(32, v)));
    else if (op === 3) this.w.raw(enc.encode(`I${v}\n`));
    else {
      const bytes: number[] = [];
      let x = v;
      do {
        bytes.push(Number(BigInt.asUintN(8, x)));
        x >>= 8n;
      } while (
        !(
          (x === 0n && (bytes[bytes.length - 1]! & 0x80) === 0) ||
          (x === -1n && (bytes[bytes.length - 1]! & 0x80) !== 0)
        )
      );
      this.w.push(0x8a, bytes.length, ...bytes);
    }
  }
  global(module: string, name: string, stack: boolean): void {
    if (stack) {
      this.str(module, 1);
      this.str(name, 1);
      this.w.push(0x93);
    } else this.w.push(0x63).raw(enc.encode(`${module}\n${name}\n`));
  }
  tuple(items: (() => void)[]): void {
    this.w.push(MARK);
    for (const f of items) f();
    this.w.push(0x74);
  }

  tensor(s: TensorSpec): void {
    const type = STORAGE_TYPES[s.type]!;
    const es = STORAGE_ES[type]!;
    // Keep the worst allocation a pre-budget reader could make small enough for CI (≤ 128 MiB, or
    // so large that the typed array constructor refuses at once): scale the largest dimension down.
    const shape = [...s.shape];
    const n = shape.reduce((a, d) => a * Math.max(d, 0), 1);
    if (n * es > 2 ** 27 && n * es <= 2 ** 34) {
      const i = shape.indexOf(Math.max(...shape));
      shape[i] = Math.max(1, Math.floor((shape[i]! * 2 ** 27) / (n * es)));
    }
    // strides of the same rank as the shape (a rank mismatch is one case in eight)
    let stride = s.stride.length && s.stride[0] === -1 ? s.stride : shape.map((_, i) => s.stride[i] ?? 0);
    if (s.contiguous) {
      stride = shape.map(() => 1);
      for (let d = shape.length - 2; d >= 0; d--) stride[d] = stride[d + 1]! * shape[d + 1]!;
    }
    const numel = s.fit ? STORAGE_SIZES[s.key]! / es : s.numel;
    if (!this.keys.has(s.key)) this.keys.set(s.key, es);
    const args = () =>
      this.tuple([
        () => {
          this.tuple([
            () => this.str('storage'),
            () => this.global('torch', type, false),
            () => this.str(String(s.key)),
            () => this.str('cpu'),
            () => this.int(BigInt(Math.floor(numel))),
            ...(this.legacy
              ? [
                  () =>
                    s.view
                      ? this.tuple([() => this.str(`v${s.key}`), ...s.view.map((v) => () => this.int(BigInt(v)))])
                      : this.w.push(0x4e),
                ]
              : []),
          ]);
          this.w.push(0x51);
        },
        () => this.int(BigInt(s.offset), 2),
        () => this.tuple(shape.map((d) => () => this.int(BigInt(d), 4))),
        () => this.tuple(stride.map((d) => () => this.int(BigInt(d), 4))),
        ...(s.wrap === 1 ? [] : [() => this.w.push(0x89), () => this.orderedDict()]),
      ]);
    const rebuild = () => {
      this.global('torch._utils', s.wrap === 1 ? '_rebuild_tensor' : '_rebuild_tensor_v2', false);
      args();
      this.w.push(0x52);
    };
    if (s.wrap === 2) {
      this.global('torch._utils', '_rebuild_parameter', false);
      this.tuple([rebuild, () => this.w.push(0x88), () => this.orderedDict()]);
      this.w.push(0x52);
    } else if (s.wrap === 3) {
      this.global('torch._tensor', '_rebuild_from_type_v2', false);
      this.tuple([
        () => this.global('torch._utils', '_rebuild_tensor_v2', false),
        () => this.global('torch.nn.parameter', 'Parameter', false),
        args,
        () => this.w.push(0x7d),
      ]);
      this.w.push(0x52);
    } else rebuild();
  }

  pair(k: PNode, v: PNode): void {
    this.node(k);
    this.node(v);
  }

  orderedDict(): void {
    this.global('collections', 'OrderedDict', false);
    this.w.push(0x29, 0x52);
  }

  node(x: PNode): void {
    const w = this.w;
    switch (x.t) {
      case 'none':
        w.push(0x4e);
        break;
      case 'true':
        w.push(0x88);
        break;
      case 'false':
        w.push(0x89);
        break;
      case 'emptytuple':
        w.push(0x29);
        break;
      case 'int':
        this.int(x.v, x.op);
        break;
      case 'float': {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, x.v, false);
        w.push(0x47).raw(b);
        break;
      }
      case 'str':
        this.str(x.v, x.op);
        break;
      case 'bytes': {
        const b = new Uint8Array(x.n).fill(0x41);
        if (x.op === 0 && x.n < 256) w.push(0x43, x.n).raw(b);
        else if (x.op === 1) w.push(0x8e).u64(x.n).raw(b);
        else if (x.op === 2) w.push(0x96).u64(x.n).raw(b);
        else w.push(0x42).u32(x.n).raw(b);
        break;
      }
      case 'list':
      case 'tuple':
      case 'set':
      case 'frozenset': {
        if (x.t === 'tuple' && x.op < 2 && x.items.length >= 1 && x.items.length <= 3) {
          for (const i of x.items) this.node(i);
          w.push(0x84 + x.items.length);
        } else if (x.t === 'list' && x.op === 0) {
          w.push(0x5d, MARK);
          for (const i of x.items) this.node(i);
          w.push(0x65);
        } else if (x.t === 'set') {
          w.push(0x8f, MARK);
          for (const i of x.items) this.node(i);
          w.push(0x90);
        } else {
          w.push(MARK);
          for (const i of x.items) this.node(i);
          w.push(x.t === 'list' ? 0x6c : x.t === 'frozenset' ? 0x91 : 0x74);
        }
        break;
      }
      case 'dict':
        if (x.op === 0) {
          w.push(MARK);
          for (const [k, v] of x.items) this.pair(k, v);
          w.push(0x64);
        } else if (x.op === 1) {
          w.push(0x7d);
          for (const [k, v] of x.items) {
            this.pair(k, v);
            w.push(0x73);
          }
        } else {
          w.push(0x7d, MARK);
          for (const [k, v] of x.items) this.pair(k, v);
          w.push(0x75);
        }
        break;
      case 'call': {
        const [module, name] = GLOBALS[x.g]!;
        if (x.op === 3) {
          w.push(MARK);
          for (const a of x.args) this.node(a);
          w.push(0x69).raw(enc.encode(`${module}\n${name}\n`));
        } else if (x.op === 4) {
          w.push(MARK);
          this.global(module, name, x.stackGlobal);
          for (const a of x.args) this.node(a);
          w.push(0x6f);
        } else {
          this.global(module, name, x.stackGlobal);
          this.tuple(x.args.map((a) => () => this.node(a)));
          if (x.op === 2) w.push(0x7d, 0x92);
          else w.push(x.op === 1 ? 0x81 : 0x52);
        }
        if (x.state) {
          this.node(x.state);
          w.push(0x62);
        }
        break;
      }
      case 'tensor':
        this.tensor(x.spec);
        break;
      case 'memo':
        this.node(x.put);
        w.push(0x71, this.memo++ & 0xff);
        w.push(0x30, 0x68, x.get < 6 ? (this.memo - 1) & 0xff : x.get);
        break;
      case 'deep': {
        // nesting without recursion in the writer: n empty containers, then n-1 appends / setitems
        const n = x.depth;
        if (x.kind === 0) {
          w.raw(new Uint8Array(n).fill(0x5d));
          w.raw(new Uint8Array(n - 1).fill(0x61));
        } else if (x.kind === 1) {
          // {0: {0: {…}}}: a dict, then (key, dict) n-1 times, then n-1 SETITEMs from the inside out
          w.push(0x7d);
          const kv = new Uint8Array(3 * (n - 1));
          for (let i = 0; i < n - 1; i++) kv.set([0x4b, 0, 0x7d], 3 * i);
          w.raw(kv).raw(new Uint8Array(n - 1).fill(0x73));
        } else if (x.kind === 2) {
          w.raw(new Uint8Array(n).fill(MARK));
          w.raw(new Uint8Array(n).fill(0x74));
        } else {
          w.push(0x4e);
          w.raw(new Uint8Array(n).fill(0x85));
        }
        break;
      }
      case 'long': {
        const b = new Uint8Array(x.n).fill(0x7f);
        w.push(0x8b).u32(x.n).raw(b);
        break;
      }
      case 'raw':
        w.push(...x.bytes);
        break;
    }
  }
}

/** Byte lengths of the storages data/0 … data/4 in generated archives. */
const STORAGE_SIZES = [48, 8, 0, 1024, 6];

function pickleOf(root: PNode, legacy: boolean, proto: number): Uint8Array {
  return pickleWriter(root, legacy, proto).w.bytes();
}

function pickleWriter(root: PNode, legacy: boolean, proto: number): PickleWriter {
  const p = new PickleWriter(legacy);
  p.w.push(0x80, proto);
  p.node(root);
  p.w.push(0x2e);
  return p;
}

/** `{'state_dict': OrderedDict(k_i: node_i), …}` and friends: what the readers look for, with generated values. */
const checkpointArb = fc.record({
  entries: fc.array(
    fc.tuple(
      fc.constantFrom('w', 'b', 'module.w', 'layer.0.weight', '', 'state_dict'),
      fc.oneof(
        { weight: 4, arbitrary: fc.record({ t: fc.constant('tensor' as const), spec: tensorSpecArb }) },
        { weight: 1, arbitrary: pnodeArb },
      ),
    ),
    {
      maxLength: 5,
    },
  ),
  wrapper: fc.nat(3),
  extra: fc.option(pnodeArb, { nil: null }),
  proto: fc.constantFrom(2, 2, 2, 2, 3, 4, 5, 5, 6),
});

function checkpointNode(c: ValueOf<typeof checkpointArb>): PNode {
  const key = (k: string): PNode => ({ t: 'str', v: k, op: 0 });
  const items: [PNode, PNode][] = c.entries.map(([k, v]) => [key(k), v]);
  // a dict (SETITEMS or DICT), or OrderedDict([(k, v), …]) through REDUCE
  const sd: PNode =
    c.wrapper === 2
      ? {
          t: 'call',
          g: 0,
          args: [{ t: 'list', items: items.map(([k, v]) => ({ t: 'tuple', items: [k, v], op: 2 })), op: 1 }],
          op: 0,
          state: null,
          stackGlobal: false,
        }
      : { t: 'dict', items, op: c.wrapper === 0 ? 2 : 0 };
  if (c.wrapper === 3) return sd;
  const top: [PNode, PNode][] = [[key(c.wrapper === 1 ? 'model' : 'state_dict'), sd]];
  if (c.extra) top.push([key('args'), c.extra]);
  return { t: 'dict', items: top, op: 2 };
}

function zipCheckpoint(pkl: Uint8Array, opts: { zip64?: boolean; lead?: number } = {}): Uint8Array {
  return buildZip([
    { name: 'archive/data.pkl', data: pkl, ...opts },
    { name: 'archive/byteorder', data: enc.encode('little') },
    ...STORAGE_SIZES.map((n, i) => ({ name: `archive/data/${i}`, data: new Uint8Array(n).fill(i + 1), ...opts })),
    { name: 'archive/version', data: enc.encode('3\n') },
  ]);
}

/** The legacy format: magic, protocol, sys_info, the object, the storage key list, then each storage. */
function legacyCheckpoint(pkl: Uint8Array, keys: Map<number, number>, counts: number[]): Uint8Array {
  const w = new Bytes();
  w.push(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e); // 0x1950a86a20f9469cfc6c
  w.push(0x80, 2, 0x4d).u16(1001).push(0x2e);
  w.push(0x80, 2, 0x7d, 0x2e);
  w.raw(pkl);
  w.push(0x80, 2, MARK);
  for (const k of keys.keys())
    w.push(0x58)
      .u32(String(k).length)
      .raw(enc.encode(String(k)));
  w.push(0x6c, 0x2e);
  let i = 0;
  for (const [k, es] of keys) {
    const n = Math.floor(STORAGE_SIZES[k % STORAGE_SIZES.length]! / es);
    w.u64(counts[i++] ?? n);
    w.raw(new Uint8Array(n * es).fill(k + 1));
  }
  return w.bytes();
}

/** A random opcode stream: each step is an opcode with a plausible argument, so runs get past the first byte. */
const opcodeStreamArb = fc.array(
  fc.oneof(
    fc.record({
      op: fc.constantFrom(
        0x28,
        0x2e,
        0x30,
        0x31,
        0x32,
        0x4e,
        0x88,
        0x89,
        0x29,
        0x5d,
        0x7d,
        0x8f,
        0x61,
        0x65,
        0x73,
        0x75,
        0x90,
        0x91,
        0x74,
        0x6c,
        0x64,
        0x85,
        0x86,
        0x87,
        0x52,
        0x81,
        0x92,
        0x62,
        0x93,
        0x94,
        0x51,
        0x6f,
      ),
      arg: fc.constant([] as number[]),
    }),
    fc.record({
      op: fc.constantFrom(0x4b, 0x71, 0x68, 0x8a, 0x43, 0x55, 0x8c),
      arg: fc.array(fc.nat(255), { minLength: 1, maxLength: 6 }),
    }),
    fc.record({
      op: fc.constantFrom(0x4a, 0x58, 0x42, 0x54, 0x8b, 0x6a, 0x72, 0x4d),
      arg: fc.array(fc.nat(255), { minLength: 4, maxLength: 10 }),
    }),
    fc.record({
      op: fc.constantFrom(0x8d, 0x8e, 0x96, 0x95, 0x47),
      arg: fc.array(fc.nat(255), { minLength: 8, maxLength: 12 }),
    }),
    fc.record({
      op: fc.constantFrom(0x63, 0x69, 0x49, 0x4c, 0x46, 0x53, 0x56, 0x70, 0x67, 0x50),
      arg: fc.constantFrom(
        ...['torch\nSize\n', 'os\nsystem\n', '12\n', 'x\n', 'collections\nOrderedDict\n', "'a'\n", '1e309\n'].map(
          (s) => [...enc.encode(s)],
        ),
      ),
    }),
    fc.record({ op: fc.constant(0x80), arg: fc.constantFrom<number[]>([2], [5], [6], [255]) }),
  ),
  { maxLength: 40 },
);

// ---------------------------------------------------------------------------------------------
// Generated safetensors

const DTYPES = ['F32', 'F16', 'BF16', 'I64', 'I32', 'U8', 'F64', 'I8', 'BOOL', 'f32', '', 'F8_E4M3'];
/** Shape dimensions, as JSON text (so 1e300, 1e400 = Infinity, -0 and 2.5 can be written). */
const JSON_DIMS = [
  '0',
  '1',
  '2',
  '3',
  '4',
  '7',
  '16',
  '64',
  '-1',
  '2.5',
  '1e300',
  '1e400',
  '9007199254740993',
  '4294967296',
  '"3"',
  'null',
  '[]',
];

const stEntryArb = fc.record({
  name: fc.constantFrom('w', 'b', 'a.b', '', '__proto__', 'constructor', 'x'.repeat(300), '\u00e9'),
  dtype: fc.nat(DTYPES.length - 1),
  shape: fc.array(
    fc.oneof(
      { weight: 6, arbitrary: fc.nat(4) },
      { weight: 1, arbitrary: fc.nat(JSON_DIMS.length - 1).map((i) => i + 100) },
    ),
    { maxLength: 4 },
  ),
  offsets: fc.constantFrom(
    'contiguous',
    'contiguous',
    'contiguous',
    'shift',
    'overlap',
    'gap',
    'swap',
    'huge',
    'negative',
    'float',
    'short',
    'missing',
  ),
  junk: fc.option(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(null)), { nil: undefined, freq: 8 }),
});

const safetensorsArb = fc.record({
  entries: fc.array(stEntryArb, { maxLength: 6 }),
  metadata: fc.option(
    fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 })), fc.jsonValue({ maxDepth: 2 })),
    { nil: undefined },
  ),
  lengthField: fc.constantFrom('exact', 'exact', 'exact', 'minus', 'plus', 'huge', 'zero'),
  padding: fc.constantFrom('', '', '   ', '\u0000', '\ufeff', '}', 'x'),
  trailing: fc.constantFrom(0, 0, 0, 1, 8, -1, -4),
  special: fc.constantFrom(
    'none',
    'none',
    'none',
    'none',
    'deep-array',
    'deep-object',
    'many',
    'duplicate',
    'null-entry',
    'bom',
    'array-header',
  ),
  depth: fc.constantFrom(10, 1_000, 50_000, 250_000),
});

function safetensorsBytes(c: ValueOf<typeof safetensorsArb>): Uint8Array {
  const parts: string[] = [];
  let off = 0;
  const spans: [number, number][] = [];
  for (const [i, e] of c.entries.entries()) {
    const dims = e.shape.map((d) => (d >= 100 ? JSON_DIMS[d - 100]! : String(d)));
    const numeric = e.shape.map((d) => (d >= 100 ? Number(JSON_DIMS[d - 100]) : d));
    const n = numeric.reduce((a, d) => a * (Number.isFinite(d) ? d : 0), 1);
    const size = (DTYPE_BYTES as Record<string, number>)[DTYPES[e.dtype]!] ?? 4;
    const len = Number.isSafeInteger(n * size) && n * size < 4096 ? n * size : 16;
    let b = off;
    let en = off + len;
    if (e.offsets === 'shift') [b, en] = [b + 4, en + 4];
    else if (e.offsets === 'overlap' && spans.length) [b, en] = [spans[0]![0], spans[0]![0] + len];
    else if (e.offsets === 'gap') [b, en] = [b + 8, en + 8];
    else if (e.offsets === 'swap') [b, en] = [en, b];
    spans.push([b, en]);
    off = Math.max(off, en);
    const offsets =
      e.offsets === 'huge'
        ? `[${b}, 1e300]`
        : e.offsets === 'negative'
          ? `[-${len}, 0]`
          : e.offsets === 'float'
            ? `[${b}.5, ${en}]`
            : e.offsets === 'short'
              ? `[${b}]`
              : `[${b}, ${en}]`;
    const fields = [`"dtype": ${JSON.stringify(DTYPES[e.dtype])}`, `"shape": [${dims.join(', ')}]`];
    if (e.offsets !== 'missing') fields.push(`"data_offsets": ${offsets}`);
    const value = e.junk !== undefined ? JSON.stringify(e.junk) : `{${fields.join(', ')}}`;
    const name = c.special === 'duplicate' && i > 0 ? c.entries[0]!.name : e.name;
    parts.push(`${JSON.stringify(name)}: ${value}`);
  }
  if (c.metadata !== undefined) parts.push(`"__metadata__": ${JSON.stringify(c.metadata)}`);
  if (c.special === 'null-entry') parts.push('"n": null');
  let header: string;
  if (c.special === 'deep-array')
    header = `{"w": {"dtype": "F32", "shape": ${'['.repeat(c.depth)}${']'.repeat(c.depth)}, "data_offsets": [0, 0]}}`;
  else if (c.special === 'deep-object') header = `{"__metadata__": ${'{"a":'.repeat(c.depth)}1${'}'.repeat(c.depth)}}`;
  else if (c.special === 'many') {
    const n = Math.min(c.depth, 20_000);
    const ps: string[] = [];
    for (let i = 0; i < n; i++) ps.push(`"t${i}": {"dtype": "U8", "shape": [1], "data_offsets": [${i}, ${i + 1}]}`);
    header = `{${ps.join(',')}}`;
    off = n;
  } else if (c.special === 'array-header') header = `[${parts.join(', ')}]`;
  else header = `{${parts.join(', ')}}`;
  if (c.special === 'bom') header = `\ufeff${header}`;
  header += c.padding;
  const json = enc.encode(header);
  const dataLen = Math.max(0, off + c.trailing);
  const n = json.length;
  const lengthField =
    c.lengthField === 'exact'
      ? n
      : c.lengthField === 'minus'
        ? n - 1
        : c.lengthField === 'plus'
          ? n + 1
          : c.lengthField === 'zero'
            ? 0
            : 2 ** 62;
  return new Bytes().u64(lengthField).raw(json).raw(new Uint8Array(dataLen).fill(0x3f)).bytes();
}

// ---------------------------------------------------------------------------------------------
// The fuzzers

const readers = {
  safetensors: (b: Uint8Array) => readSafetensors(b),
  pickle: (b: Uint8Array) => unpickle(b, { persistentLoad: (pid) => pid }),
  pickleAllowUnknown: (b: Uint8Array) => unpickle(b, { persistentLoad: (pid) => pid, allowUnknownGlobals: true }),
  zip: (b: Uint8Array) => readZip(b),
  readPth: (b: Uint8Array) => readPth(b),
  readPthUpcast: (b: Uint8Array) => readPth(b, { upcast: true }),
  loadPthStateDict: (b: Uint8Array) => loadPthStateDict(b),
  readPthAllowUnknown: (b: Uint8Array) => readPth(b, { allowUnknownGlobals: true }),
} satisfies Record<string, Reader>;
type ReaderName = keyof typeof readers;
const pthReaders: ReaderName[] = ['readPth', 'loadPthStateDict', 'readPthUpcast', 'readPthAllowUnknown'];

describe('fuzz (seeded; DYNAVIT_FUZZ_RUNS=n for more)', () => {
  // The fuzzers are synchronous and vitest runs tests back to back with only microtask turns between
  // them, so without this the worker's event loop would not turn for the whole file (over 60 s on a slow
  // 2-core machine) and vitest's RPC to the main process times out. Let it turn after every test.
  afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));

  it('safetensors: mutated fixtures and generated headers parse or throw a DynavitError, in time and memory', () => {
    fuzz('safetensors/mutated', 1, 3000, seedCase, (c, x) => {
      const seed = SAFETENSORS_SEEDS[x.seed % SAFETENSORS_SEEDS.length]!;
      c.check(mutate(seed, x.muts), readers.safetensors, `mutated ${seed.name}`);
    });
    fuzz('safetensors/generated', 2, 3000, safetensorsArb, (c, x) => {
      c.check(safetensorsBytes(x), readers.safetensors, `generated header (${x.special})`);
    });
  });

  it('safetensors streaming: mutated fixtures and generated headers, in chunks of random sizes', async () => {
    const input = fc.oneof(
      fc.record({ seed: fc.nat(), muts: mutationsArb }).map((x) => ({ kind: 'mutated' as const, ...x })),
      safetensorsArb.map((x) => ({ kind: 'generated' as const, x })),
    );
    const streamCase = fc.record({
      input,
      chunks: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 8 }),
      total: fc.constantFrom('none', 'right', 'wrong', 'huge'),
    });
    await fuzzAsync('safetensors/stream', 12, 1000, streamCase, async (c, { input, chunks, total }) => {
      const bytes =
        input.kind === 'mutated'
          ? mutate(SAFETENSORS_SEEDS[input.seed % SAFETENSORS_SEEDS.length]!, input.muts)
          : safetensorsBytes(input.x);
      // the stream hands out the bytes in chunks of the given sizes, cycling; on demand (pull), since
      // Node's stream queue is quadratic in the number of chunks enqueued ahead
      const stream = (b: Uint8Array) => {
        let p = 0;
        let i = 0;
        return new ReadableStream<Uint8Array>({
          pull(controller) {
            if (p >= b.length) return controller.close();
            const n = chunks[i++ % chunks.length]!;
            controller.enqueue(b.slice(p, p + n));
            p += n;
          },
        });
      };
      const declared = { none: null, right: bytes.length, wrong: Math.max(0, bytes.length - 100), huge: 2 ** 50 }[
        total
      ];
      await c.checkAsync(
        bytes,
        (b) => readSafetensorsStream(stream(b), { total: declared }),
        `stream of ${input.kind} (total ${total})`,
      );
    });
  });

  it('pickle: mutated checkpoint pickles, generated value trees and opcode streams', () => {
    fuzz('pickle/mutated', 3, 2000, seedCase, (c, x) => {
      const seed = PICKLE_SEEDS[x.seed % PICKLE_SEEDS.length]!;
      c.check(mutate(seed, x.muts), readers.pickle, `mutated ${seed.name}`);
    });
    const generated = fc.record({ root: pnodeArb, proto: fc.constantFrom(2, 4, 5), allowUnknown: fc.boolean() });
    fuzz('pickle/generated', 4, 3000, generated, (c, x) => {
      const r = x.allowUnknown ? 'pickleAllowUnknown' : 'pickle';
      c.check(pickleOf(x.root, false, x.proto), readers[r], `${r} on a generated pickle (${x.root.t})`);
    });
    fuzz('pickle/opcodes', 5, 3000, opcodeStreamArb, (c, ops) => {
      const b = new Bytes().push(0x80, 2);
      for (const { op, arg } of ops) b.push(op, ...arg);
      c.check(b.bytes(), readers.pickle, 'random opcode stream');
    });
  });

  it('zip: mutated checkpoints and generated archives', () => {
    fuzz('zip/mutated', 6, 2000, seedCase, (c, x) => {
      const seed = ZIP_SEEDS[x.seed % ZIP_SEEDS.length]!;
      c.check(mutate(seed, x.muts), readers.zip, `mutated ${seed.name}`);
    });
    const memberArb = fc.record({
      name: fc.constantFrom('a/data.pkl', 'a/data/0', '', 'x'.repeat(70_000).slice(0, 65_535)),
      size: fc.nat(64),
      method: fc.constantFrom(0, 0, 0, 8, 99),
      flags: fc.constantFrom(0, 0, 1, 8),
      zip64: fc.boolean(),
      lead: fc.nat(70),
    });
    fuzz(
      'zip/generated',
      7,
      1500,
      fc.record({
        members: fc.array(memberArb, { maxLength: 4 }),
        comment: fc.constantFrom(0, 0, 5),
        entries: fc.option(fc.constantFrom(0, 1, 0xffff), { nil: undefined }),
        muts: fc.array(mutationArb, { maxLength: 2 }),
      }),
      (c, x) => {
        const zip = buildZip(
          x.members.map((m) => ({
            name: m.name,
            data: new Uint8Array(m.size),
            method: m.method,
            flags: m.flags,
            zip64: m.zip64,
            lead: m.lead,
          })),
          { comment: x.comment, eocdEntries: x.entries },
        );
        c.check(x.muts.length ? mutate(zipSeed('generated', zip), x.muts) : zip, readers.zip, 'generated archive');
      },
    );
  });

  it('.pth (ZIP and legacy): mutated checkpoints and generated ones', () => {
    const readerArb = fc.nat(pthReaders.length - 1);
    fuzz('pth/zip-mutated', 8, 2000, fc.record({ seed: fc.nat(), muts: mutationsArb, reader: readerArb }), (c, x) => {
      const seed = ZIP_SEEDS[x.seed % ZIP_SEEDS.length]!;
      const r = pthReaders[x.reader]!;
      c.check(mutate(seed, x.muts), readers[r], `${r} on mutated ${seed.name}`);
    });
    fuzz('pth/legacy-mutated', 9, 800, fc.record({ seed: fc.nat(), muts: mutationsArb, reader: readerArb }), (c, x) => {
      const seed = LEGACY_SEEDS[x.seed % LEGACY_SEEDS.length]!;
      const r = pthReaders[x.reader]!;
      c.check(mutate(seed, x.muts), readers[r], `${r} on mutated ${seed.name}`);
    });
    fuzz(
      'pth/pickle-mutated',
      10,
      1200,
      fc.record({ seed: fc.nat(), muts: mutationsArb, reader: readerArb }),
      (c, x) => {
        // a valid archive around a mutated data.pkl: the pickle and tensor paths, not the ZIP checks
        const seed = ZIP_SEEDS[x.seed % ZIP_SEEDS.length]!;
        const files = readZip(seed.bytes);
        const pklName = [...files.keys()].find((k) => k.endsWith('data.pkl'))!;
        const pkl = mutate(
          { name: pklName, bytes: files.get(pklName)!, regions: [[0, files.get(pklName)!.length]] },
          x.muts,
        );
        const r = pthReaders[x.reader]!;
        const zip = buildZip([...files].map(([name, data]) => ({ name, data: name === pklName ? pkl : data })));
        c.check(zip, readers[r], `${r} on ${seed.name} with a mutated ${pklName}`);
      },
    );
    fuzz(
      'pth/generated',
      11,
      3000,
      fc.record({
        ckpt: checkpointArb,
        legacy: fc.boolean(),
        zip64: fc.boolean(),
        reader: readerArb,
        counts: fc.oneof(
          { weight: 3, arbitrary: fc.constant([] as number[]) },
          { weight: 1, arbitrary: fc.array(fc.constantFrom(0, 1, 6, 2 ** 40), { maxLength: 2 }) },
        ),
      }),
      (c, x) => {
        const r = pthReaders[x.reader]!;
        const p = pickleWriter(checkpointNode(x.ckpt), x.legacy, x.ckpt.proto);
        const pkl = p.w.bytes();
        const bytes = x.legacy ? legacyCheckpoint(pkl, p.keys, x.counts) : zipCheckpoint(pkl, { zip64: x.zip64 });
        c.check(bytes, readers[r], `${r} on a generated ${x.legacy ? 'legacy' : 'ZIP'} checkpoint`);
      },
    );
  });
});

describe('fuzz findings kept in __fixtures__/fuzz (minimal inputs that once broke the property)', () => {
  const files = listDir(findingsDir)
    .filter((f) => f.endsWith('.bin'))
    .sort();
  it.each(files)('%s', (f) => {
    // the name starts with the reader that broke: safetensors, pickle, zip, readPth, readPthUpcast, loadPthStateDict
    const reader = f.split('.')[0] as ReaderName;
    expect(Object.keys(readers)).toContain(reader);
    new Campaign('findings', 0).check(load(new URL(f, findingsDir)), readers[reader], f);
  });
});
