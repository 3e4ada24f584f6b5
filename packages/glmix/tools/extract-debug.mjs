#!/usr/bin/env node
// Extracts the few golden tensors the GLMix block tests need from cases other than the vendored
// g_reduced_96x128 (whose io file is vendored whole, see fixtures.json) into ONE small safetensors,
// src/__fixtures__/debug/glmix_blocks.safetensors, so the package stays well under 8 MB.
// Keys are "<case>/<golden key>" (weights of the chosen blocks and some debug.* tensors); the
// metadata holds each case's GLNet config JSON under "<case>". Run from anywhere:
//   node packages/glmix/tools/extract-debug.mjs [golden-dir]     (default <repo>/../shared/golden)
// Deterministic: same inputs, same bytes.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const golden = process.argv[2] ?? join(pkg, '../../../shared/golden');
const out = join(pkg, 'src/__fixtures__/debug/glmix_blocks.safetensors');

/** case → { weights: key prefixes to keep, io: exact keys to keep } */
const PICK = {
  // learned slots broadcast over batch 2 (GLMix block without CPE / dwconv), token MHSA_Block (STL stage 3)
  stl_paramslot_reduced_b2: {
    weights: ['stages.0.blocks.0.', 'stages.3.blocks.0.'],
    io: [
      'debug.stage0.block0.block_in',
      'debug.stage0.block0.init_slots',
      'debug.stage0.block0.slots_grouped',
      'debug.stage0.block0.slots_updated',
      'debug.stage0.block0.block_out',
      ...['block_in', 'norm1', 'attn_out', 'norm2', 'mlp_out', 'block_out'].map((k) => `debug.stage3.block0.${k}`),
    ],
  },
  // layer scale (gamma [C] on ls1 and [1,C,1,1] on ls2) in an MHSA_NCHW_Block; 16×12 → 8×8 pooling
  g_ls_reduced_256x192: {
    weights: ['stages.2.blocks.1.'],
    io: [
      'debug.downsample.2',
      'debug.stage2.block0.init_slots',
      ...['block_in', 'attn_out', 'block_out'].map((k) => `debug.stage2.block1.${k}`),
    ],
  },
  // 14×14 → 6×6 pooling (uneven, overlapping bins)
  stl_reduced_224: { weights: [], io: ['debug.downsample.2', 'debug.stage2.block0.init_slots'] },
};

function read(path) {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  return { header, data: b.subarray(8 + n) };
}

const header = {
  __metadata__: { source: 'extracted from the GLMix golden cases by packages/glmix/tools/extract-debug.mjs' },
};
const parts = [];
let off = 0;
const take = (file, name, key) => {
  const v = file.header[key];
  if (!v) throw new Error(`${name}: no tensor ${key}`);
  const [s, e] = v.data_offsets;
  header[`${name}/${key}`] = { dtype: v.dtype, shape: v.shape, data_offsets: [off, off + e - s] };
  parts.push(file.data.subarray(s, e));
  off += e - s;
};
for (const [name, pick] of Object.entries(PICK)) {
  const w = read(join(golden, 'glmix', `${name}.weights.safetensors`));
  header.__metadata__[name] = w.header.__metadata__.config;
  for (const key of Object.keys(w.header)) if (pick.weights.some((p) => key.startsWith(p))) take(w, name, key);
  const io = read(join(golden, 'glmix', `${name}.io.safetensors`));
  for (const key of pick.io) take(io, name, key);
}
let json = JSON.stringify(header);
json += ' '.repeat((8 - (json.length % 8)) % 8);
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
writeFileSync(out, Buffer.concat([len, Buffer.from(json), ...parts]));
console.log(`${out}: ${Object.keys(header).length - 1} tensors, ${off} bytes of data`);
