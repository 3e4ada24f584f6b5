/**
 * `dynavit train` and `dynavit eval` through the CLI: Fashion-MNIST (Debian's dataset-fashion-mnist, installed
 * in CI), class folders and a CSV built here from generated PNGs, exact resume after a killed run, and every
 * bad input as one typed line and a non-zero exit. Training runs in-process (the model's tensors are counted)
 * on wasm, the small models at small inputs; a killed run is a child process on the built CLI.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readSafetensors } from '@dynavit/core';
import { parseIdx } from '@dynavit/train';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { selectBackend } from './backends.js';
import { outOfMemory } from './commands/train.js';
import { createRegistry } from './registry.js';
import { runCli } from './test-utils/run-cli.js';
import { FASHION_MNIST_DIR } from './train/datasets.js';

/** Make the n-th checkpoint write of `failName` fail with ENOSPC (a full disk); off when `failOn` is 0. */
const fault = vi.hoisted(() => ({ failName: '', failOn: 0, seen: 0 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof fs.writeFile = async (path, ...rest) => {
    if (fault.failOn && String(path).endsWith(fault.failName) && ++fault.seen === fault.failOn) {
      const err = new Error(`ENOSPC: no space left on device, write '${String(path)}'`) as NodeJS.ErrnoException;
      err.code = 'ENOSPC';
      throw err;
    }
    return fs.writeFile(path, ...rest);
  };
  return { ...fs, default: { ...fs, writeFile }, writeFile };
});

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'dynavit-train-'));
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
const tensorsOf = (path: string) => readSafetensors(new Uint8Array(readFileSync(path)), path).tensors;
const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const pointer = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { current: string; step: number; epoch: number };

/** A `size`×`size` PNG: class 0 dark with a light square, class 1 light with a dark stripe, varied by `i`. */
async function png(path: string, label: number, i: number, size = 40): Promise<void> {
  const data = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const inside = label === 0 ? x > 10 && x < 30 && y > 10 && y < 30 : x > 15 + (i % 5) && x < 25 + (i % 5);
      const v = label === 0 ? (inside ? 220 : 30) : inside ? 20 : 200;
      data.fill((v + 7 * i) % 256, 3 * (y * size + x), 3 * (y * size + x) + 3);
    }
  await sharp(data, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(path);
}

/** DIR/<class>/<n>.png, `perClass` images of 2 classes ("dark", "light"). */
async function classFolders(perClass: number, size = 40): Promise<string> {
  const dir = tmp();
  for (const [label, name] of ['dark', 'light'].entries()) {
    mkdirSync(join(dir, name));
    for (let i = 0; i < perClass; i++) await png(join(dir, name, `${i}.png`), label, i, size);
  }
  return dir;
}

/** A bad-input run: exit code 1 and exactly one stderr line `dynavit: …` matching `message`. */
async function refuses(argv: string[], message: RegExp): Promise<string> {
  const r = await runCli(argv);
  expect(r.code, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^dynavit: /);
  expect(lines[0]).toMatch(message);
  return lines[0]!;
}

/** Run the built CLI; resolves with its stdout once `until(line)` holds for a stdout line (then kills it) or it exits. */
function runChild(argv: string[], until?: (line: string) => boolean): Promise<{ stdout: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!killed && until && stdout.split('\n').some((l) => l && until(l))) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (!killed && code !== 0) reject(new Error(`dynavit ${argv.join(' ')} exited ${code}: ${stderr}`));
      else resolve({ stdout, killed });
    });
  });
}

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
});

