/**
 * Issue 18, the CLI's part: everything cheap is validated first (options, paths, output folders,
 * image headers against a pixel budget, `--size` bounds), every filesystem error is one typed line,
 * non-finite weights and outputs are reported, `convert` says what it writes, backend probing is quiet.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { FileError, readSafetensors, type TensorData, toFloat32, writeSafetensors } from '@dynavit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { selectBackend } from './backends.js';
import { fileError } from './files.js';
import { createRegistry } from './registry.js';
import { runCli } from './test-utils/run-cli.js';
import { findRepoRoot } from './testing/index.js';

const root = findRepoRoot(fileURLToPath(import.meta.url))!;
const images = fileURLToPath(new URL('./__fixtures__/images/', import.meta.url));
const coreFixtures = `${root}/packages/core/src/io/__fixtures__`;
const datCase = `${root}/packages/dat/src/__fixtures__/golden/dat_pp_reduced`;
const tmp = mkdtempSync(join(tmpdir(), 'dynavit-rel-'));
const coffee = `${images}coffee.jpg`;

afterEach(() => vi.restoreAllMocks());

/** PNG chunk: length, type, data, CRC-32. */
function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let c = ~0;
  for (const b of body) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(~c >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A small PNG that declares width×height RGB (its IDAT holds ~30 MB of zero rows, ~30 KB compressed). */
function declaredPng(path: string, width: number, height: number): string {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(30_000_000), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  writeFileSync(path, png);
  return path;
}

const huge = [1, 2, 3, 4].map((i) => declaredPng(join(tmp, `huge${i}.png`), 16000, 16000));

/** The stderr lines of a run, the untrained-weights notice aside. */
const lines = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => l && !l.includes('untrained'));

async function timed(argv: string[]) {
  const t0 = performance.now();
  const r = await runCli(argv);
  return { ...r, ms: performance.now() - t0 };
}

/** A folder no new file can be created in, for this user (root ignores modes: sysfs refuses it). */
function unwritableDir(): string {
  if (process.getuid?.() === 0) return '/sys';
  const d = join(tmp, 'readonly');
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o555);
  return d;
}

