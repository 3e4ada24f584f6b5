/**
 * Seeded property-based fuzzer (fast-check) over the image reader: mutated PNG / JPEG / WebP bytes
 * of the fixture photos (bit flips, byte sets, truncations, deletions, insertions, length-field
 * mutations biased to the headers), and forged headers that declare huge or degenerate dimensions
 * (PNG IHDR with a valid CRC, JPEG SOF, WebP VP8/VP8L/VP8X canvas) in front of the real image data.
 *
 * The property, for every input: `readImageHeader` (when the module has it) and `readImage` return
 * a well-formed image (data = width × height × 3 bytes) or throw a `DynavitError` with a one-line
 * message, within LIMIT_MS each, and the process's resident memory grows by no more than
 * RSS_LIMIT. Seeds are fixed; `DYNAVIT_FUZZ_RUNS=n` runs n inputs per fuzzer, `DYNAVIT_FUZZ_SEED=s`
 * changes the seeds, `DYNAVIT_FUZZ_SURVEY=dir` goes on past failures and writes the smallest input of each
 * kind of failure to dir. Each fuzzer prints one summary line. Inputs that broke the property are kept in
 * `__fixtures__/fuzz/` and replayed by the last tests.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { DynavitError } from '@dynavit/core';
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import * as images from './images.js';

const LIMIT_MS = 2000;
/** The default pixel budget of the image reader (64 MP): nothing larger may be decoded without raising it. */
const MAX_PIXELS = 64e6;
/** Decoding an image of the default pixel budget yields 64 MP × 3 bytes (about 190 MB); twice that, and an allowance. */
const RSS_LIMIT = 512 * 2 ** 20;
const SEED_BASE = Number(process.env.DYNAVIT_FUZZ_SEED ?? 18_000);
const runs = (n: number): number => {
  const env = Number(process.env.DYNAVIT_FUZZ_RUNS);
  return Number.isInteger(env) && env > 0 ? env : n;
};
/** `DYNAVIT_FUZZ_SURVEY=dir`: do not stop at the first failure; write the smallest input of each kind of failure to dir. */
const SURVEY = process.env.DYNAVIT_FUZZ_SURVEY;
const surveyed = new Map<string, { message: string; bytes: Uint8Array }>();
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

type Step = (path: string) => Promise<unknown>;
const header = (images as Record<string, unknown>).readImageHeader as Step | undefined;
const steps: [string, Step][] = [
  ...(header ? [['readImageHeader', header] as [string, Step]] : []),
  ['readImage', (p) => images.readImage(p)],
];

