#!/usr/bin/env node
// Copies the golden data the default test run needs from ../shared/golden into the packages'
// __fixtures__ folders (data only), so a fresh clone passes its tests without ../shared.
// Each package lists what it vendors in `fixtures.json`:
//   [{ "from": "dat/dat_pp_reduced.io.safetensors", "to": "src/__fixtures__/golden/", "stripDebug": true }, …]
// ("digest": true writes a per-tensor sha256 digest JSON instead of the data.)
// ("from" is relative to the golden folder, may end in a glob-free directory-less file name; "to" is a
// folder inside the package, optionally followed by a new file name). Run from the repo root:
// `pnpm fixtures [golden-dir]`. Idempotent.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const golden = process.argv[2] ?? '../shared/golden';
if (!existsSync(golden)) {
  console.error(`golden folder not found: ${golden}`);
  process.exit(1);
}

/** Rewrite a safetensors file without its `debug.*` tensors. */
function stripDebug(src, dst) {
  const b = readFileSync(src);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const data = b.subarray(8 + n);
  const out = {};
  if (header.__metadata__) out.__metadata__ = header.__metadata__;
  const parts = [];
  let off = 0;
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__' && !k.startsWith('debug.'));
  entries.sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  for (const [k, v] of entries) {
    const [s, e] = v.data_offsets;
    out[k] = { dtype: v.dtype, shape: v.shape, data_offsets: [off, off + e - s] };
    parts.push(data.subarray(s, e));
    off += e - s;
  }
  let json = JSON.stringify(out);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(dst, Buffer.concat([len, Buffer.from(json), ...parts]));
}

/**
 * Instead of a copy: `{key: {dtype, shape, sha256}}` of every tensor in file order, so a test can check
 * that something reproduces the file exactly without vendoring its bytes.
 */
function digest(src, dst) {
  const b = readFileSync(src);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [k, v] of Object.entries(header)
    .filter(([k]) => k !== '__metadata__')
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])) {
    const [s, e] = v.data_offsets;
    out[k] = {
      dtype: v.dtype,
      shape: v.shape,
      sha256: createHash('sha256')
        .update(b.subarray(8 + n + s, 8 + n + e))
        .digest('hex'),
    };
  }
  writeFileSync(dst, `${JSON.stringify(out)}\n`);
}

for (const root of ['packages', 'apps']) {
  for (const pkg of readdirSync(root)) {
    const list = join(root, pkg, 'fixtures.json');
    if (!existsSync(list)) continue;
    for (const { from, to, stripDebug: strip, digest: dig } of JSON.parse(readFileSync(list, 'utf8'))) {
      const dst = to.endsWith('/') ? join(root, pkg, to, basename(from)) : join(root, pkg, to);
      mkdirSync(dirname(dst), { recursive: true });
      if (dig) digest(join(golden, from), dst);
      else if (strip) stripDebug(join(golden, from), dst);
      else copyFileSync(join(golden, from), dst);
      console.log(`${from} -> ${dst}${strip ? ' (debug.* dropped)' : dig ? ' (sha256 digest per tensor)' : ''}`);
    }
  }
}
