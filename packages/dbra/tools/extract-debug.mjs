#!/usr/bin/env node
// Vendors the golden `debug.*` tensors that the block-level tests of @dynavit/dbra use, into small
// safetensors files under src/__fixtures__/debug/ (the full io files are 3–5 MB each; the package keeps
// its vendored total near 6 MB). Run from the package folder, or pass the golden folder:
//   node tools/extract-debug.mjs [../../../shared/golden/dbra]
// Idempotent; copies tensors byte for byte and keeps the io file's metadata.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const golden = process.argv[2] ?? join(pkg, '../../../shared/golden/dbra');
const out = join(pkg, 'src/__fixtures__/debug');

const DBRA_SMALL = ['offset', 'sample_grid_xy', 'sampled', 'agent_q', 'bilevel_out', 'agents'];
const pick = {
  // no padding anywhere: route indices are well defined (dbra.md §5)
  cls_tiny_reduced: [
    ...['in', 'route_idx', 'pre_proj', 'out'].map((k) => `debug.stage0.block0.attn1.${k}`),
    ...['in', 'route_idx', 'out', ...DBRA_SMALL].map((k) => `debug.stage0.block0.attn2.${k}`),
    ...['in', 'route_idx', 'rpe_bias', 'pre_crop', 'out', ...DBRA_SMALL].map((k) => `debug.stage3.block0.attn1.${k}`),
    ...[1, 2, 3].map((s) => `debug.stage${s}.block0.out`),
  ],
  // token padding at every stage, agent padding 7×8 → 8×8 at stage 0; route indices NOT comparable
  seg_small_reduced_pad: [
    ...['in', ...DBRA_SMALL].map((k) => `debug.stage0.block0.attn2.${k}`),
    ...['in', 'rpe_bias', 'pre_crop', 'out', ...DBRA_SMALL].map((k) => `debug.stage3.block0.attn1.${k}`),
    'debug.stage3.raw',
    'stage.3',
  ],
};
/** Weights the tests need but that are not vendored whole (stored as `weights.<key>`; metadata kept as `weights.<name>`). */
const weightPrefixes = {
  seg_small_reduced_pad: ['stages.0.0.attn2.', 'stages.3.0.attn1.', 'extra_norms.3.'],
};

function readST(file) {
  const b = readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')), data: b.subarray(8 + n) };
}

mkdirSync(out, { recursive: true });
for (const [name, keys] of Object.entries(pick)) {
  const io = readST(join(golden, `${name}.io.safetensors`));
  const head = { __metadata__: { ...(io.header.__metadata__ ?? {}) } };
  const parts = [];
  let off = 0;
  const add = (src, k, as) => {
    const v = src.header[k];
    if (!v) throw new Error(`${name}: no tensor ${k}`);
    const [s, e] = v.data_offsets;
    head[as] = { dtype: v.dtype, shape: v.shape, data_offsets: [off, off + e - s] };
    parts.push(src.data.subarray(s, e));
    off += e - s;
  };
  for (const k of keys) add(io, k, k);
  const prefixes = weightPrefixes[name] ?? [];
  if (prefixes.length) {
    const w = readST(join(golden, `${name}.weights.safetensors`));
    for (const [k, v] of Object.entries(w.header.__metadata__ ?? {})) head.__metadata__[`weights.${k}`] = v;
    for (const k of Object.keys(w.header)) if (prefixes.some((p) => k.startsWith(p))) add(w, k, `weights.${k}`);
  }
  let json = JSON.stringify(head);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const dst = join(out, `${name}.debug.safetensors`);
  writeFileSync(dst, Buffer.concat([len, Buffer.from(json), ...parts]));
  console.log(`${name}: ${Object.keys(head).length - 1} tensors, ${off} bytes -> ${dst}`);
}
