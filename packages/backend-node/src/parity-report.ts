/** How `parity`, `verify` and `golden` print parity results: tables, a summary line, JSON. */
import * as tf from '@tensorflow/tfjs-core';
import type { ReadBudget, Registry } from '@dynavit/core';
import type { GradientParityReport, ParityReport } from '@dynavit/core/testing';
import { progressBar } from './progress.js';
import { fmtNum, formatTable } from './table.js';
import { type CaseResult, type GoldenCase, runCase } from './testing/golden.js';

interface ComparedOutput {
  name: string;
  shape: readonly number[];
  maxAbs: number;
  maxRef: number;
  relL2: number;
  ok: boolean;
}

/** One row per compared tensor: shape, errors, its limit, ok. */
function comparisonTable<O extends ComparedOutput>(
  head: string,
  diff: string,
  outputs: readonly O[],
  limit: (o: O) => number,
): string {
  return formatTable(
    [head, 'shape', diff, 'max|ref|', 'rel L2', 'limit', 'ok'],
    outputs.map((o) => [
      o.name,
      `[${o.shape.join(',')}]`,
      fmtNum(o.maxAbs),
      fmtNum(o.maxRef),
      fmtNum(o.relL2),
      fmtNum(limit(o)),
      o.ok ? 'yes' : 'NO',
    ]),
  );
}

/** Every output of one parity run: shape, errors, the limit, ok. */
export function parityTable(r: ParityReport): string {
  return comparisonTable('output', 'max|out-ref|', r.outputs, (o) => r.tolerance * Math.max(1, o.maxRef));
}

/** Every compared tensor of a gradient parity run (`loss`, `grad.input`, `grad.NAME`) and its limit. */
export function gradientTable(r: GradientParityReport): string {
  return comparisonTable('gradient', 'max|g-ref|', r.outputs, (o) => o.limit);
}

/**
 * The JSON last line of `parity`: every output, then (with `--grad`) the loss and every gradient, each
 * with its `limit` (rel · max|ref| + abs); `ok` only when both runs pass.
 */
export const parityJson = (r: ParityReport, grad?: GradientParityReport): string =>
  JSON.stringify({
    ok: r.ok && (grad?.ok ?? true),
    backend: r.backend,
    outputs: [
      ...r.outputs.map(({ name, maxAbs, maxRef, relL2 }) => ({ name, maxAbs, maxRef, relL2 })),
      ...(grad?.outputs ?? []).map(({ name, maxAbs, maxRef, relL2, limit }) => ({
        name,
        maxAbs,
        maxRef,
        relL2,
        limit,
      })),
    ],
  });

function summary(results: readonly CaseResult[]): string {
  const rel = (o: { maxAbs: number; maxRef: number }) => o.maxAbs / Math.max(1, o.maxRef);
  return formatTable(
    ['case', 'status', 'worst output', 'max|out-ref|', 'ms'],
    results.map((r) => {
      if (r.status === 'error') return [r.case.name, `error: ${r.message}`, '-', '-', '-'];
      const worst = [...r.report.outputs].sort((a, b) => rel(b) - rel(a))[0];
      const ms = r.report.millis.toFixed(0);
      return [r.case.name, r.status, worst?.name ?? '-', worst ? fmtNum(worst.maxAbs) : '-', ms];
    }),
  );
}

/**
 * Run every case on the active backend (a case that leaks tensors is an error), print the summary
 * table and line; `failed` counts failures and cases that could not be run.
 */
export async function runCases(
  registry: Registry,
  cases: readonly GoldenCase[],
  backend: string,
  out: (line: string) => void,
  budget: ReadBudget = {},
): Promise<{ results: CaseResult[]; failed: number }> {
  const results: CaseResult[] = [];
  const bar = progressBar(cases.length, `parity on ${backend}`);
  for (const [i, c] of cases.entries()) {
    const before = tf.memory().numTensors;
    let r = await runCase(registry, c, budget);
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) r = { case: c, status: 'error', message: `leaked ${leaked} tensors` };
    results.push(r);
    bar.update(i + 1, c.name);
  }
  bar.done();
  const failed = results.filter((r) => r.status !== 'pass').length;
  const checked = results.filter((r) => r.status !== 'error').length;
  const passed = results.length - failed;
  out(summary(results));
  out(`\n${checked} of ${results.length} cases checked on ${backend}: ${passed} passed, ${failed} failed`);
  return { results, failed };
}

/** `dynavit golden --report`: every case's outcome on every backend it ran on. */
export interface GoldenReport {
  /** ISO date of the run */
  date: string;
  machine: string;
  backends: string[];
  cases: {
    /** family folder / case name */
    name: string;
    /** the registry family that built it (null when the case could not be built) */
    family: string | null;
    results: Record<string, { status: CaseResult['status']; worst: number | null; message?: string }>;
  }[];
}

/** One backend's pass over the cases. */
export interface GoldenRun {
  backend: string;
  results: readonly CaseResult[];
}

/** Collect the per-backend results into one entry per case; `worst` = max over outputs of max|out−ref| / max(1, max|ref|). */
export function goldenReport(runs: readonly GoldenRun[], machine: string): GoldenReport {
  const cases = new Map<string, GoldenReport['cases'][number]>();
  for (const { backend, results } of runs)
    for (const r of results) {
      const entry = cases.get(r.case.name) ?? { name: r.case.name, family: null, results: {} };
      if (r.status === 'error') entry.results[backend] = { status: r.status, worst: null, message: r.message };
      else {
        entry.family = r.report.family;
        const worst = Math.max(0, ...r.report.outputs.map((o) => o.maxAbs / Math.max(1, o.maxRef)));
        entry.results[backend] = { status: r.status, worst };
      }
      cases.set(r.case.name, entry);
    }
  return {
    date: new Date().toISOString().slice(0, 10),
    machine,
    backends: runs.map((r) => r.backend),
    cases: [...cases.values()],
  };
}