describe('dynavit train / eval', () => {
  it('list shows the *_fmnist models; run without --weights says untrained for one that ships no weights', async () => {
    const l = await runCli(['list']);
    expect(l.stdout).toMatch(/dat_fmnist +dat +classifier +662,046/);
    expect(l.stdout).toMatch(/debi_fmnist +dbra +classifier +615,184/);
    expect(l.stdout).toMatch(/glnet_fmnist +glmix +classifier +646,957/);
    const p = await runCli(['list', '--pretrained']);
    expect(p.stdout).toMatch(/dat_fmnist +image-classification +Fashion-MNIST +top-1 [\d.]+ +bundled/);
    expect(p.stdout).toMatch(/glnet_fmnist +image-classification +Fashion-MNIST +top-1 [\d.]+ +bundled/);
    expect(p.stdout).toMatch(/debi_fmnist +image-classification +Fashion-MNIST +top-1 [\d.]+ +bundled/);
    const dir = tmp();
    await png(join(dir, 'x.png'), 0, 0);
    const r = await runCli(['run', join(dir, 'x.png'), '--model', 'debi_tiny', '--out', join(dir, 'out')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/no --weights given: debi_tiny runs with untrained weights/);
  }, 120_000);

  it(
    'the shipped models: the file is the zoo entry (sha256, metadata), run needs no --weights and names Fashion-MNIST classes, eval reproduces the published top-1 on the 10,000 test images',
    { timeout: 900_000 },
    async () => {
      const registry = createRegistry();
      const shipped = registry.pretrained().filter((e) => e.bundled);
      expect(shipped.map((e) => e.id).sort()).toEqual(['dat_fmnist', 'debi_fmnist', 'glnet_fmnist']);
      // Fashion-MNIST's test images 0 (an ankle boot, label 9) and 2 (trousers, label 1), as PNGs
      const fmnist = process.env['DYNAVIT_FASHION_MNIST'] ?? FASHION_MNIST_DIR;
      const images = parseIdx(gunzipSync(readFileSync(join(fmnist, 't10k-images-idx3-ubyte.gz'))));
      const dir = tmp();
      for (const i of [0, 2])
        await sharp(Buffer.from(images.data.subarray(i * 784, (i + 1) * 784)), {
          raw: { width: 28, height: 28, channels: 1 },
        })
          .png()
          .toFile(join(dir, `t10k-${i}.png`));
      for (const e of shipped) {
        const path = fileURLToPath(e.urls[0]!);
        expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(e.sha256);
        const md = readSafetensors(new Uint8Array(readFileSync(path)), path).metadata;
        expect(md['dynavit_model']).toBe(e.model);
        expect(JSON.parse(md['dynavit_classes']!)).toEqual(e.labels);
        const out = join(dir, e.model);
        const r = await runCli([
          'run',
          join(dir, 't10k-0.png'),
          join(dir, 't10k-2.png'),
          '--model',
          e.model,
          '--out',
          out,
        ]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).not.toMatch(/untrained/);
        const top = (i: number) =>
          (
            JSON.parse(readFileSync(join(out, `t10k-${i}.classify.json`), 'utf8')) as {
              result: { top: { label: string }[] };
            }
          ).result.top[0]!.label;
        expect([top(0), top(2)]).toEqual(['Ankle boot', 'Trouser']);
        // --model alone: the weights that ship with the package
        const ev = await runCli(['eval', '--model', e.model, '--data', 'fashion-mnist']);
        expect(ev.code, ev.stderr).toBe(0);
        const res = lastJson(ev.stdout) as { top1: number; count: number };
        expect(res.count).toBe(10_000);
        // the published number is what eval measures (2 test images either way: near-ties between classes)
        expect(Math.abs(100 * res.top1 - e.metrics[0]!.value)).toBeLessThanOrEqual(0.02);
      }
    },
  );

  it(
    'fashion-mnist: train dat_fmnist on 200 images for an epoch, then eval its weights on 200 test images',
    { timeout: 900_000 },
    async () => {
      const out = tmp();
      const start = tf.memory().numTensors;
      const t = await runCli([
        'train',
        ...['--model', 'dat_fmnist', '--data', 'fashion-mnist', '--limit', '200', '--epochs', '1'],
        ...['--batch-size', '32', '--out', out, '--backend', 'wasm'],
      ]);
      expect(t.code, t.stderr).toBe(0);
      expect(tf.memory().numTensors).toBe(start);
      // JSON lines (stdout is not a terminal): start, a step per update, the epoch, the checkpoint, the end, the result
      const events = t.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(events.map((e) => e['type'])).toEqual([
        'start',
        ...Array(6).fill('step'),
        'epoch',
        'checkpoint',
        'end',
        'result',
      ]);
      const result = events.at(-1)!;
      expect(result).toMatchObject({ model: 'dat_fmnist', backend: 'wasm', steps: 6, images: 200, valCount: 200 });
      expect(result['top1']).toBeGreaterThanOrEqual(0);
      const weights = join(out, 'model.safetensors');
      const file = readSafetensors(new Uint8Array(readFileSync(weights)), weights);
      expect(file.metadata).toMatchObject({
        dynavit_model: 'dat_fmnist',
        dynavit_num_classes: '10',
        dynavit_input_size: '64',
      });
      expect(JSON.parse(file.metadata['dynavit_classes']!)).toContain('Ankle boot');
      expect(pointer(out)).toMatchObject({ step: 6, epoch: 1 });
      const state = JSON.parse(readFileSync(join(out, pointer(out).current, 'state.json'), 'utf8'));
      expect(state).toMatchObject({ step: 6, epoch: 1, seed: 42 });

      const e = await runCli([
        'eval',
        ...['--weights', weights, '--data', 'fashion-mnist', '--limit', '200'],
        ...['--batch-size', '32'], // the training's evaluation batches: the same arithmetic
      ]);
      expect(e.code, e.stderr).toBe(0);
      expect(e.stdout).toMatch(/^dat_fmnist on fashion-mnist .*: top-1 \d+\.\d\d%, top-5 \d+\.\d\d% \(200 images/);
      const ev = lastJson(e.stdout);
      expect(ev).toMatchObject({ type: 'eval', model: 'dat_fmnist', count: 200, size: 64 });
      // the same weights on the same 200 test images as the training's own evaluation
      expect(ev['top1']).toBe(result['top1']);
      expect(ev['top5']).toBe(result['top5']);
      expect(ev['loss'] as number).toBeCloseTo(result['valLoss'] as number, 4);
      expect(tf.memory().numTensors).toBe(start);
    },
  );

  it('class folders (with --val-split and --plot) and a CSV of path,label', { timeout: 600_000 }, async () => {
    const data = await classFolders(6);
    const out = tmp();
    const start = tf.memory().numTensors;
    const t = await runCli([
      'train',
      ...['--model', 'glnet_fmnist', '--data', data, '--epochs', '2', '--batch-size', '3', '--size', '32'],
      ...['--val-split', '0.25', '--plot', '--ema', '--drop-path', '0.2', '--out', out],
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(tf.memory().numTensors).toBe(start);
    const result = lastJson(t.stdout);
    expect(result).toMatchObject({ images: 9, valCount: 3, steps: 6, epochs: 2 });
    expect(result['emaTop1']).toBeGreaterThanOrEqual(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run).toMatchObject({
      model: 'glnet_fmnist',
      classes: ['dark', 'light'],
      numClasses: 2,
      size: 32,
      dropPath: 0.2,
    });
    const plot = await sharp(join(out, 'curves.png')).metadata();
    expect(plot).toMatchObject({ format: 'png', width: 960 });
    expect(existsSync(join(out, 'model_ema.safetensors'))).toBe(true);
    // eval on the whole folder: 12 images, classes matched by folder name
    const e = await runCli(['eval', '--weights', join(out, 'model.safetensors'), '--data', data]);
    expect(e.code, e.stderr).toBe(0);
    expect(lastJson(e.stdout)).toMatchObject({ model: 'glnet_fmnist', count: 12, size: 32 });

    // the same images as a CSV (a header row, paths relative to the CSV)
    const csv = join(data, '..', `${data.split('/').at(-1)}.csv`);
    const rows = ['path,label'];
    for (const [label, name] of ['dark', 'light'].entries())
      for (let i = 0; i < 6; i++) rows.push(`${data.split('/').at(-1)}/${name}/${i}.png,${label}`);
    writeFileSync(csv, `${rows.join('\n')}\n`);
    const out2 = tmp();
    const c = await runCli([
      'train',
      ...['--model', 'debi_fmnist', '--data', csv, '--epochs', '1', '--batch-size', '4', '--size', '32'],
      ...['--no-aug', '--sched-on-updates', '--lr', '1e-3', '--min-lr', '1e-5', '--warmup-epochs', '0'],
      ...['--out', out2],
    ]);
    expect(c.code, c.stderr).toBe(0);
    expect(lastJson(c.stdout)).toMatchObject({ model: 'debi_fmnist', images: 12, steps: 3 });
    expect(JSON.parse(readFileSync(join(out2, 'run.json'), 'utf8'))).toMatchObject({
      numClasses: 2,
      augment: false,
      schedOnUpdates: true,
    });
    // --sched-on-updates: the cosine falls at every update, 1e-5 + ½(1e-3 − 1e-5)(1 + cos(πk/3)) for update k
    const rates = c.stdout
      .split('\n')
      .filter((l) => l.startsWith('{"type":"step"'))
      .map((l) => (JSON.parse(l) as { lr: number }).lr);
    expect(rates).toHaveLength(3);
    for (const [k, want] of [1e-3, 7.525e-4, 2.575e-4].entries()) expect(rates[k]).toBeCloseTo(want, 9);
    const ce = await runCli(['eval', '--weights', join(out2, 'model.safetensors'), '--data', csv]);
    expect(ce.code, ce.stderr).toBe(0);
    expect(lastJson(ce.stdout)).toMatchObject({ count: 12 });
    expect(tf.memory().numTensors).toBe(start);
  });

  it(
    'resume: a run killed after its first epoch, resumed with --resume DIR, ends with the weights of an uninterrupted run; fine-tuning them on 2 classes',
    { timeout: 900_000 },
    async () => {
      const args = [
        ...['--model', 'glnet_fmnist', '--data', 'fashion-mnist', '--limit', '16', '--epochs', '2'],
        ...['--batch-size', '8', '--size', '32', '--warmup-epochs', '1', '--ema'],
      ];
      const a = tmp();
      const ra = await runCli(['train', ...args, '--out', a]);
      expect(ra.code, ra.stderr).toBe(0);
      const b = tmp();
      const killed = await runChild(['train', ...args, '--out', b], (l) => l.includes('"type":"checkpoint"'));
      expect(killed.killed).toBe(true);
      expect(pointer(b)).toMatchObject({ step: 2, epoch: 1 });
      expect(existsSync(join(b, 'model.safetensors'))).toBe(false);
      // --resume takes the run's options from run.json; one given again must agree
      await refuses(['train', '--resume', b, '--lr', '0.1'], /--lr 0\.1 differs from the run being resumed/);
      const rb = await runCli(['train', '--resume', b]);
      expect(rb.code, rb.stderr).toBe(0);
      expect(JSON.parse(rb.stdout.trim().split('\n')[0]!)).toMatchObject({
        type: 'start',
        resumed: true,
        step: 2,
        epoch: 1,
      });
      expect(lastJson(rb.stdout)).toMatchObject({ steps: 4 });
      expect(lastJson(rb.stdout)['top1']).toBe(lastJson(ra.stdout)['top1']);
      for (const f of ['model.safetensors', 'model_ema.safetensors']) {
        const wa = tensorsOf(join(a, f));
        const wb = tensorsOf(join(b, f));
        expect([...wb.keys()]).toEqual([...wa.keys()]);
        for (const [k, t] of wa) expect(bytes(wb.get(k)!.data).equals(bytes(t.data)), `${f} ${k}`).toBe(true);
      }

      // fine-tuning those 10-class weights on 2 classes: a fresh head, stage 0 frozen, the backbone at a tenth of the rate
      const folder = await classFolders(4);
      const ft = tmp();
      const f = await runCli([
        'train',
        ...['--model', 'glnet_fmnist', '--weights', join(a, 'model.safetensors'), '--data', folder],
        ...['--freeze-stages', '0', '--backbone-lr-scale', '0.1', '--epochs', '1', '--batch-size', '4', '--size', '32'],
        ...['--out', ft],
      ]);
      expect(f.code, f.stderr).toBe(0);
      expect(f.stderr).toMatch(
        /fine-tuning from .*: \d+ tensors loaded, head re-initialised for 2 classes \(head\.weight, head\.bias\)/,
      );
      const begin = JSON.parse(f.stdout.trim().split('\n')[0]!) as { parameters: number; trainable: number };
      expect(begin.trainable).toBeLessThan(begin.parameters);
      const before = tensorsOf(join(a, 'model.safetensors'));
      const after = tensorsOf(join(ft, 'model.safetensors'));
      expect(after.get('head.weight')!.shape).toEqual([2, 128]);
      const frozen = [...after.keys()].filter((k) => k.startsWith('stages.0.') || k.startsWith('downsample_layers.0.'));
      expect(frozen.length).toBeGreaterThan(0);
      for (const k of frozen) expect(bytes(after.get(k)!.data).equals(bytes(before.get(k)!.data)), k).toBe(true);
      const moved = [...after.keys()].filter(
        (k) => k.startsWith('stages.2.') && !bytes(after.get(k)!.data).equals(bytes(before.get(k)!.data)),
      );
      expect(moved.length).toBeGreaterThan(0);
    },
  );

  it(
    'ablate: two mechanisms in the same skeleton, one table (JSON, Markdown, PNG); a rerun reuses the runs',
    {
      timeout: 600_000,
    },
    async () => {
      const data = await classFolders(4, 32);
      const out = tmp();
      const start = tf.memory().numTensors;
      const argv = [
        'ablate',
        ...['--data', data, '--out', out, '--skeleton', 'glnet_fmnist', '--size', '32'],
        ...[
          '--mechanisms',
          'core.dwconv,core.global',
          '--limit',
          '8',
          '--batch-size',
          '4',
          '--val-split',
          '0.5',
          '--plot',
        ],
      ];
      const a = await runCli(argv);
      expect(a.code, a.stderr).toBe(0);
      expect(tf.memory().numTensors).toBe(start);
      const report = lastJson(a.stdout) as { rows: Array<Record<string, unknown>> } & Record<string, unknown>;
      expect(report).toMatchObject({
        type: 'ablation',
        skeleton: 'glnet_fmnist',
        lr: 0.001,
        limit: 8,
        epochs: 1,
        batchSize: 4,
        size: 32,
      });
      expect(report.rows.map((r) => r['mechanism'])).toEqual(['core.dwconv', 'core.global']);
      for (const r of report.rows) {
        expect(r['top1']).toBeGreaterThanOrEqual(0);
        expect(r['top1']).toBeLessThanOrEqual(1);
        expect(r['trainImagesPerSecond']).toBeGreaterThan(0);
        expect(r['inferenceMs']).toBeGreaterThan(0);
        expect(r['macs']).toBeGreaterThan(0);
        // each run is a dynavit train run of the skeleton with the mechanism in all four stages
        expect(JSON.parse(readFileSync(join(String(r['dir']), 'run.json'), 'utf8'))).toMatchObject({
          model: 'glnet_fmnist',
          batchSize: 4,
          limit: 8,
          valSplit: 0.5,
          lr: 0.001,
          attention: { 0: r['mechanism'], 1: r['mechanism'], 2: r['mechanism'], 3: r['mechanism'] },
        });
      }
      // the two mechanisms differ in size: the table measures each model, not the skeleton
      expect(report.rows[0]!['parameters']).not.toBe(report.rows[1]!['parameters']);
      expect(JSON.parse(readFileSync(join(out, 'ablation.json'), 'utf8'))).toEqual(report);
      const md = readFileSync(join(out, 'ablation.md'), 'utf8');
      expect(md).toMatch(
        /\| mechanism \| package \| test top-1 \| parameters \| MMACs \| training img\/s \| inference ms \|/,
      );
      expect(md.split('\n').filter((l) => l.startsWith('| `'))).toHaveLength(2);
      expect(await sharp(join(out, 'ablation.png')).metadata()).toMatchObject({ format: 'png', width: 1080 });
      // a rerun finds both runs finished: the same results, nothing trained again
      const b = await runCli(argv);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stderr).toMatch(/core\.dwconv already trained/);
      const again = lastJson(b.stdout) as typeof report;
      expect(again.rows.map((r) => [r['mechanism'], r['top1'], r['parameters']])).toEqual(
        report.rows.map((r) => [r['mechanism'], r['top1'], r['parameters']]),
      );
    },
  );

  describe('bad input: one typed line and exit 1', () => {
    it('an empty folder, a non-image in a class folder, images smaller than the model takes, --size too small', async () => {
      const empty = tmp();
      const base = ['train', '--model', 'dat_fmnist', '--epochs', '1'];
      await refuses([...base, '--data', empty, '--out', tmp()], /no class folders .*the folder is empty/);
      const withText = await classFolders(2);
      writeFileSync(join(withText, 'light', 'notes.txt'), 'not an image');
      await refuses(
        [...base, '--data', withText, '--out', tmp()],
        /light\/notes\.txt \(in .*\) is not an image that can be read/,
      );
      const small = await classFolders(2, 16);
      await refuses(
        [...base, '--data', small, '--out', tmp()],
        /(dark|light)\/\d\.png \(in .*\) is 16×16, smaller than the model's smallest input side \(33 px\)/,
      );
      await refuses(
        [...base, '--data', 'fashion-mnist', '--size', '32', '--out', tmp()],
        /--size 32 is too small: the smallest side dat_fmnist takes is 33 px/,
      );
      await refuses(
        ['eval', '--weights', join(empty, 'none.safetensors'), '--data', 'fashion-mnist'],
        /file not found: .*none\.safetensors/,
      );
      // --model alone is for a model whose weights ship with its package
      await refuses(
        ['eval', '--model', 'debi_tiny', '--data', 'fashion-mnist'],
        /eval needs --weights FILE .*, or --model NAME of a model whose weights ship with its package/,
      );
    }, 120_000);

    it('a backend out of memory (a trap of the wasm heap, a refused allocation) is a BUDGET error saying what to lower', () => {
      const wasm = outOfMemory(
        new WebAssembly.RuntimeError('table index is out of bounds'),
        'wasm',
        'training at --batch-size 128',
        true,
      );
      expect(wasm?.code).toBe('BUDGET');
      expect(wasm?.message).toBe(
        "training at --batch-size 128 ran out of the wasm backend's memory (at most 4 GiB) (table index is out of bounds): lower --batch-size (--accum-steps N keeps the effective batch) or --size",
      );
      expect(
        outOfMemory(new RangeError('Array buffer allocation failed'), 'cpu', 'evaluation at --batch-size 64', false)
          ?.message,
      ).toMatch(/^evaluation at --batch-size 64 ran out of the cpu backend's memory .*: lower --batch-size$/);
      expect(outOfMemory(new Error('other'), 'wasm', 'x', true)).toBeUndefined();
    });

    it('ablate: an unknown mechanism, a skeleton that is not a classifier, no --data', async () => {
      const out = tmp();
      await refuses(
        ['ablate', '--data', 'fashion-mnist', '--out', out, '--mechanisms', 'core.dwconv,nope'],
        /ablate: unknown mechanism "nope"; registered: core\.global, /,
      );
      await refuses(
        ['ablate', '--data', 'fashion-mnist', '--out', out, '--skeleton', 'dat_pp_tiny_dense'],
        /ablate: --skeleton dat_pp_tiny_dense is a backbone, not a classifier/,
      );
      await refuses(['ablate', '--out', out], /ablate needs --data/);
    });

    it('labels out of range (a CSV), labels that are not class indices', async () => {
      const data = await classFolders(2);
      const csv = join(data, 'labels.csv');
      writeFileSync(csv, 'dark/0.png,0\ndark/1.png,3\nlight/0.png,12\n');
      const base = ['train', '--model', 'glnet_fmnist', '--epochs', '1', '--data', csv];
      await refuses(
        [...base, '--num-classes', '10', '--out', tmp()],
        /labels\.csv line 3: label 12 is out of range: the model has 10 classes \(labels 0–9\)/,
      );
      writeFileSync(csv, 'dark/0.png,0\nlight/0.png,cat\n');
      await refuses([...base, '--out', tmp()], /labels\.csv line 2: label "cat" is not a class index/);
    }, 120_000);

    it(
      'a NaN loss stops training with a clear message and keeps the last good checkpoint',
      { timeout: 600_000 },
      async () => {
        const out = tmp();
        const start = tf.memory().numTensors;
        const r = await runCli([
          'train',
          ...['--model', 'glnet_fmnist', '--data', 'fashion-mnist', '--limit', '12', '--epochs', '1'],
          ...['--batch-size', '4', '--size', '32', '--lr', '1e30', '--warmup-epochs', '0', '--checkpoint-steps', '1'],
          ...['--out', out],
        ]);
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split('\n')).toHaveLength(1);
        expect(r.stderr).toMatch(
          /^dynavit: training loss is (NaN|Infinity|-Infinity) at epoch 0, update 2 .*Lower --lr or clip gradients \(--clip-grad\)\. Training stopped; the last good checkpoint \(epoch 0, update 1\) is in /,
        );
        expect(tf.memory().numTensors).toBe(start);
        const p = pointer(out);
        expect(p.step).toBe(1);
        expect(JSON.parse(readFileSync(join(out, p.current, 'state.json'), 'utf8'))).toMatchObject({ step: 1 });
        expect(existsSync(join(out, 'model.safetensors'))).toBe(false); // no final weights from a failed run
      },
    );

    it(
      'a checkpoint write that fails (disk full) leaves the previous checkpoint intact',
      { timeout: 600_000 },
      async () => {
        const out = tmp();
        const start = tf.memory().numTensors;
        Object.assign(fault, { failName: 'optimizer.safetensors', failOn: 2, seen: 0 });
        let r: Awaited<ReturnType<typeof runCli>>;
        try {
          r = await runCli([
            'train',
            ...['--model', 'glnet_fmnist', '--data', 'fashion-mnist', '--limit', '8', '--epochs', '2'],
            ...['--batch-size', '4', '--size', '32', '--out', out],
          ]);
        } finally {
          fault.failOn = 0;
        }
        expect(r.code).toBe(1);
        expect(r.stderr.trim()).toMatch(/^dynavit: cannot write .*optimizer\.safetensors: no space left on device$/);
        expect(tf.memory().numTensors).toBe(start);
        // the epoch-1 checkpoint is what the pointer names, complete; no staging folder is left behind
        const p = pointer(out);
        expect(p).toMatchObject({ step: 2, epoch: 1 });
        expect(readdirSync(out).filter((f) => f.startsWith('.checkpoint-next') || f.startsWith('checkpoint-'))).toEqual(
          [p.current],
        );
        expect(JSON.parse(readFileSync(join(out, p.current, 'state.json'), 'utf8'))).toMatchObject({
          step: 2,
          epoch: 1,
        });
        expect(
          readSafetensors(new Uint8Array(readFileSync(join(out, p.current, 'model.safetensors'))), 'm').metadata,
        ).toMatchObject({ step: '2' });
        // and the run continues from it
        const rr = await runCli(['train', '--resume', out]);
        expect(rr.code, rr.stderr).toBe(0);
        expect(lastJson(rr.stdout)).toMatchObject({ steps: 4 });
      },
    );
  });
});
