/**
 * `--threads N`: wasm on tfjs' multi-threaded SIMD build, on worker_threads (`wasm-threads.ts`).
 * The threaded backend runs in a child process (the built CLI): this test process started wasm
 * single-threaded already, and one process has one wasm backend.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { runCli } from './test-utils/run-cli.js';
import type { pipeline as Pipeline } from './pipeline.js';
import { maxWasmThreads, WASM_THREADS_TFJS_VERSION, wasmThreadsUnavailable } from './wasm-threads.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const exec = promisify(execFile);
// CI and these machines have 2 cores; the threaded cases need at least 2
const cores = Math.min(availableParallelism(), 8);

describe('wasm on several threads', () => {
  it('can start here: the pinned tfjs version, shared memory, Blob', () => {
    expect(wasmThreadsUnavailable()).toBeNull();
    expect(WASM_THREADS_TFJS_VERSION).toBe('4.22.0');
    expect(maxWasmThreads()).toBe(cores);
  });

  it('every bundled golden case (outputs and gradients) passes on 2 threads, and the process exits', async () => {
    const { stdout } = await exec(process.execPath, [cli, 'verify', '--backend', 'wasm', '--threads', '2'], {
      timeout: 300_000,
    });
    expect(stdout).toMatch(/bundled golden cases on wasm \(2 threads\)/);
    expect(stdout).toMatch(/golden\/g_reduced_96x128\.grad +pass/);
    expect(stdout).toMatch(/(\d+) of \1 cases checked on wasm: \1 passed, 0 failed/);
  }, 300_000);

  it('bench reports the threads one forward ran on (JSON last line)', async () => {
    const { stdout } = await exec(
      process.execPath,
      [cli, 'bench', '--model', 'dat_fmnist', '--size', '64', '--runs', '2', '--threads', '2'],
      { timeout: 120_000 },
    );
    const json = JSON.parse(stdout.trim().split('\n').at(-1)!) as { threads: number; backend: string };
    expect(json).toMatchObject({ backend: 'wasm', threads: 2 });
  }, 120_000);

  it('a pipeline on 2 threads classifies photos as the single-threaded one does', async () => {
    const photos = ['chelsea.png', 'coffee.jpg'].map((f) =>
      fileURLToPath(new URL(`./__fixtures__/images/${f}`, import.meta.url)),
    );
    const script = `
      const { pipeline } = await import(${JSON.stringify(new URL('../dist/pipeline.js', import.meta.url).href)});
      const p = await pipeline('image-classification', 'glnet_fmnist', { backend: 'wasm', threads: 2 });
      const r = await p(${JSON.stringify(photos)}, { topk: 3 });
      console.log(JSON.stringify({ threads: p.backend.threads, reason: p.backend.reason, r }));
      p.dispose();`;
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { timeout: 120_000 });
    const got = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      threads: number;
      reason: string;
      r: { label: string; score: number }[][];
    };
    expect(got.threads).toBe(2);
    expect(got.reason).toMatch(/; 2 threads\)$/);
    const { pipeline } = (await import(new URL('../dist/pipeline.js', import.meta.url).href)) as {
      pipeline: typeof Pipeline;
    };
    const one = await pipeline('image-classification', 'glnet_fmnist', { backend: 'wasm', threads: 1 });
    try {
      const want = await one(photos, { topk: 3 });
      expect(one.backend.threads).toBe(1);
      for (const [i, w] of want.entries())
        for (const [k, c] of w.entries()) {
          expect(got.r[i]![k]!.label).toBe(c.label);
          expect(Math.abs(got.r[i]![k]!.score - c.score)).toBeLessThan(1e-4);
        }
    } finally {
      one.dispose();
    }
    await expect(pipeline('image-classification', 'glnet_fmnist', { threads: 2, workers: 2 })).rejects.toThrow(
      /workers run one single-threaded backend each; use workers or threads/,
    );
    await expect(pipeline('image-classification', 'glnet_fmnist', { threads: 99 })).rejects.toThrow(
      /--threads must be auto or a whole number from 1 to/,
    );
  }, 180_000);

  it('by default the CLI and pipeline() compute on every core; selectBackend and --workers on one thread each', async () => {
    // the CLI: no --threads is auto
    const { stdout } = await exec(
      process.execPath,
      [cli, 'bench', '--model', 'dat_fmnist', '--size', '64', '--runs', '1'],
      { timeout: 120_000 },
    );
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toMatchObject({ backend: 'wasm', threads: cores });
    const auto = await exec(
      process.execPath,
      [cli, 'bench', '--model', 'dat_fmnist', '--size', '64', '--runs', '1', '--threads', 'auto'],
      { timeout: 120_000 },
    );
    expect(JSON.parse(auto.stdout.trim().split('\n').at(-1)!)).toMatchObject({ threads: cores });
    // the default, and auto said outright, give way to --workers (each worker one thread); a count does not (below)
    const workers = await exec(
      process.execPath,
      [cli, 'bench', '--model', 'dat_fmnist', '--size', '64', '--runs', '2', '--workers', '2', '--threads', 'auto'],
      { timeout: 120_000 },
    );
    expect(JSON.parse(workers.stdout.trim().split('\n').at(-1)!)).toMatchObject({ workers: 2, threads: 1 });
    // run: every core by default, --threads N reaches its pipeline, one thread a worker with --workers
    const photo = fileURLToPath(new URL('./__fixtures__/images/chelsea.png', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'dynavit-threads-'));
    try {
      const ran = async (extra: string[]) => {
        const out = join(dir, extra.join('') || 'default');
        await exec(process.execPath, [cli, 'run', photo, photo, '--model', 'glnet_fmnist', '--out', out, ...extra], {
          timeout: 120_000,
        });
        return (JSON.parse(readFileSync(join(out, 'chelsea.classify.json'), 'utf8')) as { threads: number }).threads;
      };
      expect(await ran([])).toBe(cores);
      expect(await ran(['--threads', '1'])).toBe(1);
      expect(await ran(['--workers', '2'])).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // pipeline(): auto unless told; the library's selectBackend: one thread unless told
    const script = `
      const { pipeline } = await import(${JSON.stringify(new URL('../dist/pipeline.js', import.meta.url).href)});
      const { selectBackend } = await import(${JSON.stringify(new URL('../dist/backends.js', import.meta.url).href)});
      const p = await pipeline('image-classification', 'glnet_fmnist');
      const cpu = await pipeline('image-classification', 'glnet_fmnist', { backend: 'cpu' });
      console.log(JSON.stringify({ p: p.backend, cpu: cpu.backend }));
      p.dispose();
      cpu.dispose();`;
    const out = await exec(process.execPath, ['--input-type=module', '-e', script], { timeout: 120_000 });
    const got = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as Record<
      string,
      { backend: string; threads?: number; reason: string }
    >;
    expect(got['p']).toMatchObject({ backend: 'wasm', threads: cores });
    expect(got['p']!.reason).toMatch(
      cores > 1 ? new RegExp(`^first available: .*; ${cores} threads$`) : /^first available: /,
    );
    // auto means nothing to another backend (an explicit count is refused: below)
    expect(got['cpu']!.backend).toBe('cpu');
    expect(got['cpu']!.threads).toBeUndefined();
    const lib = `
      const { selectBackend } = await import(${JSON.stringify(new URL('../dist/backends.js', import.meta.url).href)});
      console.log(JSON.stringify(await selectBackend({ prefer: 'wasm' })));`;
    const one = await exec(process.execPath, ['--input-type=module', '-e', lib], { timeout: 120_000 });
    expect(JSON.parse(one.stdout.trim().split('\n').at(-1)!)).toMatchObject({ backend: 'wasm', threads: 1 });
  }, 300_000);

  it('doctor says how many threads wasm can take', async () => {
    const r = await runCli(['doctor']);
    expect(r.stdout).toContain(`wasm threads: up to ${cores} with --threads N (tfjs-backend-wasm 4.22.0`);
    expect(r.stdout).toContain(`default auto: ${cores})`);
  });

  it('refuses 0, more than the cores here, a non-number, and a backend other than wasm, before any work', async () => {
    const over = String(maxWasmThreads() + 1);
    for (const bad of ['0', over, 'two', '1.5', '-1', 'AUTO', '']) {
      const r = await runCli(['info', 'dat_fmnist', `--threads=${bad}`]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `dynavit: --threads must be auto or a whole number from 1 to ${maxWasmThreads()} (the cores this machine lets this process use), not "${bad}"\n`,
      );
    }
    const cpu = await runCli(['info', 'dat_fmnist', '--backend', 'cpu', '--threads', '2']);
    expect(cpu.stderr).toBe('dynavit: --threads applies to the wasm backend, not to cpu\n');
    await expect(selectBackend({ prefer: 'cpu', threads: 2 })).rejects.toThrow(
      /--threads applies to the wasm backend, not to cpu/,
    );
    await expect(selectBackend({ prefer: 'wasm', threads: 0 })).rejects.toThrow(
      /--threads must be auto or a whole number/,
    );
  });

  it('--workers and --threads together are refused (a worker runs one thread)', async () => {
    const r = await runCli(['bench', '--model', 'dat_fmnist', '--workers', '2', '--threads', '2']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'dynavit: --workers runs one single-threaded backend per worker; use --workers or --threads\n',
    );
  });

  it('once wasm runs single-threaded in a process, asking for threads says why it stays one', async () => {
    await selectBackend({ prefer: 'wasm' });
    const choice = await selectBackend({ prefer: 'wasm', threads: 2 });
    expect(choice.threads).toBe(1);
    expect(choice.reason).toMatch(/1 thread, not 2: the wasm backend had already started in this process on 1 thread/);
    expect(tf.getBackend()).toBe('wasm');
  });
});
