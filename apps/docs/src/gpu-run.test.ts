import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isBench, parseGpuRun, renderGpuBenchTable, renderGpuKernelShare } from './gpu-run.js';
import { codeName } from './table-cells.js';

const raw = JSON.parse(readFileSync(new URL('../data/gpu-h200-2026-12-04.json', import.meta.url), 'utf8')) as unknown;

describe('data/gpu-h200-2026-12-04.json', () => {
  const run = parseGpuRun(raw);

  it('names the machine and holds the three 224² models, the UperNet composition and the detectors, on WebGPU', () => {
    expect(run.machine['gpu']).toMatch(/NVIDIA H200/);
    const benches = run.steps
      .filter((s) => s.rc === 0)
      .map((s) => s.last)
      .filter(isBench);
    for (const b of benches) expect(b.adapter).toMatch(/^NVIDIA/);
    const key = (b: { model: string; head?: string; size: number; batch: number }) =>
      `${b.model}${b.head ? `+${b.head}` : ''}@${b.batch}x${b.size}`;
    const keys = new Set(benches.map(key));
    for (const k of [
      'debi_tiny@1x224',
      'glnet_4g@1x224',
      'dat_pp_tiny@1x224',
      'dat_pp_tiny_dense+upernet_ade20k@1x512',
      'debi_tiny_det+maskrcnn_coco@1x512',
      'dat_pp_tiny_dense+retinanet_coco_dat@1x512',
    ])
      expect(keys, k).toContain(k);
    // images/s is batch / median
    for (const b of benches) expect(b.imagesPerSecond).toBeCloseTo((1000 * b.batch) / b.latencyMs.median, 6);
  });

  it('renders one table row per successful bench step, with the medians of the data', () => {
    const table = renderGpuBenchTable(run).split('\n');
    const ok = run.steps.filter((s) => s.rc === 0 && isBench(s.last));
    expect(table).toHaveLength(2 + ok.length);
    const upernet = table.find((l) => l.includes(codeName('upernet_ade20k')))!;
    const b = ok.map((s) => s.last).find((l) => isBench(l) && l.head === 'upernet_ade20k')!;
    expect(isBench(b) && upernet.includes(`| ${b.latencyMs.median.toFixed(1)} |`)).toBe(true);
    // the failed step of the first session (a detector before the fix) is not a row
    expect(run.steps.some((s) => s.rc !== 0)).toBe(true);
    expect(table.filter((l) => l.includes(codeName('maskrcnn_coco')))).toHaveLength(1);
    // a step run with a changed setting says so in its row
    for (const s of ok.filter((x) => x.note)) {
      const b = s.last as { latencyMs: { median: number } };
      expect(table.find((l) => l.includes(`| ${b.latencyMs.median.toFixed(1)} |`))).toContain(`| ${s.note} |`);
    }
  });

  it("gives each profiled pass's kernel time against its wall time", () => {
    const lines = renderGpuKernelShare(run).split('\n');
    expect(lines.length).toBe(run.steps.filter((s) => isBench(s.last) && s.last.profile).length);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) {
      const [, kernel, pass] = /: ([\d.]+) ms in the top \d+ kernels \(\d+ calls\) of a ([\d.]+) ms pass$/.exec(l)!;
      expect(Number(kernel)).toBeLessThan(Number(pass));
    }
  });
});

describe('parseGpuRun', () => {
  const good = () => JSON.parse(JSON.stringify(raw)) as Record<string, unknown>;
  it('names the first field that is off', () => {
    expect(() => parseGpuRun(null)).toThrow('gpu run data: not an object');
    expect(() => parseGpuRun({ ...good(), date: '4 Dec' })).toThrow('"date" must be YYYY-MM-DD');
    expect(() => parseGpuRun({ ...good(), machine: { gpu: 1 } })).toThrow('"machine" must map names to strings');
    expect(() => parseGpuRun({ ...good(), steps: [] })).toThrow('"steps" must be a non-empty array');
    expect(() => parseGpuRun({ ...good(), steps: [{ step: 'x', rc: '0', wallS: 1, run: 1 }] })).toThrow(
      'steps[0].rc must be a number',
    );
    const bad = good();
    const steps = bad['steps'] as { last: { latencyMs?: { min: number } } }[];
    const i = steps.findIndex((s) => s.last?.latencyMs);
    steps[i]!.last.latencyMs!.min = 1e9;
    expect(() => parseGpuRun(bad)).toThrow(`steps[${i}]: min latency above the median`);
  });
});
