/**
 * The files the guide's Node snippets read, made in their working directory (argv[2]) with the installed
 * packages: the photos they name (cat.jpg, coffee.jpg, street.jpg: real photos from the repository's
 * fixtures, re-encoded as JPEG), `dat_pp_tiny.pth` shaped like the official release (a torch.save ZIP
 * archive of {"model": state_dict}, seeded weights), the same weights as `dat_pp_tiny.safetensors`,
 * `downloaded.pth` (a hostile pickle: the errors snippet must refuse it), and a weights cache
 * ($DYNAVIT_CACHE, argv[3]) holding the 'pretrained' releases the snippets ask for, as `dynavit pull`
 * would leave them. Prints one JSON line: what it wrote.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { selectBackend } from '@dynavit/backend-node';
import { createRegistry } from '@dynavit/backend-node/cli';
import { writeSafetensorsFile } from '@dynavit/core/node';
import { seededWeights } from '@dynavit/core/testing';
import { createSegmentor } from '@dynavit/heads';
import sharp from 'sharp';

const [work, cache, fixtures] = process.argv.slice(2);
if (!work || !cache || !fixtures) throw new Error('usage: snippets-prepare.mjs WORK_DIR CACHE_DIR FIXTURES_DIR');
mkdirSync(work, { recursive: true });

// --- a minimal torch.save writer (ZIP, STORED; pickle protocol 2) ---------------------------------------

const enc = new TextEncoder();
const STORAGE = { F32: ['FloatStorage', 4], I64: ['LongStorage', 8], I32: ['IntStorage', 4], U8: ['ByteStorage', 1] };

function pickleStateDict(wrapper, sd) {
  const out = [];
  const op = (...b) => out.push(Uint8Array.from(b));
  const u32 = (n) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    return b;
  };
  const str = (s) => {
    const b = enc.encode(s);
    op(0x58); // BINUNICODE
    out.push(u32(b.length), b);
  };
  const int = (n) => {
    op(0x4a); // BININT
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    out.push(b);
  };
  const global = (m, n) => out.push(enc.encode(`c${m}\n${n}\n`));
  const tuple = (xs) => {
    if (xs.length === 0) return op(0x29); // EMPTY_TUPLE
    op(0x28); // MARK
    for (const x of xs) int(x);
    op(0x74); // TUPLE
  };
  const storages = [];
  op(0x80, 2, 0x7d); // PROTO 2, EMPTY_DICT
  str(wrapper);
  op(0x7d, 0x28); // EMPTY_DICT, MARK
  for (const [name, t] of sd) {
    const [storage] = STORAGE[t.dtype];
    const numel = t.shape.reduce((a, b) => a * b, 1);
    str(name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28); // MARK: the arguments
    op(0x28); // MARK: the persistent id ('storage', type, key, location, numel)
    str('storage');
    global('torch', storage);
    str(String(storages.length));
    str('cpu');
    int(numel);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(0);
    tuple(t.shape);
    tuple(t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1)));
    op(0x89); // NEWFALSE: requires_grad
    global('collections', 'OrderedDict');
    op(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE, REDUCE, TUPLE, REDUCE
    storages.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  op(0x75, 0x73, 0x2e); // SETITEMS, SETITEM, STOP
  return { pkl: concat(out), storages };
}

function concat(parts) {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const b = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    b.set(p, o);
    o += p.length;
  }
  return b;
}

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  return c;
});
function crc32(data) {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

function zip(members) {
  const parts = [];
  const central = [];
  let offset = 0;
  const header = (fields) => {
    const b = new Uint8Array(fields.reduce((s, [, w]) => s + w, 0));
    const v = new DataView(b.buffer);
    let o = 0;
    for (const [x, w] of fields) {
      if (w === 2) v.setUint16(o, x, true);
      else v.setUint32(o, x, true);
      o += w;
    }
    return b;
  };
  for (const { name, data } of members) {
    const n = enc.encode(name);
    const crc = crc32(data);
    const local = header([
      [0x04034b50, 4],
      [20, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [crc, 4],
      [data.length, 4],
      [data.length, 4],
      [n.length, 2],
      [0, 2],
    ]);
    parts.push(local, n, data);
    central.push({ n, crc, size: data.length, offset });
    offset += local.length + n.length + data.length;
  }
  const cdStart = offset;
  for (const { n, crc, size, offset: at } of central) {
    const h = header([
      [0x02014b50, 4],
      [20, 2],
      [20, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [crc, 4],
      [size, 4],
      [size, 4],
      [n.length, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [0, 2],
      [0, 4],
      [at, 4],
    ]);
    parts.push(h, n);
    offset += h.length + n.length;
  }
  parts.push(
    header([
      [0x06054b50, 4],
      [0, 2],
      [0, 2],
      [central.length, 2],
      [central.length, 2],
      [offset - cdStart, 4],
      [cdStart, 4],
      [0, 2],
    ]),
  );
  return concat(parts);
}

function writePth(path, wrapper, sd) {
  const { pkl, storages } = pickleStateDict(wrapper, sd);
  const root = 'archive';
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(
    path,
    zip([
      { name: `${root}/data.pkl`, data: pkl },
      { name: `${root}/byteorder`, data: enc.encode('little') },
      ...storages.map((data, i) => ({ name: `${root}/data/${i}`, data })),
      { name: `${root}/version`, data: enc.encode('3\n') },
    ]),
  );
}

// --- the files ---------------------------------------------------------------------------------------

await selectBackend({ prefer: 'cpu' });
const registry = createRegistry();
const wrote = [];

for (const [name, from] of [
  ['cat.jpg', 'chelsea.png'],
  ['coffee.jpg', 'coffee.jpg'],
  ['street.jpg', 'rocket-portrait.png'],
]) {
  await sharp(join(fixtures, from)).jpeg({ quality: 92 }).toFile(join(work, name));
  wrote.push(name);
}
copyFileSync(join(fixtures, 'hostile.pth'), join(work, 'downloaded.pth'));
wrote.push('downloaded.pth');

const classifier = registry.createModel('dat_pp_tiny');
const cls = seededWeights(classifier.stateDict(), 1);
classifier.dispose();
writePth(join(work, 'dat_pp_tiny.pth'), 'model', cls);
await writeSafetensorsFile(join(work, 'dat_pp_tiny.safetensors'), cls);
wrote.push('dat_pp_tiny.pth', 'dat_pp_tiny.safetensors');
const clsRelease = registry.findPretrained({ model: 'dat_pp_tiny', task: 'image-classification' });
writePth(join(cache, clsRelease.id, clsRelease.file), clsRelease.key ?? 'model', cls);
wrote.push(`cache: ${clsRelease.id}`);

const segRelease = registry.findPretrained({ model: 'dat_pp_tiny_dense', task: 'semantic-segmentation' });
const backbone = registry.createModel('dat_pp_tiny_dense');
if (backbone.kind !== 'backbone') throw new Error('dat_pp_tiny_dense is not a dense backbone');
const segmentor = createSegmentor({ backbone, head: segRelease.head === 'semfpn_ade20k' ? 'semantic_fpn' : 'upernet' });
writePth(join(cache, segRelease.id, segRelease.file), 'state_dict', seededWeights(segmentor.stateDict(), 2));
segmentor.dispose();
wrote.push(`cache: ${segRelease.id}`);

console.log(JSON.stringify({ wrote }));
