/**
 * Hostile safetensors inputs (issue 18): every one is refused with a single typed error, bounded in time
 * and memory, by both the whole-buffer reader and the streaming reader.
 */
import { describe, expect, it } from 'vitest';
import { BudgetError, type DynavitError, SafetensorsError } from '../errors.js';
import { readSafetensors, readSafetensorsStream, SAFETENSORS_LIMITS, writeSafetensors } from './safetensors.js';
import type { StateDict } from './tensor-data.js';

const enc = new TextEncoder();

/** A safetensors file from a header (string or object) and a data section (length or bytes). */
function file(header: string | object, data: number | Uint8Array = 0): Uint8Array {
  const h = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const d = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + h.length + d.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(d, 8 + h.length);
  return out;
}

/** The error `fn` throws (fails the test when it throws nothing). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** A stream that hands out `chunks` on demand and records how many bytes were pulled. */
function lazyStream(chunks: Iterable<Uint8Array>): { stream: ReadableStream<Uint8Array>; pulled: () => number } {
  const it = chunks[Symbol.iterator]();
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        const n = it.next();
        if (n.done) c.close();
        else {
          pulled += n.value.byteLength;
          c.enqueue(n.value);
        }
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, pulled: () => pulled };
}

function chunksOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < bytes.length; p += size) out.push(bytes.subarray(p, p + size));
  return out;
}

const f32 = (name: string, n: number, begin: number) => ({
  [name]: { dtype: 'F32', shape: [n], data_offsets: [begin, begin + 4 * n] },
});

describe('safetensors header size cap (reference: 100,000,000 bytes)', () => {
  it('uses the reference implementation caps', () => {
    expect(SAFETENSORS_LIMITS).toEqual({
      maxHeaderBytes: 100_000_000,
      maxDepth: 3,
      maxEntries: 100_000,
      maxMetadataKeys: 100_000,
      maxValues: 2_000_000,
    });
  });

  it('refuses a 100 MiB header before decoding it, naming its size and the cap', () => {
    const n = 100 * 2 ** 20;
    const bytes = new Uint8Array(8 + n).fill(0x78); // a valid header: {"__metadata__":{"a":"xxx…"}}
    new DataView(bytes.buffer).setBigUint64(0, BigInt(n), true);
    const head = enc.encode('{"__metadata__":{"a":"');
    bytes.set(head, 8);
    bytes.set(enc.encode('"}}'), 8 + n - 3);
    const t0 = performance.now();
    const e = thrown(() => readSafetensors(bytes, 'big.safetensors'));
    const ms = performance.now() - t0;
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe(
      'big.safetensors: header of 104857600 bytes is over the 100000000-byte cap of the reference implementation (implausible; not a safetensors file?)',
    );
    expect(ms).toBeLessThan(50);
  });

  it('refuses a header just over the cap even when the buffer is short (no truncation read first)', () => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, 100_000_001n, true);
    expect(() => readSafetensors(bytes)).toThrow(/header of 100000001 bytes is over the 100000000-byte cap/);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expect(() => readSafetensors(bytes)).toThrow(/header of 18446744073709551615 bytes is over/);
  });

  it('streaming: refuses after the 8-byte length, without buffering the header', async () => {
    const n = 100 * 2 ** 20;
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(n), true);
    function* body() {
      yield len;
      for (let i = 0; i < 100; i++) yield new Uint8Array(2 ** 20 + 1).fill(0x20);
    }
    const { stream, pulled } = lazyStream(body());
    const e = await rejected(readSafetensorsStream(stream, { source: 'big.safetensors' }));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toMatch(/^big\.safetensors: header of 104857600 bytes is over the 100000000-byte cap/);
    expect(pulled()).toBeLessThanOrEqual(8);
  });
});