const dir = mkdtempSync(join(tmpdir(), 'dynavit-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

class Campaign {
  tried = 0;
  decoded = 0;
  readonly codes = new Map<string, number>();
  maxMs = 0;
  maxRss = 0;
  readonly started = performance.now();
  constructor(
    readonly name: string,
    readonly seed: number,
  ) {}

  /** Throws (a property failure) unless every step returns a well-formed image or throws a one-line DynavitError, in time and memory. */
  async check(input: Uint8Array, what: string): Promise<void> {
    this.tried++;
    const path = join(dir, `in-${fileNo++ % 4}.img`);
    writeFileSync(path, input);
    for (const [name, step] of steps) {
      const fail: (why: string) => never = (why) => {
        const message = `${this.name}: ${name} on ${what} (${input.length} bytes): ${why}`;
        if (SURVEY) {
          const kind = `${this.name} ${name}: ${why.replace(/\d+(\.\d+)?/g, 'N').slice(0, 80)}`;
          const old = surveyed.get(kind);
          if (old === undefined || old.bytes.length > input.length)
            surveyed.set(kind, { message, bytes: input.slice() });
        }
        throw new Error(message);
      };
      const rss0 = process.memoryUsage().rss;
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), LIMIT_MS * 2);
      });
      let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | 'timeout';
      try {
        outcome = await Promise.race([step(path).then((value) => ({ ok: true as const, value })), timeout]);
      } catch (error) {
        outcome = { ok: false, error };
      } finally {
        clearTimeout(timer);
      }
      const ms = performance.now() - t0;
      const grew = process.memoryUsage().rss - rss0;
      this.maxMs = Math.max(this.maxMs, ms);
      this.maxRss = Math.max(this.maxRss, grew);
      if (outcome === 'timeout') fail(`still running after ${LIMIT_MS * 2} ms (limit ${LIMIT_MS} ms)`);
      if (!outcome.ok) {
        const e = outcome.error as Error;
        if (!DynavitError.isInstance(e)) fail(`not a DynavitError: ${e?.name}: ${String(e?.message).slice(0, 300)}`);
        const d = e as DynavitError;
        if (d.message.includes('\n'))
          fail(`${d.code} message is not one line: ${JSON.stringify(d.message.slice(0, 300))}`);
        this.codes.set(`${name} ${d.code}`, (this.codes.get(`${name} ${d.code}`) ?? 0) + 1);
        if (ms > LIMIT_MS) fail(`took ${Math.round(ms)} ms (limit ${LIMIT_MS} ms)`);
        if (grew > RSS_LIMIT) fail(`resident memory grew by ${mib(grew)} (limit ${mib(RSS_LIMIT)})`);
        return; // a refused header is not decoded
      }
      if (name === 'readImage') {
        this.decoded++;
        const img = outcome.value as images.RGBImage;
        if (!(Number.isSafeInteger(img.width) && img.width > 0 && Number.isSafeInteger(img.height) && img.height > 0))
          fail(`decoded to a ${img.width}×${img.height} image`);
        if (img.data.length !== img.width * img.height * 3)
          fail(
            `decoded ${img.width}×${img.height} to ${img.data.length} bytes (expected ${img.width * img.height * 3})`,
          );
        if (img.width * img.height > MAX_PIXELS)
          fail(`decoded ${img.width}×${img.height} pixels, over the default pixel budget of ${MAX_PIXELS / 1e6} MP`);
      }
      if (ms > LIMIT_MS) fail(`took ${Math.round(ms)} ms (limit ${LIMIT_MS} ms)`);
      if (grew > RSS_LIMIT) fail(`resident memory grew by ${mib(grew)} (limit ${mib(RSS_LIMIT)})`);
    }
  }

  summary(): string {
    const codes = [...this.codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
    const s = ((performance.now() - this.started) / 1000).toFixed(1);
    return (
      `fuzz ${this.name} (seed ${this.seed}): ${this.tried} inputs in ${s} s — decoded ${this.decoded}` +
      `${codes.length ? `, DynavitError ${codes.join(', ')}` : ''}; slowest ${Math.round(this.maxMs)} ms,` +
      ` largest rss growth ${mib(Math.max(0, this.maxRss))}`
    );
  }
}

async function fuzz<T>(
  name: string,
  seedOffset: number,
  numRuns: number,
  arb: fc.Arbitrary<T>,
  body: (c: Campaign, x: T) => Promise<void>,
): Promise<void> {
  const seed = SEED_BASE + seedOffset;
  const campaign = new Campaign(name, seed);
  try {
    if (SURVEY) {
      await fc.check(
        fc.asyncProperty(arb, async (x) => {
          try {
            await body(campaign, x);
          } catch {}
        }),
        { seed, numRuns: runs(numRuns) },
      );
      mkdirSync(SURVEY, { recursive: true });
      for (const [kind, { message, bytes }] of surveyed) {
        const file = join(SURVEY, `${createHash('sha1').update(kind).digest('hex').slice(0, 10)}.img`);
        writeFileSync(file, bytes);
        console.log(`survey: ${file}: ${message}`);
      }
      surveyed.clear();
    }
    // endOnFailure: a failing input can take seconds, so report it without shrinking
    else
      await fc.assert(
        fc.asyncProperty(arb, (x) => body(campaign, x)),
        { seed, numRuns: runs(numRuns), endOnFailure: true },
      );
  } finally {
    console.log(campaign.summary());
  }
}