describe('validation before decoding, reading or computing', () => {
  it('a declared 31 KB 16000×16000 PNG is a tiny file', () => {
    expect(readFileSync(huge[0]!).length).toBeLessThan(64 * 1024);
  });

  it('rejects bad options at once, without decoding four huge images', async () => {
    const cases: [string[], RegExp][] = [
      [['--backend', 'nosuch'], /^dynavit: unknown backend "nosuch"; available in Node: tensorflow-gpu, /],
      [['--scale', '2048'], /^dynavit: --scale must be LONG,SHORT in pixels/],
      [['--scale', '100000,50000'], /^dynavit: --scale 100000,50000 is too large: 5000 MP is over the 8 MP/],
      [
        ['--task', 'paint'],
        /^dynavit: --task must be one of classify, segment, detect, .*image-classification.*, got "paint"$/,
      ],
      [['--head', 'upernet_ade20k'], /^dynavit: --head is for the dense tasks/],
      [['--max-memory', 'lots'], /^dynavit: --max-memory must be a positive number of MiB, got "lots"$/],
      [['--max-megapixels=-1'], /^dynavit: --max-megapixels must be a positive number, got "-1"$/],
      [['--weights', join(tmp, 'missing.safetensors')], /^dynavit: file not found: .*missing\.safetensors$/],
      [['--weights', tmp], /^dynavit: cannot read .*: it is a folder, not a file$/],
    ];
    for (const [extra, msg] of cases) {
      const r = await timed(['run', ...huge, '--model', 'dat_pp_tiny', ...extra]);
      expect(r.code, extra.join(' ')).toBe(1);
      expect(lines(r.stderr), extra.join(' ')).toHaveLength(1);
      expect(lines(r.stderr)[0], extra.join(' ')).toMatch(msg);
      expect(r.ms, extra.join(' ')).toBeLessThan(3000);
    }
    const seg = await runCli(['run', ...huge, '--model', 'dat_pp_tiny_dense', '--task', 'segment', '--head', 'x']);
    expect(lines(seg.stderr)).toEqual([
      expect.stringMatching(
        /^dynavit: the head for semantic-segmentation must be one of upernet_ade20k, semfpn_ade20k, got "x"$/,
      ),
    ]);
    for (const [argv, msg] of [
      [['bench', '--model', 'dat_pp_tiny', '--runs', '1e12'], /^dynavit: --runs must be at most 10000, got "1e12"$/],
      [
        ['bench', '--model', 'dat_pp_tiny', '--batch', '2.5'],
        /^dynavit: --batch must be a positive integer, got "2\.5"$/,
      ],
      [['bench', '--model', 'dat_pp_tiny', '--size', ''], /^dynavit: --size must be a positive integer, got ""$/],
      [
        ['convert', coffee, join(tmp, 'c.safetensors'), '--dtype', 'int8'],
        /^dynavit: --dtype must be float32 or float16/,
      ],
      [['convert', coffee, join(tmp, 'c.safetensors'), '--model', 'resnet50'], /^dynavit: unknown model "resnet50"/],
    ] as const) {
      const r = await runCli([...argv]);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(lines(r.stderr), argv.join(' ')).toEqual([expect.stringMatching(msg)]);
    }
    for (const argv of [
      ['bench', '--model', 'dat_pp_tiny', '--backend', 'nosuch'],
      ['info', 'dat_pp_tiny', '--backend', 'nosuch'],
      ['parity', '--weights', 'a', '--io', 'b', '--backend', 'nosuch'],
      ['golden', tmp, '--backend', 'wasm,nosuch'],
    ]) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(lines(r.stderr), argv.join(' ')).toEqual([expect.stringMatching(/^dynavit: unknown backend "nosuch"/)]);
    }
  });

  it('refuses an image whose header declares more pixels than the budget, naming the file and sizes, in well under a second', async () => {
    const r = await timed(['run', huge[0]!, '--model', 'dat_pp_tiny', '--out', join(tmp, 'o-huge')]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `dynavit: ${huge[0]}: the image is 16000×16000 = 256 MP, over the pixel budget of 64 MP; raise it with --max-megapixels N if the image is trusted`,
    ]);
    expect(r.ms).toBeLessThan(1000);
    // the budget is an option: a real photo over a lowered budget is refused, and names its size
    const low = await runCli(['run', coffee, '--model', 'dat_pp_tiny', '--max-megapixels', '0.01']);
    expect(lines(low.stderr)).toEqual([
      expect.stringMatching(
        /^dynavit: .*coffee\.jpg: the image is \d+×\d+ = [\d.]+ MP, over the pixel budget of 0\.01 MP;/,
      ),
    ]);
    // raised above its declared size, the header passes and the (truncated) pixels are then decoded
    const raised = await runCli(['run', huge[0]!, '--model', 'dat_pp_tiny', '--max-megapixels', '300']);
    expect(lines(raised.stderr)).toEqual([expect.stringMatching(/^dynavit: not a readable image: .*huge1\.png/)]);
  });

  it('--size is bounded: a typed line for 100000 and 12000 at once, and below the smallest input', async () => {
    for (const argv of [
      ['info', 'dat_pp_tiny', '--size', '100000'],
      ['info', 'dat_pp_tiny', '--size', '12000'],
      ['bench', '--model', 'dat_pp_tiny', '--size', '12000'],
      ['bench', '--model', 'dat_pp_tiny', '--size', '1500', '--batch', '4'],
    ]) {
      const r = await timed(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(lines(r.stderr), argv.join(' ')).toEqual([
        expect.stringMatching(
          /^dynavit: --size \d+ is too large: .* MP is over the 4 MP limit of one forward .*--max-megapixels N$/,
        ),
      ]);
      expect(r.ms, argv.join(' ')).toBeLessThan(2000);
    }
    const small = await runCli(['info', 'glnet_stl', '--size', '16']);
    expect(lines(small.stderr)).toEqual([
      'dynavit: --size 16 is too small: the smallest side glnet_stl takes is 32 px',
    ]);
    const benchSmall = await runCli(['bench', '--model', 'glnet_stl', '--size', '16', '--runs', '1']);
    expect(lines(benchSmall.stderr)).toEqual([
      'dynavit: --size 16 is too small: the smallest side glnet_stl takes is 32 px',
    ]);
    const bad = await runCli(['info', 'dat_pp_tiny', '--size', '1e3x']);
    expect(lines(bad.stderr)).toEqual(['dynavit: --size must be a positive integer, got "1e3x"']);
    // the limit is an option
    const low = await runCli(['info', 'dat_pp_tiny', '--size', '224', '--max-megapixels', '0.01']);
    expect(lines(low.stderr)[0]).toMatch(
      /^dynavit: --size 224 is too large: 1 × 224×224 = 0\.0502 MP is over the 0\.01 MP limit/,
    );
  });
});

