import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initializeWeights, InvalidArgumentError, writeSafetensors } from '@dynavit/core';
import { describe, expect, it } from 'vitest';
import { WorkerError, WorkerPool, workersOption } from './pool.js';
import { createRegistry } from './registry.js';

const script = new URL('./__fixtures__/workers/square.mjs', import.meta.url);
// the bench workers load the built worker script, so the CLI is run as built (`test` builds first)
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const dynavit = (...argv: string[]) =>
  spawnSync(process.execPath, [cli, ...argv], { encoding: 'utf8', timeout: 300_000 });
const start = (workers: number, workerData?: unknown) =>
  WorkerPool.start<number, number>({ script, workers, workerData });

describe('worker pool', () => {
  it('runs every task once, in order of the inputs, on all its workers', async () => {
    const pool = await start(2);
    try {
      expect(pool.size).toBe(2);
      expect(await pool.runAll([1, 2, 3, 4, 5, 6, 7])).toEqual([1, 4, 9, 16, 25, 36, 49]);
      expect(await pool.run(12)).toBe(144);
    } finally {
      await pool.close();
    }
    await expect(pool.run(1)).rejects.toThrow(/closed/);
  });

  it('a worker that exits mid-task fails the batch with a WorkerError; no worker is left running', async () => {
    const pool = await start(2, { mode: 'exit-on', at: 3 });
    const err = await pool.runAll([1, 2, 3, 4, 5, 6]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as Error).message).toMatch(/^worker [01] exited with code 3 while running a task$/);
    // runAll closed the pool: every worker was terminated, new work is refused at once
    await expect(pool.run(2)).rejects.toThrow(/closed/);
  });

  it('a task that throws in its worker is a WorkerError naming the worker and the error', async () => {
    const pool = await start(1, { mode: 'throw-on', at: 2 });
    try {
      await expect(pool.run(2)).rejects.toThrow(/^worker 0: NumericError: cannot square 2$/);
      expect(await pool.run(3)).toBe(9); // the worker itself is fine
    } finally {
      await pool.close();
    }
  });

  it('a worker that cannot start fails start with a WorkerError, and the others are terminated', async () => {
    await expect(start(2, { mode: 'fail-start' })).rejects.toThrow(/^worker [01] failed to start: no backend here$/);
  });

  it('when every worker has died, queued work fails instead of waiting', async () => {
    const pool = await start(1, { mode: 'exit-on', at: 1 });
    const a = pool.run(1);
    const b = pool.run(2);
    await expect(a).rejects.toThrow(/exited with code 3/);
    await expect(b).rejects.toThrow(/every worker of the pool has stopped/);
    await expect(pool.run(3)).rejects.toThrow(/every worker of the pool has stopped/);
    await pool.close();
  });

  it('--workers: a positive integer, at most what the machine runs at once', () => {
    expect(workersOption(undefined)).toBe(1);
    expect(workersOption('1')).toBe(1);
    const max = availableParallelism();
    expect(workersOption(String(max))).toBe(max);
    for (const bad of ['0', '-1', '1.5', 'x', ''])
      expect(() => workersOption(bad)).toThrow(/^--workers must be a positive integer/);
    expect(() => workersOption(String(max + 1))).toThrow(InvalidArgumentError);
    expect(() => workersOption(String(max + 1))).toThrow(`more than this machine runs at once (${max})`);
  });

  it('dynavit bench --workers 2 --head: each worker composes the backbone with the head', () => {
    const r = dynavit(
      'bench',
      '--model',
      'glnet_4g_dense',
      '--head',
      'retinanet_coco_dat',
      '--size',
      '64',
      '--runs',
      '1',
      '--workers',
      '2',
      '--backend',
      'wasm',
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('glnet_4g_dense + retinanet_coco_dat');
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | string>;
    expect(result).toMatchObject({ model: 'glnet_4g_dense', head: 'retinanet_coco_dat', workers: 2 });
    // class 0 made certain: NMS keeps some of the anchors, at most the official 100
    expect(result['detections']).toBeGreaterThan(0);
    expect(result['detections']).toBeLessThanOrEqual(100);
  });

  it('dynavit bench --workers 2: every worker runs the model, images/s over all of them; bad --workers in one line', () => {
    const r = dynavit(
      'bench',
      '--model',
      'glnet_fmnist',
      '--size',
      '64',
      '--runs',
      '3',
      '--workers',
      '2',
      '--backend',
      'wasm',
    );
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(result).toMatchObject({ model: 'glnet_fmnist', backend: 'wasm', size: 64, runs: 3, workers: 2 });
    expect(result['gmacs']).toBeCloseTo(0.0205, 3); // glnet_fmnist's MACs at 64², counted in a worker
    expect(result['imagesPerSecond']).toBeGreaterThan(0);
    expect(result['peakTensorBytes']).toBeGreaterThan(0);
    const max = availableParallelism();
    const cases: Array<[string[], RegExp]> = [
      [['--workers', '0'], /^dynavit: --workers must be a positive integer, got "0"$/],
      [
        ['--workers', String(max + 1)],
        new RegExp(`^dynavit: --workers ${max + 1} is more than this machine runs at once`),
      ],
      [['--workers', '2', '--profile'], /^dynavit: --profile runs in one thread; leave out --workers$/],
      // checked before any worker starts: the size the model refuses
      [
        ['--workers', '2', '--size', '32', '--model', 'dat_fmnist'],
        /^dynavit: --size 32 is too small: .*dat_fmnist.* 33 px/,
      ],
    ];
    for (const [argv, message] of cases) {
      if (max < 2 && argv[1] === '2') continue;
      const bad = dynavit('bench', '--model', 'glnet_fmnist', '--backend', 'wasm', ...argv);
      expect(bad.status, `${argv.join(' ')}: ${bad.stderr}`).toBe(1);
      expect(bad.stderr.trim().split('\n'), bad.stderr).toHaveLength(1);
      expect(bad.stderr.trim()).toMatch(message);
    }
  });

  it('dynavit run --workers 2 writes for every image what one thread writes; a bad image fails the run in one line', async () => {
    if (availableParallelism() < 2) return;
    const dir = mkdtempSync(join(tmpdir(), 'dynavit-run-workers-'));
    try {
      // seeded weights, so that the predictions differ from image to image
      await tf.setBackend('cpu');
      const m = createRegistry().createModel('glnet_fmnist');
      initializeWeights(m, 7);
      writeFileSync(join(dir, 'w.safetensors'), writeSafetensors(m.stateDict()));
      m.dispose();
      const images = ['chelsea.png', 'coffee.jpg', 'astronaut-square.png', 'rocket-portrait.png'].map((f) =>
        fileURLToPath(new URL(`./__fixtures__/images/${f}`, import.meta.url)),
      );
      const base = [
        'run',
        ...images,
        '--model',
        'glnet_fmnist',
        '--weights',
        join(dir, 'w.safetensors'),
        '--backend',
        'wasm',
      ];
      const one = dynavit(...base, '--out', join(dir, 'one'));
      const two = dynavit(...base, '--out', join(dir, 'two'), '--workers', '2');
      expect(one.status, one.stderr).toBe(0);
      expect(two.status, two.stderr).toBe(0);
      expect(two.stdout.split('\n').filter((l) => l.includes(' → ')).length).toBe(images.length);
      const files = readdirSync(join(dir, 'one')).sort();
      expect(files).toHaveLength(2 * images.length);
      expect(readdirSync(join(dir, 'two')).sort()).toEqual(files);
      const tops = new Set<string>();
      for (const f of files.filter((x) => x.endsWith('.json'))) {
        const a = JSON.parse(readFileSync(join(dir, 'one', f), 'utf8'));
        const b = JSON.parse(readFileSync(join(dir, 'two', f), 'utf8'));
        expect(
          b.result.top.map((t: { index: number }) => t.index),
          f,
        ).toEqual(a.result.top.map((t: { index: number }) => t.index));
        for (const [i, t] of (b.result.top as { score: number }[]).entries())
          expect(Math.abs(t.score - a.result.top[i].score), f).toBeLessThan(1e-6);
        tops.add(JSON.stringify(a.result.top.map((t: { score: number }) => t.score.toFixed(4))));
      }
      expect(tops.size, 'the seeded model tells the images apart').toBe(images.length);
      const bad = dynavit(...base, join(dir, 'w.safetensors'), '--out', join(dir, 'bad'), '--workers', '2');
      expect(bad.status).toBe(1);
      expect(
        bad.stderr
          .trim()
          .split('\n')
          .filter((l) => l.startsWith('dynavit: ')),
        bad.stderr,
      ).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
