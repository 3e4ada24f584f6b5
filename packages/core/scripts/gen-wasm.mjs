// Compiles src/ops/wasm/NAME.wat (its `;;@include lib/…` lines expanded) with wabt into
// src/ops/wasm/NAME-wasm.ts (the bytes, base64), the module the kernels load.
// `node scripts/gen-wasm.mjs --check` fails if a committed file differs from the .wat.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileWat, expandIncludes, wasmModuleSource } from './wasm-source.mjs';

const dir = fileURLToPath(new URL('../src/ops/wasm/', import.meta.url));
const check = process.argv.includes('--check');
let stale = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.wat'))) {
  const name = file.slice(0, -'.wat'.length);
  const out = join(dir, `${name}-wasm.ts`);
  const text = wasmModuleSource(
    name,
    await compileWat(file, expandIncludes(readFileSync(join(dir, file), 'utf8'), dir)),
  );
  let old = '';
  try {
    old = readFileSync(out, 'utf8');
  } catch {}
  if (old === text) continue;
  if (check) {
    console.error(`${out} is not ${file} compiled: run pnpm --filter @dynavit/core gen:wasm`);
    stale++;
  } else {
    writeFileSync(out, text);
    console.log(`wrote ${out}`);
  }
}
process.exit(stale ? 1 : 0);