describe('filesystem errors are one typed line', () => {
  const file = join(tmp, 'a-file.txt');
  writeFileSync(file, 'x');

  it('run: an output folder under a file, a file as the folder, an unwritable folder — before the forward pass', async () => {
    const cases: [string, RegExp][] = [
      [join(file, 'out'), /^dynavit: cannot write .*a-file\.txt\/out: a part of the path is a file, not a folder$/],
      [file, /^dynavit: cannot write into .*a-file\.txt: it is a file, not a folder$/],
      [
        join(unwritableDir(), 'dynavit-out'),
        /^dynavit: cannot write .*dynavit-out: (permission denied|operation not permitted)$/,
      ],
    ];
    for (const [out, msg] of cases) {
      const r = await timed(['run', coffee, '--model', 'dat_pp_tiny', '--out', out, '--backend', 'cpu']);
      expect(r.code, out).toBe(1);
      expect(lines(r.stderr), out).toHaveLength(1);
      expect(lines(r.stderr)[0], out).toMatch(msg);
      // dat_pp_tiny on the plain-JS cpu backend takes many seconds: nothing was computed
      expect(r.ms, out).toBeLessThan(3000);
    }
  });

  it('convert: an output under a file, a folder as output, an unwritable folder, a folder as input', async () => {
    const src = `${coreFixtures}/heads_maskrcnn_small.pth`;
    const cases: [string[], RegExp][] = [
      [
        [src, join(file, 'x.safetensors')],
        /^dynavit: cannot write .*a-file\.txt\/x\.safetensors: a part of the path is a file, not a folder$/,
      ],
      [[src, tmp], /^dynavit: cannot write .*: it is a folder$/],
      [
        [src, join(unwritableDir(), 'x.safetensors')],
        /^dynavit: cannot write .*x\.safetensors: (permission denied|operation not permitted)$/,
      ],
      [[src, join(tmp, 'no', 'such', 'x.safetensors')], /^dynavit: cannot write .*x\.safetensors: folder not found: /],
      [[tmp, join(tmp, 'y.safetensors')], /^dynavit: cannot read .*: it is a folder, not a file$/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(['convert', ...args, '--key', 'state_dict']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(lines(r.stderr), args.join(' ')).toHaveLength(1);
      expect(lines(r.stderr)[0], args.join(' ')).toMatch(msg);
    }
  });

  it('golden and verify --dir: a file given as the folder', async () => {
    for (const argv of [
      ['golden', file],
      ['verify', '--dir', file],
    ]) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(lines(r.stderr), argv.join(' ')).toEqual([`dynavit: cannot read ${file}: it is a file, not a folder`]);
    }
    const report = await runCli(['golden', tmp, '--report', join(file, 'r.json')]);
    expect(lines(report.stderr)).toEqual([
      `dynavit: cannot write ${join(file, 'r.json')}: a part of the path is a file, not a folder`,
    ]);
  });

  it('writes atomically: a new file is renamed over the old one, no temporary file is left', async () => {
    const dir = join(tmp, 'atomic');
    mkdirSync(dir);
    // outputs that exist already, each with a second hard link: an in-place write would change both
    const outs = ['w.safetensors', 'coffee.classify.json', 'coffee.classify.png'].map((f) => join(dir, f));
    for (const f of outs) {
      writeFileSync(f, 'old');
      linkSync(f, `${f}.link`);
    }
    const inodes = outs.map((f) => statSync(f).ino);
    const r = await runCli(['convert', `${coreFixtures}/heads_maskrcnn_small.pth`, outs[0]!]);
    expect(r.code, r.stderr).toBe(0);
    const o = await runCli(['run', coffee, '--model', 'dat_pp_tiny', '--out', dir]);
    expect(o.code, o.stderr).toBe(0);
    for (const [i, f] of outs.entries()) {
      expect(statSync(f).ino, f).not.toBe(inodes[i]);
      expect(readFileSync(`${f}.link`, 'utf8'), f).toBe('old');
      expect(statSync(f).size, f).toBeGreaterThan(100);
    }
    expect(readdirSync(dir).sort()).toEqual([
      'coffee.classify.json',
      'coffee.classify.json.link',
      'coffee.classify.png',
      'coffee.classify.png.link',
      'w.safetensors',
      'w.safetensors.link',
    ]);
  });

  it('every errno is a FileError (code IO) with one line', () => {
    for (const [code, why] of [
      ['ENOSPC', 'no space left on device'],
      ['EACCES', 'permission denied'],
      ['EISDIR', 'it is a folder'],
      ['ENOTDIR', 'a part of the path is a file, not a folder'],
    ] as const) {
      const e = fileError(Object.assign(new Error(`${code}: x\n    at y`), { code }), '/x/y', 'write');
      expect(e).toBeInstanceOf(FileError);
      expect(e.code).toBe('IO');
      expect(e.message).toBe(`cannot write /x/y: ${why}`);
    }
    expect(fileError(Object.assign(new Error('x'), { code: 'ENOENT' }), '/x/y', 'read').message).toBe(
      'file not found: /x/y',
    );
  });
});

describe('non-finite weights and outputs', () => {
  it('run: NaN weights are a warning on load, NaN outputs an error line and a non-zero exit', async () => {
    await selectBackend({ prefer: 'cpu' });
    const m = createRegistry().createModel('dat_pp_tiny');
    const sd = m.stateDict();
    m.dispose();
    const bias = 'cls_head.bias';
    const t = sd.get(bias)!;
    const nan = new Float32Array(t.data as Float32Array);
    nan[0] = Number.NaN;
    nan[1] = Number.POSITIVE_INFINITY;
    nan[2] = Number.NEGATIVE_INFINITY;
    sd.set(bias, { ...t, data: nan });
    const w = join(tmp, 'nan.safetensors');
    writeFileSync(w, writeSafetensors(sd));
    const out = join(tmp, 'nan-out');
    const r = await runCli(['run', coffee, '--model', 'dat_pp_tiny', '--weights', w, '--out', out]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `dynavit: warning: ${w} has 3 non-finite values (NaN or ±Inf) in 1 tensor: ${bias} (3)`,
      `dynavit: ${coffee}: the model's output has 1000 non-finite values (NaN or ±Inf); check the weights; nothing written`,
    ]);
    expect(existsSync(join(out, 'coffee.classify.json'))).toBe(false);
  });

  it('parity: NaN/Inf weights are an error, never a pass', async () => {
    const f = readSafetensors(new Uint8Array(readFileSync(`${datCase}.weights.safetensors`)));
    const tensors = new Map<string, TensorData>(f.tensors);
    const poison = (key: string, v: number) => {
      const t = tensors.get(key)!;
      const d = new Float32Array(t.data as Float32Array);
      d[0] = v;
      tensors.set(key, { ...t, data: d });
    };
    poison('stages.3.mlps.1.linear2.0.bias', Number.NaN);
    poison('stages.3.mlps.1.linear2.0.weight', Number.POSITIVE_INFINITY);
    const w = join(tmp, 'nan.weights.safetensors');
    writeFileSync(w, writeSafetensors(tensors, f.metadata));
    const r = await runCli(['parity', '--weights', w, '--io', `${datCase}.io.safetensors`]);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([
      `dynavit: ${w} has 2 non-finite values (NaN or ±Inf) in 2 tensors: stages.3.mlps.1.linear2.0.bias (1), stages.3.mlps.1.linear2.0.weight (1); parity needs finite weights`,
    ]);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ ok: false });
  });
});

