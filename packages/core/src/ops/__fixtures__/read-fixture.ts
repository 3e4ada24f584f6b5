/**
 * Test-only: a minimal safetensors reader for the op fixtures (F32 only), kept local so the op tests
 * do not depend on io/safetensors.ts. Files are written by tools/extract-op-fixtures.mjs.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FixtureTensor {
  shape: number[];
  data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const here = dirname(fileURLToPath(import.meta.url));

export function readFixture(name: string): Map<string, FixtureTensor> {
  const buf = readFileSync(join(here, name));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, HeaderEntry>;
  const base = 8 + n;
  const out = new Map<string, FixtureTensor>();
  for (const [key, info] of Object.entries(header)) {
    if (key === '__metadata__') continue;
    if (info.dtype !== 'F32') throw new Error(`${name}: ${key} has dtype ${info.dtype}, only F32 is supported`);
    const [s, e] = info.data_offsets;
    // Copy into a fresh (aligned) buffer; little-endian hosts only, as every tfjs target is.
    const bytes = buf.subarray(base + s, base + e);
    const data = new Float32Array(bytes.length / 4);
    new Uint8Array(data.buffer).set(bytes);
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`${name}: ${key} has ${data.length} values for shape [${info.shape}]`);
    out.set(key, { shape: info.shape, data });
  }
  return out;
}

export function need(m: Map<string, FixtureTensor>, key: string): FixtureTensor {
  const t = m.get(key);
  if (!t) throw new Error(`fixture tensor ${key} missing (run node tools/extract-op-fixtures.mjs)`);
  return t;
}