// ---------------------------------------------------------------------------------------------
// Seeds and mutations

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./__fixtures__/images/${name}`, import.meta.url)));
const SEEDS = [
  { name: 'chelsea.png', bytes: fixture('chelsea.png') },
  { name: 'coffee.jpg', bytes: fixture('coffee.jpg') },
  { name: 'coffee.webp', bytes: fixture('coffee.webp') },
];

const INTERESTING = [0n, 1n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn];

type Mutation =
  | { k: 'flip'; head: boolean; at: number; bit: number }
  | { k: 'set'; head: boolean; at: number; value: number }
  | { k: 'int'; head: boolean; at: number; width: 1 | 2 | 4; value: bigint; bigEndian: boolean }
  | { k: 'truncate'; head: boolean; at: number }
  | { k: 'delete'; head: boolean; at: number; len: number }
  | { k: 'insert'; head: boolean; at: number; bytes: number[] };

const head = fc.boolean();
const at = fc.nat();
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('flip' as const), head, at, bit: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('set' as const), head, at, value: fc.nat(255) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('int' as const),
      head,
      at,
      width: fc.constantFrom<1 | 2 | 4>(1, 2, 4),
      value: fc.constantFrom(...INTERESTING),
      bigEndian: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('truncate' as const), head, at }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('delete' as const), head, at, len: fc.nat(64) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('insert' as const),
      head,
      at,
      bytes: fc.array(fc.nat(255), { maxLength: 16 }),
    }),
  },
);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Positions fall in the first 64 bytes (the headers) when `head`, anywhere otherwise. */
function mutate(bytes: Uint8Array, muts: Mutation[]): Uint8Array {
  let b: Uint8Array = bytes.slice();
  for (const m of muts) {
    const span = m.head ? Math.min(64, b.length) : b.length;
    const p = span ? m.at % span : 0;
    switch (m.k) {
      case 'flip':
        if (p < b.length) b[p]! ^= 1 << m.bit;
        break;
      case 'set':
        if (p < b.length) b[p] = m.value;
        break;
      case 'int':
        for (let i = 0; i < m.width && p + i < b.length; i++) {
          const shift = BigInt(8 * (m.bigEndian ? m.width - 1 - i : i));
          b[p + i] = Number((m.value >> shift) & 0xffn);
        }
        break;
      case 'truncate':
        b = b.slice(0, p);
        break;
      case 'delete':
        b = concat(b.subarray(0, p), b.subarray(Math.min(b.length, p + m.len)));
        break;
      case 'insert':
        b = concat(b.subarray(0, p), Uint8Array.from(m.bytes), b.subarray(p));
        break;
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------
// Forged headers

function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

const DIMS = [0, 1, 2, 200, 301, 3000, 16000, 30000, 65535, 65536, 2 ** 31 - 1, 2 ** 32 - 1];

const forgedArb = fc
  .record({
    format: fc.constantFrom('png', 'png', 'jpeg', 'jpeg', 'webp'),
    width: fc.constantFrom(...DIMS),
    height: fc.constantFrom(...DIMS),
    bitDepth: fc.constantFrom(8, 8, 8, 16, 1, 1, 3),
    colorType: fc.constantFrom(2, 2, 2, 6, 0, 0, 3, 7),
    data: fc.constantFrom<ForgedCase['data']>('keep', 'keep', 'none', 'zeros', 'zeros'),
  })
  // zeros decode for real: low bit depth keeps the stream small; sizes between 1 MP and the default
  // budget (64 MP) are legitimate images that may take seconds to decode, so they are left out
  .map((x) => (x.data === 'zeros' ? { ...x, bitDepth: 1, colorType: 0 } : x))
  .filter((x) => x.data !== 'zeros' || x.width * x.height <= 1e6 || x.width * x.height > 64e6);

/** The fixture with its declared dimensions replaced (PNG: IHDR with a valid CRC; JPEG: every SOF; WebP: the VP8 frame or VP8X canvas). */
function forge(x: ForgedCase): Uint8Array {
  if (x.format === 'png') {
    const b = SEEDS[0]!.bytes.slice();
    const dv = new DataView(b.buffer);
    dv.setUint32(16, x.width >>> 0);
    dv.setUint32(20, x.height >>> 0);
    b[24] = x.bitDepth;
    b[25] = x.colorType;
    dv.setUint32(29, crc32(b.subarray(12, 29)));
    const iend = Uint8Array.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
    if (x.data === 'none') return concat(b.subarray(0, 33), iend);
    const idat = x.data === 'zeros' ? zerosIdat(x) : undefined;
    return idat ? concat(b.subarray(0, 33), idat, iend) : b;
  }
  if (x.format === 'jpeg') {
    const b = SEEDS[1]!.bytes.slice();
    const dv = new DataView(b.buffer);
    for (let i = 2; i + 9 < b.length; ) {
      if (b[i] !== 0xff) break;
      const marker = b[i + 1]!;
      const len = dv.getUint16(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
        dv.setUint16(i + 5, x.height & 0xffff);
        dv.setUint16(i + 7, x.width & 0xffff);
      }
      if (marker === 0xda) break;
      i += 2 + len;
    }
    return x.data === 'none' ? b.subarray(0, Math.min(b.length, 700)) : b;
  }
  const b = SEEDS[2]!.bytes.slice();
  const dv = new DataView(b.buffer);
  const chunk = String.fromCharCode(...b.subarray(12, 16));
  if (chunk === 'VP8 ') {
    dv.setUint16(26, x.width & 0x3fff, true);
    dv.setUint16(28, x.height & 0x3fff, true);
  } else if (chunk === 'VP8X') {
    const w = (x.width - 1) & 0xffffff;
    const h = (x.height - 1) & 0xffffff;
    b.set([w & 0xff, (w >> 8) & 0xff, w >> 16, h & 0xff, (h >> 8) & 0xff, h >> 16], 24);
  } else if (chunk === 'VP8L') {
    const v = ((x.width - 1) & 0x3fff) | (((x.height - 1) & 0x3fff) << 14);
    dv.setUint32(21, (dv.getUint32(21, true) & 0xf0000000) | v, true);
  }
  return x.data === 'none' ? b.subarray(0, Math.min(b.length, 64)) : b;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const idats = new Map<string, Uint8Array | undefined>();

/** An IDAT chunk holding a valid zlib stream of zero rows for the declared size (what makes a small PNG decode slowly); undefined above 64 MB raw. */
function zerosIdat(x: ForgedCase): Uint8Array | undefined {
  const key = `${x.width}x${x.height}x${x.bitDepth}x${x.colorType}`;
  if (!idats.has(key)) {
    const rowBytes = Math.ceil((x.width * x.bitDepth * (CHANNELS[x.colorType] ?? 3)) / 8) + 1;
    const raw = rowBytes * x.height;
    let chunk: Uint8Array | undefined;
    if (raw > 0 && raw <= 64 * 2 ** 20) {
      const z = deflateSync(new Uint8Array(raw), { level: 9 });
      chunk = new Uint8Array(12 + z.length);
      const dv = new DataView(chunk.buffer);
      dv.setUint32(0, z.length);
      chunk.set([0x49, 0x44, 0x41, 0x54], 4);
      chunk.set(z, 8);
      dv.setUint32(8 + z.length, crc32(chunk.subarray(4, 8 + z.length)));
    }
    idats.set(key, chunk);
  }
  return idats.get(key);
}

interface ForgedCase {
  format: string;
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** The fixture's own image data, none, or a valid zlib stream of zeros for the declared size (PNG, up to 64 MB raw). */
  data: 'keep' | 'none' | 'zeros';
}

describe('fuzz (seeded; DYNAVIT_FUZZ_RUNS=n for more)', () => {
  it('images: mutated PNG/JPEG/WebP bytes decode or throw a DynavitError, in time and memory', async () => {
    await fuzz(
      'images/mutated',
      101,
      600,
      fc.record({ seed: fc.nat(SEEDS.length - 1), muts: fc.array(mutationArb, { minLength: 1, maxLength: 4 }) }),
      async (c, x) => {
        const seed = SEEDS[x.seed]!;
        await c.check(mutate(seed.bytes, x.muts), `mutated ${seed.name}`);
      },
    );
  });

  it('images: forged headers with huge or degenerate dimensions are refused before decoding, in time and memory', async () => {
    await fuzz('images/forged', 102, 300, forgedArb, async (c, x) => {
      await c.check(
        forge(x),
        `${x.format} declaring ${x.width}×${x.height}${x.data === 'keep' ? '' : x.data === 'none' ? ' without its data' : ' with zeros for data'}`,
      );
    });
  });
});

describe('fuzz findings kept in __fixtures__/fuzz (inputs that once broke the property)', () => {
  const findings = new URL('./__fixtures__/fuzz/', import.meta.url);
  const files = readdirSync(findings)
    .filter((f) => f.startsWith('readImage.'))
    .sort();
  it.each(files)('%s', async (f) => {
    await new Campaign('findings', 0).check(new Uint8Array(readFileSync(new URL(f, findings))), f);
  });
});
