/**
 * A run of the benchmarks on a real GPU (`data/gpu-*.json`): the `dynavit bench --backend webgpu` steps of
 * one session on a lent machine, as the device script recorded them (each step's exit code, wall time and
 * the CLI's last JSON line), rendered for the benchmarks page.
 */
import { codeName } from './table-cells.js';

/** One bench step's JSON line (the fields the page shows). */
export interface GpuBench {
  model: string;
  head?: string;
  adapter: string;
  size: number;
  batch: number;
  runs: number;
  latencyMs: { median: number; min: number; max: number };
  imagesPerSecond: number;
  gflopsPerSecond: number;
  peakTensorBytes: number;
  detections?: number;
  profile?: { totalMs: number; kernels: { name: string; ms: number; calls: number }[] };
}

export interface GpuStep {
  step: string;
  rc: number;
  wallS: number;
  run: number;
  /** what was different about this step */
  note?: string;
  /** the step's last line: a bench's JSON, another JSON object, or text */
  last: unknown;
}

export interface GpuRun {
  date: string;
  machine: Record<string, string>;
  how: string;
  steps: GpuStep[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Validate a `data/gpu-*.json` file: a typed error names the first field that is off. */
export function parseGpuRun(json: unknown): GpuRun {
  const fail = (what: string): never => {
    throw new Error(`gpu run data: ${what}`);
  };
  if (!isRecord(json)) return fail('not an object');
  const { date, machine, how, steps } = json;
  if (typeof date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(date)) fail('"date" must be YYYY-MM-DD');
  if (!isRecord(machine) || !Object.values(machine).every((v) => typeof v === 'string'))
    fail('"machine" must map names to strings');
  if (typeof how !== 'string') fail('"how" must be a string');
  if (!Array.isArray(steps) || steps.length === 0) fail('"steps" must be a non-empty array');
  for (const [i, s] of (steps as unknown[]).entries()) {
    if (!isRecord(s)) fail(`steps[${i}] is not an object`);
    const r = s as Record<string, unknown>;
    for (const k of ['rc', 'wallS', 'run'] as const)
      if (typeof r[k] !== 'number') fail(`steps[${i}].${k} must be a number`);
    if (typeof r['step'] !== 'string') fail(`steps[${i}].step must be a string`);
    if (r['note'] !== undefined && typeof r['note'] !== 'string') fail(`steps[${i}].note must be a string`);
    if (isBench(r['last']) && !(r['last'].latencyMs.min <= r['last'].latencyMs.median))
      fail(`steps[${i}]: min latency above the median`);
  }
  return json as unknown as GpuRun;
}

/** Whether a step's last line is a bench result. */
export function isBench(v: unknown): v is GpuBench {
  if (!isRecord(v)) return false;
  const l = v['latencyMs'];
  return (
    typeof v['model'] === 'string' &&
    typeof v['size'] === 'number' &&
    typeof v['batch'] === 'number' &&
    isRecord(l) &&
    typeof l['median'] === 'number' &&
    typeof l['min'] === 'number' &&
    typeof l['max'] === 'number'
  );
}

const ms = (v: number) => v.toFixed(1);
const MiB = 2 ** 20;

/** The bench steps that succeeded, as a Markdown table (one row per step, in the order they ran). */
export function renderGpuBenchTable(run: GpuRun): string {
  const rows = run.steps.filter((s) => s.rc === 0 && isBench(s.last));
  const head = [
    '| model | input | median ms | min–max ms | images/s | GFLOP/s | peak MiB | session | note |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const body = rows.map((s) => {
    const b = s.last as GpuBench;
    const name = b.head ? `${codeName(b.model)} + ${codeName(b.head)}` : codeName(b.model);
    const det = b.detections !== undefined ? ` (${b.detections} detections)` : '';
    return `| ${name}${det} | ${b.batch}×${b.size}² | ${ms(b.latencyMs.median)} | ${ms(b.latencyMs.min)}–${ms(b.latencyMs.max)} | ${b.imagesPerSecond.toFixed(2)} | ${b.gflopsPerSecond.toFixed(1)} | ${(b.peakTensorBytes / MiB).toFixed(1)} | ${s.run} | ${s.note ?? ''} |`;
  });
  return [...head, ...body].join('\n');
}

/** For each profiled step: the GPU's kernel time (timestamp queries) against the pass's wall time. */
export function renderGpuKernelShare(run: GpuRun): string {
  const lines = run.steps
    .filter((s) => s.rc === 0 && isBench(s.last) && s.last.profile)
    .map((s) => {
      const b = s.last as GpuBench;
      const p = b.profile!;
      const kernelMs = p.kernels.reduce((a, k) => a + k.ms, 0);
      const calls = p.kernels.reduce((a, k) => a + k.calls, 0);
      return `- ${codeName(b.model)} at ${b.size}²: ${ms(kernelMs)} ms in the top ${p.kernels.length} kernels (${calls} calls) of a ${ms(p.totalMs)} ms pass`;
    });
  return lines.join('\n');
}
