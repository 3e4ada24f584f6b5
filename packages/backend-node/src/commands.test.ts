import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { countMacs, readSafetensors } from '@dynavit/core';
import { writeSafetensorsFile } from '@dynavit/core/node';
import sharp from 'sharp';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { autoChoice, probeBackends, selectBackend } from './backends.js';
import { createRegistry } from './registry.js';
import { runCli } from './test-utils/run-cli.js';
import { findRepoRoot } from './testing/index.js';

const root = findRepoRoot(fileURLToPath(import.meta.url))!;
const images = fileURLToPath(new URL('./__fixtures__/images/', import.meta.url));
const coreFixtures = `${root}/packages/core/src/io/__fixtures__`;
const tmp = mkdtempSync(join(tmpdir(), 'dynavit-cli-'));

const run = runCli;

afterEach(() => vi.restoreAllMocks());

describe('backend selection and doctor', () => {
  it('reports absent optional peers instead of throwing, and picks wasm here', async () => {
    const probes = await probeBackends();
    expect(probes.map((p) => p.backend)).toEqual(['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu']);
    const tfnode = probes.find((p) => p.backend === 'tensorflow')!;
    expect(tfnode.available).toBe(false);
    expect(tfnode.reason).toMatch(/optional peer `@tensorflow\/tfjs-node` is not installed/);
    expect(autoChoice(probes)).toBe('wasm');
    const choice = await selectBackend();
    expect(choice.backend).toBe('wasm');
    expect(choice.skipped.map((s) => s.backend)).toEqual(['tensorflow-gpu', 'tensorflow', 'webgpu']);
    await expect(selectBackend({ prefer: 'tensorflow' })).rejects.toThrow(
      /backend "tensorflow" is not available: the optional peer/,
    );
  });

  it('passes over WebGPU on SwiftShader in auto-selection', () => {
    expect(
      autoChoice([
        { backend: 'webgpu', available: true, reason: 'Dawn adapter: SwiftShader driver 5.0.0' },
        { backend: 'wasm', available: true, reason: '' },
      ]),
    ).toBe('wasm');
    expect(autoChoice([{ backend: 'webgpu', available: true, reason: 'Dawn adapter: NVIDIA H100' }])).toBe('webgpu');
  });

  it('doctor prints each backend and the one it would use', async () => {
    const r = await run(['doctor']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wasm ← +yes/);
    expect(r.stdout).toMatch(/tensorflow +no +the optional peer/);
    expect(r.stdout).toMatch(/would use: wasm/);
  });
});