describe('convert says what it writes', () => {
  const fp16 = `${coreFixtures}/heads_maskrcnn_small.fp16.pth`;
  const dtypes = (path: string) => [
    ...new Set([...readSafetensors(new Uint8Array(readFileSync(path))).tensors.values()].map((t) => t.dtype)),
  ];

  it('an fp16 checkpoint: float32 by default (upcast), float16 with --dtype float16, and says so', async () => {
    const f32 = join(tmp, 'fp16-default.safetensors');
    const a = await runCli(['convert', fp16, f32, '--key', 'state_dict']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout.trim()).toBe(`wrote 42 tensors (float32) to ${f32}`);
    expect(dtypes(f32)).toEqual(['F32']);
    const f16 = join(tmp, 'fp16-half.safetensors');
    const b = await runCli(['convert', fp16, f16, '--key', 'state_dict', '--dtype', 'float16']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout.trim()).toBe(`wrote 42 tensors (float16) to ${f16}`);
    expect(dtypes(f16)).toEqual(['F16']);
    // the upcast values are the fp16 values exactly
    const want = readSafetensors(new Uint8Array(readFileSync(f16))).tensors;
    const got = readSafetensors(new Uint8Array(readFileSync(f32))).tensors;
    for (const [k, t] of want) expect(got.get(k)!.data, k).toEqual(toFloat32(t));
  });
});

