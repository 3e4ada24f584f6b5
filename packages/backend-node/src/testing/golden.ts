/**
 * The golden-case harness (`@dynavit/backend-node/testing`): golden cases on disk are
 * `NAME.weights.safetensors` + `NAME.io.safetensors` pairs, grouped in family folders. Running one =
 * core's `runParityAsync` on the active backend with the heads' parity adapter; a case that cannot be
 * run (no family reads its reference, a corrupt file, …) is an `error`, never skipped. A pair with a
 * `NAME.grad.safetensors` beside it is also a gradient case (`NAME.grad`: core's `runGradientParity`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  DynavitError,
  f32ToF16,
  type ReadBudget,
  type Registry,
  type SafetensorsFile,
  type TensorData,
  toFloat32,
} from '@dynavit/core';
import { readPthFile } from '@dynavit/core/node';
import { type ParityAdapter, type ParityReport, runGradientParity, runParityAsync } from '@dynavit/core/testing';
import { headsParity } from '@dynavit/heads/testing';
import { readInputFile } from '../files.js';
import { ensureGradients } from '@dynavit/train';
import { readSafetensorsBudgeted } from '../weights.js';

/** A safetensors file within a memory budget (`maxBytes`; core's default budget when absent). */
async function readSafetensorsFile(path: string, budget: ReadBudget = {}): Promise<SafetensorsFile> {
  return readSafetensorsBudgeted(await readInputFile(path), path, budget);
}

export interface GoldenCase {
  name: string;
  weights: string;
  io: string;
  /** `NAME.grad.safetensors`: this case checks gradients (loss and every `grad.*`) instead of outputs */
  grad?: string;
}

export type CaseResult =
  | { case: GoldenCase; status: 'pass' | 'fail'; report: ParityReport }
  | { case: GoldenCase; status: 'error'; message: string };

/** The parity adapters a golden case may need beyond core's `imageModelParity`: the dense heads'. */
export const PARITY_ADAPTERS: readonly ParityAdapter[] = [headsParity];

/** Every weights/io pair under `dir` (recursive), sorted by path; each followed by its gradient case, if any. */
export function findCases(dir: string): GoldenCase[] {
  const out: GoldenCase[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        if (e !== 'node_modules' && e !== 'dist' && !e.startsWith('.')) walk(p);
      } else if (e.endsWith('.weights.safetensors')) {
        const io = p.replace(/\.weights\.safetensors$/, '.io.safetensors');
        if (!existsSync(io)) continue;
        const name = `${basename(d)}/${e.replace(/\.weights\.safetensors$/, '')}`;
        out.push({ name, weights: p, io });
        const grad = p.replace(/\.weights\.safetensors$/, '.grad.safetensors');
        if (existsSync(grad)) out.push({ name: `${name}.grad`, weights: p, io, grad });
      }
    }
  };
  walk(dir);
  return out;
}

/** Run one golden case on the active backend; a case that cannot be run is an `error` result. */
export async function runCase(registry: Registry, c: GoldenCase, budget: ReadBudget = {}): Promise<CaseResult> {
  try {
    const weights = await readSafetensorsFile(c.weights, budget);
    const io = await readSafetensorsFile(c.io, budget);
    if (c.grad) {
      await ensureGradients();
      const grad = await readSafetensorsFile(c.grad, budget);
      const report = await runGradientParity(registry, weights, io, grad);
      return { case: c, status: report.ok ? 'pass' : 'fail', report };
    }
    const report = await runParityAsync(registry, weights, io, { adapters: PARITY_ADAPTERS });
    return { case: c, status: report.ok ? 'pass' : 'fail', report };
  } catch (e) {
    if (DynavitError.isInstance(e)) return { case: c, status: 'error', message: e.message };
    throw e;
  }
}

/** The repository root (folder holding pnpm-workspace.yaml) above `from`, if any. */
export function findRepoRoot(from: string): string | undefined {
  let d = resolve(from);
  for (;;) {
    if (existsSync(join(d, 'pnpm-workspace.yaml'))) return d;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/** Golden cases vendored in the repo: packages/<family>/src/__fixtures__/golden. */
export function bundledCases(root: string): GoldenCase[] {
  const pk = join(root, 'packages');
  if (!existsSync(pk)) return [];
  return readdirSync(pk)
    .sort()
    .flatMap((p) => {
      const d = join(pk, p, 'src', '__fixtures__', 'golden');
      return existsSync(d) ? findCases(d) : [];
    });
}

export interface CheckpointCheck {
  file: string;
  ok: boolean;
  message: string;
}

/**
 * Check `checkpoints/index.json` fixtures: each `.pth` must reproduce its safetensors reference exactly
 * under the named key; entries with a null reference must be refused.
 */
export async function checkCheckpointFixtures(goldenDir: string, budget: ReadBudget = {}): Promise<CheckpointCheck[]> {
  const dir = join(goldenDir, 'checkpoints');
  const indexPath = join(dir, 'index.json');
  if (!existsSync(indexPath)) return [];
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, [string | null, string | null, string]>;
  const out: CheckpointCheck[] = [];
  for (const [file, [ref, key, dtype]] of Object.entries(index)) {
    const path = join(dir, file);
    if (ref === null) {
      try {
        await readPthFile(path, { upcast: false, ...budget });
        out.push({ file, ok: false, message: 'was NOT refused' });
      } catch (e) {
        const refused = DynavitError.isInstance(e) && e.code === 'UNSAFE_PICKLE';
        out.push({
          file,
          ok: refused,
          message: refused
            ? `refused: ${(e as Error).message.slice(0, 90)}`
            : `failed the wrong way: ${(e as Error).message}`,
        });
      }
      continue;
    }
    try {
      const pthOpts = { key: key ?? undefined, upcast: false, ...budget };
      const sd = await readPthFile(path, pthOpts);
      const want = (await readSafetensorsFile(join(goldenDir, ref), budget)).tensors;
      const problems: string[] = [];
      const keys = [...sd.keys()];
      const wantKeys = [...want.keys()];
      if (keys.join('\n') !== wantKeys.join('\n')) problems.push(`keys differ (${keys.length} vs ${wantKeys.length})`);
      for (const [k, w] of want) {
        const g = sd.get(k);
        if (!g) continue;
        if (g.shape.join() !== w.shape.join()) problems.push(`${k}: shape ${g.shape} vs ${w.shape}`);
        else if (!sameValues(g, w, dtype)) problems.push(`${k}: values differ`);
        if (problems.length > 5) break;
      }
      out.push({
        file,
        ok: problems.length === 0,
        message: problems.length ? problems.join('; ') : `${sd.size} tensors match ${ref} [${key}] (${dtype})`,
      });
    } catch (e) {
      out.push({ file, ok: false, message: (e as Error).message });
    }
  }
  return out;
}

function sameValues(got: TensorData, want: TensorData, dtype: string): boolean {
  if (dtype === 'float16' && got.dtype === 'F16' && want.dtype === 'F32') {
    const g = got.data as Uint16Array;
    const w = want.data as Float32Array;
    for (let i = 0; i < w.length; i++) if (g[i] !== f32ToF16(w[i]!)) return false;
    return true;
  }
  if (got.dtype !== want.dtype) {
    const a = toFloat32(got);
    const b = toFloat32(want);
    return a.every((v, i) => Object.is(v, b[i]));
  }
  const a = new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.byteLength);
  const b = new Uint8Array(want.data.buffer, want.data.byteOffset, want.data.byteLength);
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
