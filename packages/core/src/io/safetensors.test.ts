import { describe, expect, it } from 'vitest';
import { SafetensorsError } from '../errors.js';
import { readSafetensors, readSafetensorsStream, writeSafetensors, type LoadProgress } from './safetensors.js';
import { f16ToF32, f32ToF16, fromFloat32, type StateDict, toFloat32 } from './tensor-data.js';

function sample(): StateDict {
  return new Map([
    ['a.weight', { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -7) }],
    ['b.half', fromFloat32(Float32Array.of(0.1, -65504, 1 / 3), [3], 'F16')],
    ['c.bf16', fromFloat32(Float32Array.of(1.00390625, -3.25, 1e30), [3], 'BF16')],
    ['d.steps', { dtype: 'I64', shape: [], data: BigInt64Array.of(-5n) }],
    ['e.idx', { dtype: 'I32', shape: [2], data: Int32Array.of(7, -1) }],
    ['f.mask', { dtype: 'U8', shape: [3], data: Uint8Array.of(0, 1, 255) }],
  ] as const);
}

describe('safetensors', () => {
  it('writes and reads back every dtype, shape, order and metadata exactly', () => {
    const bytes = writeSafetensors(sample(), { config: '{"x":1}', reference: 'owner/repo@abc' });
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toEqual({ config: '{"x":1}', reference: 'owner/repo@abc' });
    expect([...tensors.keys()]).toEqual([...sample().keys()]);
    for (const [k, v] of sample()) {
      expect(tensors.get(k)!.dtype).toBe(v.dtype);
      expect(tensors.get(k)!.shape).toEqual(v.shape);
      expect(tensors.get(k)!.data).toEqual(v.data);
    }
    // header length is 8-byte aligned so the data section is aligned
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
  });

  it('reads the documented layout written by hand', () => {
    const header = JSON.stringify({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    const h = new TextEncoder().encode(header);
    const buf = new Uint8Array(8 + h.length + 8);
    new DataView(buf.buffer).setBigUint64(0, BigInt(h.length), true);
    buf.set(h, 8);
    new DataView(buf.buffer).setFloat32(8 + h.length, 1.5, true);
    new DataView(buf.buffer).setFloat32(8 + h.length + 4, -2, true);
    expect(Array.from(readSafetensors(buf).tensors.get('x')!.data as Float32Array)).toEqual([1.5, -2]);
  });

  it('converts half and bfloat16 exactly (round to nearest even)', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(1e6)).toBe(0x7c00);
    expect(f32ToF16(2 ** -24)).toBe(1);
    expect(f16ToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    const bf = fromFloat32(Float32Array.of(1.00390625, 1.01171875), [2], 'BF16');
    expect(Array.from(toFloat32(bf))).toEqual([1, 1.015625]);
  });

  it('names the problem in a corrupt or truncated file', () => {
    const bytes = writeSafetensors(sample());
    expect(() => readSafetensors(bytes.subarray(0, 4))).toThrow(SafetensorsError);
    expect(() => readSafetensors(bytes.subarray(0, 20))).toThrow(/truncated header/);
    expect(() => readSafetensors(bytes.subarray(0, bytes.length - 3))).toThrow(/truncated: tensor "f\.mask"/);
    const bad = bytes.slice();
    new DataView(bad.buffer).setBigUint64(0, 2n ** 40n, true);
    expect(() => readSafetensors(bad)).toThrow(/implausible/);
    const h = new TextEncoder().encode('{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}');
    const f64 = new Uint8Array(8 + h.length + 8);
    new DataView(f64.buffer).setBigUint64(0, BigInt(h.length), true);
    f64.set(h, 8);
    expect(() => readSafetensors(f64)).toThrow(/unsupported dtype "F64"/);
  });

  it('reads a streamed body with progress events', async () => {
    const bytes = writeSafetensors(sample(), { k: 'v' });
    const chunks = [bytes.subarray(0, 10), bytes.subarray(10, 50), bytes.subarray(50)];
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (const ch of chunks) c.enqueue(ch);
        c.close();
      },
    });
    const events: LoadProgress[] = [];
    const file = await readSafetensorsStream(stream, {
      total: bytes.length,
      source: 'x.safetensors',
      onProgress: (p) => events.push(p),
    });
    expect(file.metadata).toEqual({ k: 'v' });
    expect(file.tensors.get('a.weight')!.data).toEqual(sample().get('a.weight')!.data);
    expect(events.map((e) => e.status)).toEqual(['initiate', 'progress', 'progress', 'progress', 'done']);
    const last = events[3] as Extract<LoadProgress, { status: 'progress' }>;
    expect(last.progress).toBe(1);
    // unknown length
    const s2 = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    });
    expect((await readSafetensorsStream(s2)).tensors.size).toBe(6);
  });
});

describe('safetensors from a Node Buffer', () => {
  it('reads every tensor from its own offset (Buffer#slice shares memory; the reader must copy)', () => {
    const bytes = writeSafetensors(sample());
    // a Buffer that is a view into a larger pool, as readFileSync/pooled allocations give
    const pool = Buffer.alloc(bytes.length + 64, 7);
    pool.set(bytes, 32);
    const view = pool.subarray(32, 32 + bytes.length);
    const { tensors } = readSafetensors(view);
    for (const [k, v] of sample()) expect(tensors.get(k)!.data, k).toEqual(v.data);
  });
});