describe('--max-memory', () => {
  it('is checked as a number of MiB on run, convert, parity and golden', async () => {
    for (const argv of [
      ['run', coffee, '--model', 'dat_pp_tiny', '--max-memory', '0'],
      ['convert', `${coreFixtures}/heads_maskrcnn_small.pth`, join(tmp, 'm.safetensors'), '--max-memory', 'x'],
      ['parity', '--weights', 'a', '--io', 'b', '--max-memory=-5'],
      ['golden', tmp, '--max-memory', 'NaN'],
    ]) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(lines(r.stderr), argv.join(' ')).toEqual([
        expect.stringMatching(/^dynavit: --max-memory must be a positive number of MiB, got /),
      ]);
    }
  });
});

describe('quiet backend probing (the built CLI, in a child process)', () => {
  const cli = `${root}/packages/backend-node/dist/cli.js`;
  const env: NodeJS.ProcessEnv = { ...process.env, VK_ICD_FILENAMES: '/usr/lib/chromium/vk_swiftshader_icd.json' };
  delete env['XDG_RUNTIME_DIR'];
  const node = (args: string[]) =>
    promisify(execFile)(process.execPath, [cli, ...args], { env, cwd: tmp }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('a typed error is exactly one stderr line, also after backends were probed', async () => {
    const notWeights = join(tmp, 'not-weights.bin');
    writeFileSync(notWeights, 'not weights at all');
    const missing = await node(['run', join(tmp, 'missing.png'), '--model', 'dat_pp_tiny']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`dynavit: file not found: ${join(tmp, 'missing.png')}\n`);
    const probed = await node(['run', coffee, '--model', 'dat_pp_tiny', '--weights', notWeights]);
    expect(probed.code).toBe(1);
    expect(probed.stderr).toBe(`dynavit: ${notWeights} is neither a safetensors file nor a PyTorch checkpoint\n`);
  });

  it('doctor probes every backend with nothing on stderr; --verbose is accepted', async () => {
    const quiet = await node(['doctor']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toMatch(/^webgpu +(yes|no) +/m);
    const loud = await node(['doctor', '--verbose']);
    expect(loud.code).toBe(0);
    expect(loud.stdout).toMatch(/would use: wasm/);
  });
});
