#!/usr/bin/env node
// Copies the golden data the default test run needs from ../shared/golden into the packages'
// __fixtures__ folders (data only), so a fresh clone passes its tests without ../shared.
// Run from the repo root: `pnpm fixtures`. Idempotent.
import { copyFileSync, mkdirSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const golden = process.argv[2] ?? '../shared/golden';
if (!existsSync(golden)) {
  console.error(`golden folder not found: ${golden}`);
  process.exit(1);
}
const copy = (from, toDir, name = from.split('/').pop()) => {
  mkdirSync(toDir, { recursive: true });
  copyFileSync(join(golden, from), join(toDir, name));
  console.log(`${from} -> ${join(toDir, name)}`);
};
// Manifests: every key and shape of every full-size official model, per family.
for (const [family, pkg] of [['dat', 'dat'], ['dbra', 'dbra'], ['glmix', 'glmix'], ['heads', 'heads']]) {
  for (const f of readdirSync(join(golden, family)).filter((f) => f.startsWith('manifest.'))) copy(`${family}/${f}`, `packages/${pkg}/src/__fixtures__/manifests`);
}

// One golden case per family for `dynavit verify` and the families' own tests; `debug.*` tensors are
// dropped from the io files (the block-level tests that need them vendor their own slices).
import { readFileSync, writeFileSync } from 'node:fs';
function stripDebug(src, dst) {
  const b = readFileSync(src);
  const n = Number(b.readBigUInt64LE(0));
  const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
  const data = b.subarray(8 + n);
  const out = {};
  if (header.__metadata__) out.__metadata__ = header.__metadata__;
  const parts = [];
  let off = 0;
  for (const [k, v] of Object.entries(header).sort((a, b) => (a[1].data_offsets?.[0] ?? 0) - (b[1].data_offsets?.[0] ?? 0))) {
    if (k === '__metadata__' || k.startsWith('debug.')) continue;
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
  console.log(`${src} -> ${dst} (debug.* dropped)`);
}
// dat_pp_reduced keeps its debug tensors: the DAT block-level tests read them.
copy('dat/dat_pp_reduced.io.safetensors', 'packages/dat/src/__fixtures__/debug', 'dat_pp_reduced.io.safetensors');
for (const [family, pkg, name] of [
  ['dat', 'dat', 'dat_pp_reduced'],
  ['dbra', 'dbra', 'cls_tiny_reduced'],
  ['glmix', 'glmix', 'g_reduced_96x128'],
  ['heads', 'heads', 'upernet_small'],
]) {
  const to = `packages/${pkg}/src/__fixtures__/golden`;
  copy(`${family}/${name}.weights.safetensors`, to);
  stripDebug(join(golden, `${family}/${name}.io.safetensors`), join(to, `${name}.io.safetensors`));
}

// Checkpoint fixtures for core's .pth reader tests (the rest are checked by `pnpm test:golden`).
for (const f of ['heads_maskrcnn_small.pth', 'heads_maskrcnn_small.fp16.pth', 'hostile.pth', 'dbra_cls_tiny_reduced.pth', 'dbra_cls_tiny_reduced.legacy.pth'])
  copy(`checkpoints/${f}`, 'packages/core/src/io/__fixtures__');
copy('heads/maskrcnn_small.weights.safetensors', 'packages/core/src/io/__fixtures__', 'heads_maskrcnn_small.weights.safetensors');
copy('dbra/cls_tiny_reduced.weights.safetensors', 'packages/core/src/io/__fixtures__', 'dbra_cls_tiny_reduced.weights.safetensors');
