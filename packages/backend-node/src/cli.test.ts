import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensors, writeSafetensors } from '@dynavit/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { selectBackend } from './backends.js';
import { COMMANDS } from './cli.js';
import { runCli } from './test-utils/run-cli.js';
import { bundledCases, findRepoRoot } from './testing/index.js';

const root = findRepoRoot(fileURLToPath(import.meta.url))!;
const datCase = `${root}/packages/dat/src/__fixtures__/golden/dat_pp_reduced`;

const run = runCli;

afterEach(() => vi.restoreAllMocks());

describe('backend selection', () => {
  it('defaults to wasm and honours a requested backend', async () => {
    expect(await selectBackend()).toMatchObject({ backend: 'wasm', tfjsName: 'wasm' });
    expect(tf.getBackend()).toBe('wasm');
    expect((await selectBackend({ prefer: 'cpu' })).backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    await expect(selectBackend({ prefer: 'cuda' })).rejects.toThrow(
      /unknown backend "cuda"; available in Node: tensorflow-gpu, tensorflow, webgpu, wasm, cpu/,
    );
  });
});

describe('dynavit CLI', () => {
  it('list shows every registered model', async () => {
    const r = await run(['list']);
    expect(r.code).toBe(0);
    for (const name of ['dat_pp_tiny', 'debi_tiny', 'glnet_4g', 'upernet_ade20k']) expect(r.stdout).toContain(name);
    expect(r.stdout.split('\n')[0]).toMatch(/^model +family +kind +params$/);
    expect(r.stdout).toMatch(/upernet_ade20k +heads +head +30,307,628/);
  });

  it('--help lists every command of the table, each with its synopsis', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: dynavit <command> \[options\]/);
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.usage.split('\n')[0]}`);
    expect(r.stdout).toMatch(/info <model> \[--size N\] \[--attention STAGE=NAME,…\]\s+parameters, feature info/);
    expect(r.stdout).toContain('--backend auto|tensorflow-gpu|tensorflow|webgpu|wasm|cpu');
  });

  it('a flag a command does not take is a usage error; --backend only where a command computes', async () => {
    const r = await run(['list', '--backend', 'cpu']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^dynavit: Unknown option '--backend'/);
    const b = await run(['info', 'dat_pp_tiny', '--backend', 'wasm,cpu']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/^dynavit: unknown backend "wasm,cpu"/);
  });

  it('info prints the parameter count and feature info of a built model', async () => {
    const r = await run(['info', 'dat_pp_tiny']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('parameters: 23,962,876');
    expect(r.stdout).toMatch(/3 +512 +32 +stages\.3/);
  });

  it('an unknown model is a one-line error and a non-zero exit', async () => {
    const r = await run(['info', 'resnet50']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^dynavit: unknown model "resnet50"; known models: .*dat_pp_tiny/);
  });

  it('parity passes a golden case with a table and a JSON last line', async () => {
    const r = await run(['parity', '--weights', `${datCase}.weights.safetensors`, '--io', `${datCase}.io.safetensors`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/stage\.3 +\[1,128,2,2\]/);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      ok: boolean;
      backend: string;
      outputs: { name: string; maxAbs: number; maxRef: number; relL2: number }[];
    };
    expect(last.ok).toBe(true);
    expect(last.backend).toBe('wasm');
    expect(last.outputs.map((o) => o.name).sort()).toEqual(['logits', 'stage.0', 'stage.1', 'stage.2', 'stage.3']);
    for (const o of last.outputs) expect(o.maxAbs).toBeLessThanOrEqual(1e-4 * Math.max(1, o.maxRef));
  });

  it('parity --grad checks the loss and every gradient against the official autograd (wasm)', async () => {
    await selectBackend({ prefer: 'wasm' });
    const before = tf.memory().numTensors;
    const args = ['parity', '--weights', `${datCase}.weights.safetensors`, '--io', `${datCase}.io.safetensors`];
    const r = await run([...args, '--grad', `${datCase}.grad.safetensors`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/gradients \(.*\): (\d+) of \1 within 1e-3·max\|ref\| \+ 1e-6/);
    expect(r.stdout).toMatch(/grad\.input +\[1,3,64,64\] /);
    type Out = { name: string; maxAbs: number; maxRef: number; limit?: number };
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; backend: string; outputs: Out[] };
    expect(last).toMatchObject({ ok: true, backend: 'wasm' });
    const grads = last.outputs.filter((o) => o.name === 'loss' || o.name.startsWith('grad.'));
    const params = [...readSafetensors(new Uint8Array(readFileSync(`${datCase}.weights.safetensors`))).tensors.keys()];
    expect(grads.map((o) => o.name).sort()).toEqual(['grad.input', 'loss', ...params.map((k) => `grad.${k}`)].sort());
    for (const o of grads) expect(o.maxAbs, o.name).toBeLessThanOrEqual(1e-3 * o.maxRef + 1e-6);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('parity --grad fails on a wrong reference gradient, naming it in the JSON line', async () => {
    const g = readSafetensors(new Uint8Array(readFileSync(`${datCase}.grad.safetensors`)));
    const key = 'grad.stages.2.attns.1.proj_q.weight';
    const t = g.tensors.get(key)!;
    const data = Float32Array.from(t.data as Float32Array);
    data[7] = data[7]! + 0.01 * Math.max(...Array.from(data, Math.abs)); // 10× the limit
    g.tensors.set(key, { ...t, data });
    const path = join(mkdtempSync(join(tmpdir(), 'dynavit-')), 'bad.grad.safetensors');
    writeFileSync(path, writeSafetensors(g.tensors, g.metadata));
    const args = ['parity', '--weights', `${datCase}.weights.safetensors`, '--io', `${datCase}.io.safetensors`];
    const r = await run([...args, '--grad', path]);
    expect(r.code).toBe(1);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; outputs: { name: string }[] };
    expect(last.ok).toBe(false);
    expect(r.stdout).toMatch(new RegExp(`${key.replace(/\./g, '\\.')} +\\[[0-9,]+\\] .* NO`));
  });

  it('parity on a model no registered family builds says so clearly, with a JSON last line', async () => {
    const w = readSafetensors(new Uint8Array(readFileSync(`${datCase}.weights.safetensors`)));
    const path = join(mkdtempSync(join(tmpdir(), 'dynavit-')), 'other.weights.safetensors');
    writeFileSync(path, writeSafetensors(w.tensors, { ...w.metadata, reference: 'someone/unported-model@abc123' }));
    const r = await run(['parity', '--weights', path, '--io', `${datCase}.io.safetensors`, '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^dynavit: no registered family reads configs from someone\/unported-model@abc123 \(known: [^\n]*\)\n$/,
    );
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; backend: string };
    expect(last).toMatchObject({ ok: false, backend: 'cpu' });
  });

  it('parity on a missing or corrupt file names the file', async () => {
    const r = await run(['parity', '--weights', '/nonexistent.safetensors', '--io', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/file not found: \/nonexistent\.safetensors/);
    const u = await run(['parity']);
    expect(u.code).toBe(2);
    expect(u.stderr).toMatch(/parity needs --weights and --io/);
  });

  it('verify runs every bundled case', async () => {
    const cases = bundledCases(root);
    expect(cases.map((c) => c.name)).toEqual(
      expect.arrayContaining([
        'golden/dat_pp_reduced',
        'golden/dat_pp_reduced.grad',
        'golden/cls_tiny_reduced',
        'golden/g_reduced_96x128',
        'golden/upernet_small',
      ]),
    );
    const r = await run(['verify', '--backend', 'cpu']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/golden\/dat_pp_reduced +pass/);
    expect(r.stdout).toMatch(/golden\/dat_pp_reduced\.grad +pass/);
    expect(r.stdout).toMatch(/golden\/g_reduced_96x128 +pass/);
    expect(r.stdout).toMatch(/golden\/upernet_small +pass/);
    const n = cases.length;
    expect(r.stdout).toContain(`${n} of ${n} cases checked on cpu: ${n} passed, 0 failed`);
    // the cpu backend in plain JavaScript: 116–157 s on the 2-core VM (2026-12-04), 80 s of it DeBiFormer's
    // gradient case, so the package's 120 s default is too short
  }, 360_000);

  it('verify --dir: a case no family reads is an error, one clear line and a non-zero exit', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'dynavit-verify-')), 'other');
    mkdirSync(dir);
    const w = readSafetensors(new Uint8Array(readFileSync(`${datCase}.weights.safetensors`)));
    const metadata = { ...w.metadata, reference: 'someone/unported-model@abc123' };
    writeFileSync(join(dir, 'unported.weights.safetensors'), writeSafetensors(w.tensors, metadata));
    copyFileSync(`${datCase}.io.safetensors`, join(dir, 'unported.io.safetensors'));
    const r = await run(['verify', '--dir', dir, '--backend', 'cpu']);
    expect(r.code).toBe(1);
    const said = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('someone/unported-model'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      /^other\/unported +error: no registered family reads configs from someone\/unported-model@abc123/,
    );
    expect(r.stdout).toMatch(/0 of 1 cases checked on cpu: 0 passed, 1 failed/);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at /);
  });

  it('golden and verify --dir fail loudly when the folder is missing', async () => {
    const r = await run(['golden', '/nonexistent/golden']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/golden folder not found: \/nonexistent\/golden/);
    const v = await run(['verify', '--dir', '/nonexistent/golden', '--backend', 'cpu']);
    expect(v.code).toBe(1);
    expect(v.stderr).toBe('dynavit: golden folder not found: /nonexistent/golden\n');
  });

  it('golden --report writes every case per backend as JSON (the docs parity data)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dynavit-golden-'));
    mkdirSync(join(dir, 'dat'));
    for (const ext of ['weights', 'io'])
      copyFileSync(`${datCase}.${ext}.safetensors`, join(dir, 'dat', `dat_pp_reduced.${ext}.safetensors`));
    const out = join(dir, 'parity.json');
    const r = await run(['golden', dir, '--backend', 'wasm,cpu', '--report', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*parity\.json \(1 cases × 2 backends\)/);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.backends).toEqual(['wasm', 'cpu']);
    expect(report.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(report.machine).toMatch(/Node v\d+/);
    expect(report.cases).toHaveLength(1);
    expect(report.cases[0]).toMatchObject({ name: 'dat/dat_pp_reduced', family: 'dat' });
    for (const b of ['wasm', 'cpu']) {
      expect(report.cases[0].results[b].status).toBe('pass');
      expect(report.cases[0].results[b].worst).toBeGreaterThan(0);
      expect(report.cases[0].results[b].worst).toBeLessThanOrEqual(1e-4);
    }
  });

  it('unknown commands print usage and exit 2', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"[\s\S]*usage: dynavit/);
  });
});