describe('convert', () => {
  it('converts a .pth (zip and legacy) to safetensors, also as float16, keeping every key', async () => {
    for (const [f, ref, key] of [
      ['dbra_cls_tiny_reduced.legacy.pth', 'dbra_cls_tiny_reduced.weights.digest.json', 'model'],
      ['heads_maskrcnn_small.pth', null, 'state_dict'],
    ] as const) {
      const out = join(tmp, `${f}.safetensors`);
      const r = await run(['convert', `${coreFixtures}/${f}`, out, '--key', key]);
      expect(r.code, r.stderr).toBe(0);
      const got = readSafetensors(new Uint8Array(readFileSync(out))).tensors;
      if (ref) {
        // the reference is vendored as a per-tensor sha256 digest
        const digest = JSON.parse(readFileSync(`${coreFixtures}/${ref}`, 'utf8')) as Record<string, { sha256: string }>;
        expect([...got.keys()]).toEqual(Object.keys(digest));
        for (const [k, t] of got)
          expect(
            createHash('sha256')
              .update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
              .digest('hex'),
            k,
          ).toBe(digest[k]!.sha256);
      } else {
        const want = readSafetensors(
          new Uint8Array(readFileSync(`${coreFixtures}/heads_maskrcnn_small.weights.safetensors`)),
        ).tensors;
        expect([...got.keys()]).toEqual([...want.keys()]);
        for (const [k, t] of want) expect(got.get(k)!.data, k).toEqual(t.data);
      }
    }
    const half = join(tmp, 'half.safetensors');
    expect((await run(['convert', `${coreFixtures}/heads_maskrcnn_small.pth`, half, '--dtype', 'float16'])).code).toBe(
      0,
    );
    expect(readSafetensors(new Uint8Array(readFileSync(half))).tensors.get('neck.fpn_convs.0.conv.weight')!.dtype).toBe(
      'F16',
    );
  });

  it('validates strictly against a model: ok for its own weights, every mismatch listed for another model', async () => {
    await selectBackend({ prefer: 'cpu' });
    const m = createRegistry().createModel('dat_pp_tiny');
    const own = join(tmp, 'dat_pp_tiny.safetensors');
    await writeSafetensorsFile(own, m.stateDict());
    m.dispose();
    const ok = await run([
      'convert',
      own,
      join(tmp, 'dat_pp_tiny.f16.safetensors'),
      '--model',
      'dat_pp_tiny',
      '--dtype',
      'float16',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/validated against dat_pp_tiny/);
    const wrong = await run([
      'convert',
      `${coreFixtures}/dbra_cls_tiny_reduced.legacy.pth`,
      join(tmp, 'x.safetensors'),
      '--model',
      'dat_pp_tiny',
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(
      /^dynavit: .*dbra_cls_tiny_reduced\.legacy\.pth vs dat_pp_tiny does not hold weights for dat_pp_tiny: only \d+ of its \d+ tensor names are dat_pp_tiny's \(its keys begin downsample_layers/,
    );
  });
});

describe('run', () => {
  it('classifies a real JPEG and PNG: picture at the image size, well-formed JSON with the top 5', async () => {
    const out = join(tmp, 'cls');
    const r = await run(['run', `${images}coffee.jpg`, `${images}chelsea.png`, '--model', 'dat_pp_tiny', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/untrained weights, so its predictions are meaningless/);
    for (const [name, src] of [
      ['coffee', 'coffee.jpg'],
      ['chelsea', 'chelsea.png'],
    ]) {
      const json = JSON.parse(readFileSync(join(out, `${name}.classify.json`), 'utf8')) as {
        width: number;
        height: number;
        untrained: boolean;
        result: { top: { label: string; score: number }[] };
      };
      const meta = await sharp(`${images}${src}`).metadata();
      expect([json.width, json.height]).toEqual([meta.width, meta.height]);
      expect(json.untrained).toBe(true);
      expect(json.result.top).toHaveLength(5);
      expect(json.result.top[0]!.label).toBe('tench, Tinca tinca');
      const pic = await sharp(join(out, `${name}.classify.png`)).metadata();
      expect([pic.width, pic.height, pic.format]).toEqual([meta.width, meta.height, 'png']);
    }
  });

  it('segments a real JPEG and PNG (DAT-T++ dense + Semantic FPN): overlay at the image size, class histogram', async () => {
    const out = join(tmp, 'seg');
    const r = await run([
      'run',
      `${images}coffee.jpg`,
      `${images}chelsea.png`,
      '--model',
      'dat_pp_tiny_dense',
      '--task',
      'segment',
      '--head',
      'semfpn_ade20k',
      '--scale',
      '128,64',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const [name, src] of [
      ['coffee', 'coffee.jpg'],
      ['chelsea', 'chelsea.png'],
    ]) {
      const json = JSON.parse(readFileSync(join(out, `${name}.segment.json`), 'utf8')) as {
        width: number;
        height: number;
        result: { classPixels: Record<string, number> };
      };
      const meta = await sharp(`${images}${src}`).metadata();
      expect(Object.values(json.result.classPixels).reduce((a, b) => a + b, 0)).toBe(
        (meta.width ?? 0) * (meta.height ?? 0),
      );
      const pic = await sharp(join(out, `${name}.segment.png`)).metadata();
      expect([pic.width, pic.height]).toEqual([meta.width, meta.height]);
    }
  });

  it('detects on a real JPEG and PNG (DAT-T++ dense + Mask R-CNN as DAT-Detection builds it): picture at the image size, JSON detections', async () => {
    const out = join(tmp, 'det');
    const r = await run([
      'run',
      `${images}coffee.jpg`,
      `${images}chelsea.png`,
      '--model',
      'dat_pp_tiny_dense',
      '--task',
      'detect',
      '--scale',
      '160,96',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    for (const [name, src] of [
      ['coffee', 'coffee.jpg'],
      ['chelsea', 'chelsea.png'],
    ]) {
      const json = JSON.parse(readFileSync(join(out, `${name}.detect.json`), 'utf8')) as {
        result: { numClasses: number; detections: unknown[] };
      };
      expect(json.result.numClasses).toBe(80);
      expect(Array.isArray(json.result.detections)).toBe(true);
      const meta = await sharp(`${images}${src}`).metadata();
      const pic = await sharp(join(out, `${name}.detect.png`)).metadata();
      expect([pic.width, pic.height]).toEqual([meta.width, meta.height]);
    }
  });

  it('decodes WebP too', async () => {
    const out = join(tmp, 'webp');
    const r = await run([
      'run',
      `${images}coffee.webp`,
      '--model',
      'dat_pp_tiny_dense',
      '--task',
      'segment',
      '--head',
      'semfpn_ade20k',
      '--scale',
      '96,48',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(out, 'coffee.segment.png'))).toBe(true);
  });

  it('bad input is one clear line and a non-zero exit, never a stack trace', async () => {
    const notImage = join(tmp, 'not-an-image.jpg');
    writeFileSync(notImage, 'hello');
    const truncated = join(tmp, 'truncated.safetensors');
    writeFileSync(
      truncated,
      readFileSync(`${coreFixtures}/heads_maskrcnn_small.weights.safetensors`).subarray(0, 5000),
    );
    const cases: [string[], RegExp][] = [
      [['run', join(tmp, 'missing.png'), '--model', 'dat_pp_tiny'], /^dynavit: file not found: .*missing\.png$/],
      [['run', notImage, '--model', 'dat_pp_tiny'], /^dynavit: not a readable image: .*not-an-image\.jpg/],
      [['run', `${images}coffee.jpg`, '--model', 'resnet50'], /^dynavit: unknown model "resnet50"; known models:/],
      [['run', `${images}coffee.jpg`, '--model', 'dat_pp_tiny', '--weights', truncated], /^dynavit: .*truncated/],
      [
        [
          'run',
          `${images}coffee.jpg`,
          '--model',
          'dat_pp_tiny',
          '--weights',
          `${coreFixtures}/dbra_cls_tiny_reduced.legacy.pth`,
        ],
        /^dynavit: .*dbra_cls_tiny_reduced\.legacy\.pth does not hold weights for dat_pp_tiny/,
      ],
      [
        ['run', `${images}coffee.jpg`, '--model', 'dat_pp_tiny', '--task', 'segment'],
        /^dynavit: dat_pp_tiny is a classifier; semantic-segmentation needs a dense backbone/,
      ],
      [['convert', join(tmp, 'missing.pth'), join(tmp, 'o.safetensors')], /^dynavit: file not found/],
      [['bench', '--model', 'dat_pp_tiny', '--runs', '0'], /^dynavit: --runs must be a positive integer/],
      [
        [
          'train',
          '--model',
          'glnet_fmnist',
          '--data',
          'fashion-mnist',
          '--epochs',
          '1',
          '--drop-path',
          '1',
          '--out',
          tmp,
        ],
        /^dynavit: --drop-path must be below 1, got "1"$/,
      ],
      [['run', `${images}coffee.jpg`, '--model', 'upernet_ade20k'], /^dynavit: upernet_ade20k is a head: compose it/],
      [
        ['bench', '--model', 'maskrcnn_coco'],
        /^dynavit: maskrcnn_coco is a head: compose it with a backbone \(--model dat_pp_tiny_dense --head maskrcnn_coco\)$/,
      ],
      [
        ['bench', '--model', 'glnet_4g_dense', '--head', 'upernet'],
        /^dynavit: --head must be one of maskrcnn_coco, .*upernet_ade20k, got "upernet"$/,
      ],
      [
        ['bench', '--model', 'glnet_4g', '--head', 'upernet_ade20k'],
        /^dynavit: --head composes a dense backbone with a head; glnet_4g is a classifier \(e\.g\. dat_pp_tiny_dense/,
      ],
      [
        ['bench', '--model', 'glnet_4g_dense', '--head', 'maskrcnn_coco', '--size', '100', '--backend', 'wasm'],
        /^dynavit: maskrcnn_coco runs on inputs padded to multiples of 32, as mmdet tests it; --size 100 is not one \(try 128\)$/,
      ],
      [['info', 'upernet_ade20k', '--size', '64'], /^dynavit: upernet_ade20k is a head: compose it with a backbone$/],
    ];
    for (const [argv, msg] of cases) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).not.toBe(0);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('untrained'));
      expect(lines, argv.join(' ')).toHaveLength(1);
      expect(lines[0], argv.join(' ')).toMatch(msg);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('bench and info', () => {
  it('bench prints a table and a JSON last line with latency, throughput, GFLOP/s and memory', async () => {
    const r = await run(['bench', '--model', 'dat_pp_tiny', '--size', '64', '--runs', '3', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown> & {
      latencyMs: Record<string, number>;
    };
    expect(j).toMatchObject({ model: 'dat_pp_tiny', backend: 'wasm', size: 64, batch: 1, runs: 3 });
    expect(Object.keys(j.latencyMs).sort()).toEqual(['max', 'mean', 'median', 'min', 'p90', 'stdev']);
    expect(j.latencyMs['min']).toBeLessThanOrEqual(j.latencyMs['median'] ?? 0);
    expect(j['gmacs']).toBeGreaterThan(0.3);
    for (const k of ['imagesPerSecond', 'gflopsPerSecond', 'peakTensorBytes', 'rssBytes'])
      expect(j[k], k).toBeGreaterThan(0);
  });

  it('bench --profile: time by kernel and by module (top 15), in tables and in the JSON line', async () => {
    const r = await run([
      'bench',
      '--model',
      'dat_pp_tiny',
      '--size',
      '64',
      '--runs',
      '1',
      '--profile',
      '--backend',
      'wasm',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/by kernel \(tf\.profile, [\d.]+ ms in kernels of a [\d.]+ ms pass\), top 15:/);
    expect(r.stdout).toContain('by module (self time, wall clock), top 15:');
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      profile: { totalMs: number; kernels: { name: string; ms: number }[]; modules: { name: string; ms: number }[] };
    };
    expect(j.profile.kernels.length).toBeGreaterThan(5);
    expect(j.profile.kernels.length).toBeLessThanOrEqual(15);
    // the convolutions add their bias inside (FusedConv2D); the op around a fused kernel is not counted
    expect(j.profile.kernels.map((k) => k.name)).toContain('FusedConv2D');
    expect(j.profile.kernels.filter((k) => k.name.endsWith('__op'))).toEqual([]);
    // DAT-T++'s own mechanisms appear by class, and self times never exceed the pass
    expect(j.profile.modules.map((m) => m.name)).toEqual(
      expect.arrayContaining(['DAttentionBaseline', 'NeighborhoodAttention2D']),
    );
    expect(j.profile.modules.reduce((a, m) => a + m.ms, 0)).toBeLessThanOrEqual(j.profile.totalMs + 1e-6);
  });

  it("bench --head upernet_ade20k: the backbone MACs plus UperNet's, counted by hand", async () => {
    const size = 64;
    const r = await run([
      'bench',
      '--model',
      'glnet_4g_dense',
      '--head',
      'upernet_ade20k',
      '--size',
      String(size),
      '--runs',
      '1',
      '--backend',
      'wasm',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('glnet_4g_dense + upernet_ade20k');
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
    expect(j).toMatchObject({ model: 'glnet_4g_dense', head: 'upernet_ade20k', size, runs: 1 });
    expect(j['detections']).toBeUndefined();
    // the backbone alone, counted here
    const backbone = createRegistry().createModel('glnet_4g_dense');
    if (backbone.kind !== 'backbone') throw new Error('glnet_4g_dense is not a backbone');
    const x = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const counted = countMacs(() => backbone.forwardFeatures(x));
    const sides = counted.result.map((t) => t.shape[1]);
    tf.dispose(counted.result);
    expect(tf.memory().numTensors).toBe(before);
    const c = backbone.featureInfo.map((f) => f.channels);
    x.dispose();
    backbone.dispose();
    // mmseg UPerHead, 512 channels, 150 classes: PPM (1×1 convs on 1², 2², 3², 6² pools of C5), its 3×3
    // bottleneck on C5 ⊕ the pools, 1×1 laterals and 3×3 FPN convs at levels 1-3, the 3×3 fuse of the four
    // levels at level 1, the 1×1 classifier
    const n = sides.map((s) => s! * s!);
    const ch = 512;
    let head = c[3]! * ch * (1 + 4 + 9 + 36) + 9 * (c[3]! + 4 * ch) * ch * n[3]!;
    for (let i = 0; i < 3; i++) head += c[i]! * ch * n[i]! + 9 * ch * ch * n[i]!;
    head += 9 * 4 * ch * ch * n[0]! + ch * 150 * n[0]!;
    expect((j['gmacs'] as number) * 1e9).toBeCloseTo(counted.macs + head, -1);
  });

  it('bench --head maskrcnn_coco times the whole test path with 100 detections, never reading synchronously', async () => {
    // WebGPU in Node has no synchronous read (tfjs reads through a canvas there): the bench must not need one
    const dataSync = vi.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(() => {
      throw new Error('dataSync called: WebGPU in Node cannot read synchronously');
    });
    const r = await run([
      'bench',
      '--model',
      'glnet_4g_dense',
      '--head',
      'maskrcnn_coco',
      '--size',
      '128',
      '--runs',
      '1',
      '--backend',
      'wasm',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
    expect(j).toMatchObject({ model: 'glnet_4g_dense', head: 'maskrcnn_coco', size: 128, detections: 100 });
    expect(dataSync).not.toHaveBeenCalled();
    // the mask branch alone: four 3×3 256→256 convs on 14² for each of the 100 detections
    expect(j['gmacs']).toBeGreaterThan((100 * 4 * 9 * 256 * 256 * 14 * 14) / 1e9);
  });

  it('info gives the MAC count the papers report (DAT-T++: 4.26 G at 224)', async () => {
    const r = await run(['info', 'dat_pp_tiny', '--size', '224']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('parameters: 23,962,876');
    expect(r.stdout).toMatch(/MACs at 224×224: 4\.26 G/);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('info on a backbone counts the MACs of its feature maps; on a head it describes the head', async () => {
    const b = await run(['info', 'dat_pp_tiny_dense', '--size', '64']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/MACs at 64×64: \d+\.\d\d G/);
    const h = await run(['info', 'upernet_ade20k']);
    expect(h.code, h.stderr).toBe(0);
    expect(h.stdout).toContain('parameters: 30,307,628');
    expect(h.stdout).toMatch(/segmentation head, 150 classes, on feature maps of 64, 128, 256, 512 channels/);
  });
});
