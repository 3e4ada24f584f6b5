#!/usr/bin/env node
// Copies the golden tensors that the core op tests (packages/core/src/ops/*.test.ts) need from
// ../shared/golden into packages/core/src/ops/__fixtures__, so the repo passes its tests without
// ../shared. Plain Node, no dependencies. Idempotent.
//
//   node tools/extract-op-fixtures.mjs [golden-dir]     (default: ../shared/golden next to the repo)
//
// Writes:
//   natten_unit.io.safetensors   copied whole (neighbourhood-attention unit vectors, dat.md §9.3)
//   dat_gridsample.safetensors   a few DAT debug tensors for gridSample, named '<case>/<key>'
//                                (<case>.io or <case>.weights), see SELECTION below.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const golden = resolve(process.argv[2] ?? join(repo, '..', 'shared', 'golden'));
const outDir = join(repo, 'packages', 'core', 'src', 'ops', '__fixtures__');

if (!existsSync(golden)) {
  console.error(`golden folder not found: ${golden}`);
  process.exit(1);
}

/** safetensors: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}}, raw LE data. */
function readSafetensors(path) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const data = buf.subarray(8 + n);
  const tensors = new Map();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [s, e] = info.data_offsets;
    tensors.set(name, { dtype: info.dtype, shape: info.shape, bytes: data.subarray(s, e) });
  }
  return { metadata: header.__metadata__ ?? null, tensors };
}

function writeSafetensors(path, entries, metadata) {
  const header = {};
  if (metadata) header.__metadata__ = metadata;
  const parts = [];
  let off = 0;
  for (const [name, t] of entries) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
    parts.push(t.bytes);
    off += t.bytes.length;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // keep the data 8-byte aligned
  if (pad) json = Buffer.concat([json, Buffer.from(' '.repeat(pad))]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  put(path, Buffer.concat([len, json, ...parts]));
}

// case file (under golden/dat) → keys to copy.
const D = (stage, block) => ['attn_in', 'pos', 'x_sampled'].map((k) => `debug.stage${stage}.block${block}.${k}`);
const SELECTION = {
  'dat_pp_reduced.io': [...D(0, 1), ...D(2, 1)], // G = 1 (16×16 map) and G = 4 (4×4 map)
  'dat_pp_reduced_batch2.io': D(1, 1), // B = 2, G = 2: batch/group interleaving
  'dat_pp_reduced_nonsquare.io': [...D(0, 1), 'debug.stage0.block1.rpe_bias', ...D(1, 1)], // 20×28 and 10×14 maps, 3×4 samples
  'dat_pp_reduced_nonsquare.weights': ['stages.0.attns.1.rpe_table'], // table sampled off-grid for rpe_bias
  'dat_pp_fulldepth_224.io': D(3, 0), // 7×7 map, 49 samples per group, G = 2
};

mkdirSync(outDir, { recursive: true });

// Write the bytes (not copyFile): the golden files are read-only and their mode must not carry over.
const put = (path, bytes) => {
  rmSync(path, { force: true });
  writeFileSync(path, bytes);
};
put(join(outDir, 'natten_unit.io.safetensors'), readFileSync(join(golden, 'dat', 'natten_unit.io.safetensors')));
console.log(`dat/natten_unit.io.safetensors -> ${join(outDir, 'natten_unit.io.safetensors')}`);

const entries = [];
const sources = {};
for (const [file, keys] of Object.entries(SELECTION)) {
  const src = readSafetensors(join(golden, 'dat', `${file}.safetensors`));
  sources[file] = src.metadata?.reference ?? '';
  for (const key of keys) {
    const t = src.tensors.get(key);
    if (!t) throw new Error(`${file}.safetensors has no tensor ${key}`);
    if (t.dtype !== 'F32') throw new Error(`${file}.safetensors ${key}: expected F32, got ${t.dtype}`);
    entries.push([`${file}/${key}`, t]);
  }
}
writeSafetensors(join(outDir, 'dat_gridsample.safetensors'), entries, {
  note: 'slices of shared/golden/dat for the core gridSample tests; names are <case file>/<original key>',
  sources: JSON.stringify(sources),
});
console.log(`${entries.length} tensors -> ${join(outDir, 'dat_gridsample.safetensors')}`);
