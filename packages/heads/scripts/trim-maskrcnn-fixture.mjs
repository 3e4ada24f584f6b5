#!/usr/bin/env node
// Vendors the Mask R-CNN golden io file the default tests use, trimmed to fit the package's fixture
// budget (tools/copy-fixtures.mjs can only copy or drop all debug tensors):
//   - `masks.b` (uint8 [K,h,w], most of the file) is replaced by `debug.masks_bits.b`, the same values
//     bit-packed (numpy packbits order: first pixel in the high bit of the first byte);
//   - the debug tensors the staged tests read are kept (`debug.roi_levels`, `debug.bbox_roi_feats`,
//     `debug.mask_roi_levels`, `debug.rcnn_num_candidates.b`); other debug tensors are dropped;
//   - everything else (inputs, non-debug outputs, metadata) is copied byte for byte.
// Run from the repo root: `node packages/heads/scripts/trim-maskrcnn-fixture.mjs [golden-dir] [case]`
// (defaults ../shared/golden, maskrcnn_small). Idempotent.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const golden = process.argv[2] ?? '../shared/golden';
const name = process.argv[3] ?? 'maskrcnn_small';
const src = join(golden, 'heads', `${name}.io.safetensors`);
if (!existsSync(src)) {
  console.error(`golden file not found: ${src}`);
  process.exit(1);
}
const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const dst = join(pkg, 'src', '__fixtures__', 'golden', `${name}.io.safetensors`);
const KEEP_DEBUG = [
  /^debug\.roi_levels$/,
  /^debug\.bbox_roi_feats$/,
  /^debug\.mask_roi_levels$/,
  /^debug\.rcnn_num_candidates\.\d+$/,
];

const b = readFileSync(src);
const n = Number(b.readBigUInt64LE(0));
const header = JSON.parse(b.subarray(8, 8 + n).toString('utf8'));
const data = b.subarray(8 + n);
const entries = Object.entries(header)
  .filter(([k]) => k !== '__metadata__')
  .sort((x, y) => x[1].data_offsets[0] - y[1].data_offsets[0]);
const out = [];
for (const [k, v] of entries) {
  const bytes = data.subarray(v.data_offsets[0], v.data_offsets[1]);
  if (k.startsWith('debug.') && !KEEP_DEBUG.some((re) => re.test(k))) continue;
  const m = /^masks\.(\d+)$/.exec(k);
  if (m) {
    if (v.dtype !== 'U8') throw new Error(`${k}: expected U8, got ${v.dtype}`);
    const packed = Buffer.alloc(Math.ceil(bytes.length / 8));
    for (let i = 0; i < bytes.length; i++) if (bytes[i]) packed[i >> 3] |= 0x80 >> (i & 7);
    out.push([`debug.masks_bits.${m[1]}`, { dtype: 'U8', shape: [packed.length] }, packed]);
  } else out.push([k, { dtype: v.dtype, shape: v.shape }, bytes]);
}
const hdr = {};
if (header.__metadata__) hdr.__metadata__ = header.__metadata__;
let off = 0;
for (const [k, v, bytes] of out) {
  hdr[k] = { ...v, data_offsets: [off, off + bytes.length] };
  off += bytes.length;
}
let json = JSON.stringify(hdr);
json += ' '.repeat((8 - (json.length % 8)) % 8);
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
mkdirSync(dirname(dst), { recursive: true });
writeFileSync(dst, Buffer.concat([len, Buffer.from(json), ...out.map((o) => o[2])]));
console.log(
  `${src} -> ${dst} (${(8 + Buffer.byteLength(json) + off) / 1e6} MB; masks bit-packed, ${out.length} tensors)`,
);