describe('safetensors entry cap', () => {
  it('is documented and generous', () => {
    expect(SAFETENSORS_LIMITS.maxEntries).toBe(100_000);
  });

  it('refuses a million-entry header fast, before parsing it', () => {
    const entry = enc.encode('"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},');
    const count = 1_000_000;
    const h = new Uint8Array(entry.length * count + 1);
    h[0] = 0x7b; // {
    for (let i = 0; i < count; i++) h.set(entry, 1 + i * entry.length);
    h[h.length - 1] = 0x7d; // } replaces the last comma
    const bytes = file(new TextDecoder().decode(h), 1);
    const t0 = performance.now();
    const e = thrown(() => readSafetensors(bytes, 'm.safetensors'));
    const ms = performance.now() - t0;
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe(
      'm.safetensors: header has more than 100000 entries (the cap on tensors in one file; split it into shards)',
    );
    expect(ms).toBeLessThan(1000);
  });

  it('reads exactly the cap of entries, and refuses one more', () => {
    const make = (count: number) => {
      const parts: string[] = [];
      for (let i = 0; i < count; i++) parts.push(`"t${i}":{"dtype":"U8","shape":[1],"data_offsets":[${i},${i + 1}]}`);
      return file(`{${parts.join(',')}}`, count);
    };
    const ok = readSafetensors(make(100_000));
    expect(ok.tensors.size).toBe(100_000);
    expect(ok.tensors.get('t99999')).toEqual({ dtype: 'U8', shape: [1], data: Uint8Array.of(0) });
    expect(() => readSafetensors(make(100_001))).toThrow(/more than 100000 entries/);
  });

  it('refuses a header of too many JSON values (a 40-million-dimension shape) before parsing it', () => {
    const h = `{"w":{"dtype":"U8","shape":[${'1,'.repeat(4e7)}1],"data_offsets":[0,1]}}`;
    const bytes = file(h, 1);
    const t0 = performance.now();
    const e = thrown(() => readSafetensors(bytes, 'v.safetensors'));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe(
      `v.safetensors: header has more than ${SAFETENSORS_LIMITS.maxValues} JSON values (a safetensors header needs a few per tensor)`,
    );
  });
  it('refuses a __metadata__ of two million keys before parsing it', () => {
    const keys: string[] = [];
    for (let i = 0; i < 2_000_000; i++) keys.push(`"k${i}":""`);
    const bytes = file(`{"__metadata__":{${keys.join(',')}}}`);
    const t0 = performance.now();
    const e = thrown(() => readSafetensors(bytes, 'k.safetensors'));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe('k.safetensors: __metadata__ has more than 100000 keys');
  });

  it('refuses entries with other fields before parsing them (many objects of distinct keys cost V8 seconds)', () => {
    const parts: string[] = [];
    for (let j = 0; j < 4000; j++) {
      const fields: string[] = [];
      for (let i = 0; i < 100; i++) fields.push(`"k${j}_${i}":0`);
      parts.push(`"t${j}":{${fields.join(',')}}`);
    }
    const bytes = file(`{${parts.join(',')}}`);
    const t0 = performance.now();
    const e = thrown(() => readSafetensors(bytes, 'f.safetensors'));
    expect(performance.now() - t0).toBeLessThan(100);
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe('f.safetensors: tensor "t0" has an unknown field "k0_0"');
    const dup = `{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"dtype":"U8"}}`;
    expect(() => readSafetensors(file(dup, 1), 'f')).toThrow(
      'f: tensor "w" has more than 3 fields (dtype, shape, data_offsets)',
    );
    // a field name written with escapes is still that field
    const esc = `{"w":{"dtyp\\u0065":"U8","shape":[1],"data_offsets":[0,1]}}`;
    expect(readSafetensors(file(esc, 1)).tensors.get('w')!.dtype).toBe('U8');
  });

  it('keeps every message one short line, whatever the names and shapes', () => {
    const name = 'n'.repeat(1_000_000);
    const h = `{"${name}":{"dtype":"U8","shape":[${'1,'.repeat(100_000)}2],"data_offsets":[0,1]}}`;
    const e = thrown(() => readSafetensors(file(h, 1), 'l'));
    expect(e.message).toBe(
      `l: tensor "${'n'.repeat(120)}…" spans 1 bytes but U8[${'1,'.repeat(16)}… (100001 dims)] needs 2`,
    );
    const b = thrown(() =>
      readSafetensors(file({ [name]: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 1), 'l', { maxBytes: 0 }),
    );
    expect(b).toBeInstanceOf(BudgetError);
    expect(b.message.length).toBeLessThan(400);
  });
});

describe('safetensors header structure (checked before JSON.parse, iteratively)', () => {
  it('refuses 200,000-deep nesting without a stack overflow', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    for (const [h, message] of [
      [`{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`, /header nests deeper than 3 levels at byte 29 \(/],
      [`{"__metadata__":{"k":${deep}}}`, /header nests deeper than 3 levels at byte 22 \(/],
      [`{"a":${deep}}`, /header nests deeper than 3 levels at byte 7 \(/],
      [`{"a":${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}}`, /tensor "a" has an unknown field "a"/],
      [`{"a":{"shape":${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}}}`, /tensor "a" has an object for "shape"/],
    ] as const) {
      const e = thrown(() => readSafetensors(file(h), 'd.safetensors'));
      expect(e).toBeInstanceOf(SafetensorsError);
      expect(e.message).toMatch(/^d\.safetensors: /);
      expect(e.message).toMatch(message);
    }
  });

  it('ignores brackets inside strings (escaped quotes and backslashes included)', () => {
    const data = new Uint8Array(Float32Array.of(2.5).buffer);
    const note = '[[[[{{{{ "q\\" ]]]] }}}} \\';
    const ok = readSafetensors(file({ __metadata__: { note }, ...f32('w[0]{x}"\\', 1, 0) }, data));
    expect(ok.metadata).toEqual({ note });
    expect(Array.from(ok.tensors.get('w[0]{x}"\\')!.data as Float32Array)).toEqual([2.5]);
  });

  it('keeps a JSON syntax error one line (V8 quotes the bad text, control characters included)', () => {
    const e = thrown(() => readSafetensors(file('{"a":\u0000\n}'), 'j'));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).not.toMatch(/[\n\r]/);
    expect(e.message).toMatch(/^j: header is not valid JSON \(.*\\u0000.*\\u000a/);
  });

  it('refuses a header that is not UTF-8 (as the reference does) instead of replacing bytes', () => {
    const bytes = file('{"__metadata__":{"a":"?"}}');
    bytes[8 + 22] = 0xff;
    expect(() => readSafetensors(bytes, 'u')).toThrow(new SafetensorsError('u: header is not valid UTF-8'));
  });

  it('refuses anything but a flat object of entries and a flat string map of metadata, by name', () => {
    const cases: [string, RegExp][] = [
      ['[]', /header does not start with '\{'/],
      ['  "x"', /header does not start with '\{'/],
      ['{"__metadata__":{"a":{"b":"c"}}}', /__metadata__ "a" must be a string, got an object/],
      ['{"__metadata__":{"a":1}}', /__metadata__ "a" must be a string, got 1/],
      ['{"__metadata__":{"a":["x"]}}', /__metadata__ "a" must be a string, got an array/],
      ['{"__metadata__":["a"]}', /__metadata__ must be an object of strings/],
      ['{"__metadata__":null}', /__metadata__ must be an object of strings/],
      ['{"w":[1,2]}', /tensor "w" must be an object \{dtype, shape, data_offsets\}, got an array/],
      ['{"w":"F32"}', /tensor "w" must be an object \{dtype, shape, data_offsets\}, got "F32"/],
      ['{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4],"extra":1}}', /tensor "w" has an unknown field "extra"/],
      ['{"w":{"dtype":"F32","data_offsets":[0,4]}}', /tensor "w" has an invalid shape undefined/],
      [
        '{"w":{"dtype":"F32","shape":{"0":1},"data_offsets":[0,4]}}',
        /tensor "w" has an object for "shape" \(dtype is a string/,
      ],
      ['{"w":[{"dtype":"F32"}]}', /tensor "w" must be an object \{dtype, shape, data_offsets\}, got an array/],
      [
        '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
        /duplicate tensor name "w"/,
      ],
    ];
    for (const [h, re] of cases) {
      const e = thrown(() => readSafetensors(file(h, 4), 's.safetensors'));
      expect(e, h).toBeInstanceOf(SafetensorsError);
      expect(e.message, h).toMatch(/^s\.safetensors: /);
      expect(e.message, h).toMatch(re);
    }
  });
});

describe('safetensors entries validated to the format rules', () => {
  it('names the tensor whose entry is null', () => {
    const e = thrown(() => readSafetensors(file('{"w": null}'), 'n.safetensors'));
    expect(e).toBeInstanceOf(SafetensorsError);
    expect(e.message).toBe('n.safetensors: tensor "w" must be an object {dtype, shape, data_offsets}, got null');
  });

  it('refuses non-finite, huge, fractional or negative dimensions (1e300 with a zero dimension too)', () => {
    for (const [shape, shown] of [
      ['[1e300,0]', '[1e+300,0]'],
      ['[9007199254740993,0]', '[9007199254740992,0]'],
      ['[-1]', '[-1]'],
      ['[1.5]', '[1.5]'],
      ['["2"]', '["2"]'],
    ]) {
      const e = thrown(() =>
        readSafetensors(file(`{"w":{"dtype":"F32","shape":${shape},"data_offsets":[0,0]}}`), 'h.safetensors'),
      );
      expect(e, shape).toBeInstanceOf(SafetensorsError);
      expect(e.message, shape).toBe(
        `h.safetensors: tensor "w" has an invalid shape ${shown} (dimensions must be integers from 0 to 2^53 - 1)`,
      );
    }
    const e = thrown(() =>
      readSafetensors(file('{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}'), 'h'),
    );
    expect(e.message).toBe('h: tensor "w" has shape [4294967296,4294967296]: 2^64 elements, over 2^53');
  });

  it('refuses bad data_offsets by name', () => {
    for (const offs of ['[0]', '[0,4,8]', '[-4,0]', '[0,4.5]', '[0,1e300]', '"0,4"', 'null']) {
      const e = thrown(() =>
        readSafetensors(file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":${offs}}}`, 4), 'o.safetensors'),
      );
      expect(e, offs).toBeInstanceOf(SafetensorsError);
      expect(e.message, offs).toMatch(/^o\.safetensors: tensor "w" has invalid data_offsets /);
    }
    expect(() =>
      readSafetensors(file('{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}', 8), 'o.safetensors'),
    ).toThrow(/tensor "w" has invalid data_offsets \[8,4\] \(end before begin\)/);
  });

  it('refuses overlapping tensors, naming both', () => {
    const h = { ...f32('a', 1, 0), ...f32('b', 1, 0) };
    expect(() => readSafetensors(file(h, 4), 'x')).toThrow(
      'x: tensor "b" (bytes 0..4) overlaps tensor "a" (bytes 0..4) in the data section',
    );
    const h2 = { ...f32('a', 2, 0), ...f32('b', 2, 4) };
    expect(() => readSafetensors(file(h2, 12), 'x')).toThrow(
      'x: tensor "b" (bytes 4..12) overlaps tensor "a" (bytes 0..8) in the data section',
    );
  });

  it('refuses gaps, a first tensor not at 0, and trailing bytes', () => {
    expect(() => readSafetensors(file({ ...f32('a', 1, 0), ...f32('b', 1, 8) }, 12), 'x')).toThrow(
      'x: gap in the data section: tensor "b" starts at byte 8 but tensor "a" ends at byte 4',
    );
    expect(() => readSafetensors(file(f32('a', 1, 4), 8), 'x')).toThrow(
      'x: gap in the data section: tensor "a" starts at byte 4, not 0',
    );
    expect(() => readSafetensors(file(f32('a', 1, 0), 7), 'x')).toThrow(
      'x: 3 trailing bytes after the last tensor ("a" ends at byte 4 of a 7-byte data section)',
    );
    expect(() => readSafetensors(file({}, 2), 'x')).toThrow('x: 2 trailing bytes after the last tensor (no tensors)');
  });

  it('still reads valid edge cases: empty file, zero-size tensors sharing an offset, scalars, out-of-order entries', () => {
    expect(readSafetensors(file({})).tensors.size).toBe(0);
    const data = new Uint8Array(Float32Array.of(1, 2, 3).buffer);
    const { tensors } = readSafetensors(
      file(
        {
          c: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
          z: { dtype: 'F32', shape: [0, 3], data_offsets: [4, 4] },
          s: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
          e: { dtype: 'I64', shape: [0], data_offsets: [12, 12] },
        },
        data,
      ),
    );
    expect([...tensors.keys()]).toEqual(['s', 'z', 'c', 'e']);
    expect(Array.from(tensors.get('c')!.data as Float32Array)).toEqual([2, 3]);
    expect(tensors.get('z')!.data.length).toBe(0);
    expect(tensors.get('e')!.data).toEqual(new BigInt64Array(0));
  });
});

describe('safetensors memory budget', () => {
  const sd = (): StateDict =>
    new Map([
      ['a', { dtype: 'F32', shape: [4], data: Float32Array.of(1, 2, 3, 4) }],
      ['b', { dtype: 'F16', shape: [2, 2], data: Uint16Array.of(1, 2, 3, 4) }],
      ['c', { dtype: 'I64', shape: [1], data: BigInt64Array.of(5n) }],
    ]);

  it('charges each tensor before allocating it and names the one over the budget', () => {
    const bytes = writeSafetensors(sd());
    expect(readSafetensors(bytes, 'b.safetensors', { maxBytes: 16 + 8 + 8 }).tensors.size).toBe(3);
    const e = thrown(() => readSafetensors(bytes, 'b.safetensors', { maxBytes: 16 + 8 + 7 }));
    expect(e).toBeInstanceOf(BudgetError);
    expect((e as DynavitError).code).toBe('BUDGET');
    expect(e.message).toMatch(
      /^b\.safetensors: tensor "c" \(I64\[1\]\) would materialise 0\.0 MiB \(0\.0 MiB already\)/,
    );
    expect(e.message).toMatch(/raise it with the maxBytes option/);
    expect(() => readSafetensors(bytes, 'b.safetensors', { maxBytes: 10 })).toThrow(/tensor "a" \(F32\[4\]\)/);
  });

  it('the default budget always loads a valid file', () => {
    const big = new Float32Array(2 ** 22).fill(1.5); // 16 MiB of data
    const bytes = writeSafetensors({ w: { dtype: 'F32', shape: [2 ** 22], data: big } });
    expect(readSafetensors(bytes).tensors.get('w')!.data.length).toBe(2 ** 22);
  });

  it('streaming: the same budget, tensor named', async () => {
    const bytes = writeSafetensors(sd());
    const ok = await readSafetensorsStream(lazyStream(chunksOf(bytes, 5)).stream, { maxBytes: 32 });
    expect(ok.tensors.get('b')!.data).toEqual(Uint16Array.of(1, 2, 3, 4));
    const e = await rejected(readSafetensorsStream(lazyStream([bytes]).stream, { source: 's', maxBytes: 20 }));
    expect(e).toBeInstanceOf(BudgetError);
    expect(e.message).toMatch(/^s: tensor "b" \(F16\[2,2\]\) would materialise/);
  });
});

describe('safetensors streaming reader validates before reading the data', () => {
  it('refuses bad entries after the header, without pulling the data', async () => {
    for (const [h, re] of [
      ['{"w": null}', /tensor "w" must be an object/],
      [JSON.stringify({ ...f32('a', 1, 0), ...f32('b', 1, 0) }), /tensor "b" \(bytes 0\.\.4\) overlaps tensor "a"/],
      [
        `{"w":{"dtype":"F32","shape":${'['.repeat(200_000)}${']'.repeat(200_000)},"data_offsets":[0,0]}}`,
        /nests deeper/,
      ],
    ] as const) {
      const head = file(h);
      function* body() {
        yield* chunksOf(head, 4096);
        for (let i = 0; i < 1000; i++) yield new Uint8Array(2 ** 20);
      }
      const { stream, pulled } = lazyStream(body());
      const e = await rejected(readSafetensorsStream(stream, { source: 'st' }));
      expect(e).toBeInstanceOf(SafetensorsError);
      expect(e.message).toMatch(re);
      expect(pulled()).toBe(head.length); // the header's chunks, none of the data
    }
  });

  it('refuses a truncated body naming the tensor, and trailing bytes', async () => {
    const bytes = writeSafetensors({ ...{ a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) } } });
    const short = await rejected(readSafetensorsStream(lazyStream([bytes.subarray(0, bytes.length - 1)]).stream));
    expect(short).toBeInstanceOf(SafetensorsError);
    expect(short.message).toBe(
      'stream: truncated: tensor "a" ends at byte 8 of the data section, which has only 7 bytes',
    );
    const long = new Uint8Array(bytes.length + 3);
    long.set(bytes);
    const extra = await rejected(readSafetensorsStream(lazyStream(chunksOf(long, 4)).stream));
    expect(extra).toBeInstanceOf(SafetensorsError);
    expect(extra.message).toMatch(/^stream: trailing bytes after the last tensor \("a" ends at byte 8/);
  });

  it('reads a body that arrives one byte at a time, and large tensors in small chunks', async () => {
    const small = writeSafetensors({ a: { dtype: 'I32', shape: [3], data: Int32Array.of(7, -8, 9) } }, { k: 'v' });
    const one = await readSafetensorsStream(lazyStream(chunksOf(small, 1)).stream);
    expect(one.metadata).toEqual({ k: 'v' });
    expect(one.tensors.get('a')!.data).toEqual(Int32Array.of(7, -8, 9));
    const values = Float32Array.from({ length: 3 * 2 ** 18 + 5 }, (_, i) => i * 0.5); // 3 MiB + 20 bytes
    const big = writeSafetensors({
      u: { dtype: 'U8', shape: [1], data: Uint8Array.of(1) },
      w: { dtype: 'F32', shape: [values.length], data: values },
    });
    const got = await readSafetensorsStream(lazyStream(chunksOf(big, 4093)).stream);
    const w = got.tensors.get('w')!.data as Float32Array;
    expect(w.buffer.byteLength).toBe(values.byteLength);
    expect(w).toEqual(values);
  });

  it('does not trust a Content-Length: a huge or wrong total allocates nothing up front', async () => {
    const bytes = writeSafetensors({ a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) } });
    for (const total of [2 ** 50, 3, bytes.length]) {
      const file = await readSafetensorsStream(lazyStream(chunksOf(bytes, 16)).stream, { total });
      expect(Array.from(file.tensors.get('a')!.data as Float32Array)).toEqual([1, 2]);
    }
  });

  it('refuses a stream shorter than the header length or the header', async () => {
    const bytes = writeSafetensors({ a: { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) } });
    expect(await rejected(readSafetensorsStream(lazyStream([bytes.subarray(0, 5)]).stream))).toMatchObject({
      code: 'SAFETENSORS',
      message: 'stream: truncated (5 bytes, need at least 8 for the header length)',
    });
    const e = await rejected(readSafetensorsStream(lazyStream([bytes.subarray(0, 20)]).stream));
    expect(e.message).toMatch(/^stream: truncated header \(needs \d+ bytes, file has 12\)$/);
  });
});
