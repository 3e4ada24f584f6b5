import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseBenchData } from './bench.js';
import {
  growthExponent,
  parseScaling,
  renderScalingChart,
  renderScalingCharts,
  renderScalingTable,
  type ScalingEntry,
  scalingSeries,
} from './scaling.js';

const data = parseBenchData(JSON.parse(readFileSync(new URL('../data/bench.json', import.meta.url), 'utf8')));

const entry = (model: string, head: string | null, size: number, seconds: number, extra = {}): ScalingEntry => ({
  model,
  label: model.toUpperCase(),
  head,
  headLabel: head ? head.toUpperCase() : 'backbone',
  size,
  runs: 1,
  seconds,
  gmacs: (size * size) / 1e4,
  peakMiB: size,
  ...extra,
});

const sample: ScalingEntry[] = [
  entry('dat_x', null, 512, 4),
  entry('dat_x', null, 256, 1),
  entry('glnet_y', 'upernet_ade20k', 256, 2),
  { ...entry('glnet_y', 'upernet_ade20k', 512, 1), seconds: undefined, error: 'dynavit: out of memory' },
  entry('glnet_y', null, 256, 0.5),
];

describe('scaling data', () => {
  it('gives the growth exponent of cost in pixels: 1 when linear, 1.5, 2 when quadratic', () => {
    const sizes = [224, 384, 512, 768, 1024];
    for (const k of [1, 1.5, 2]) {
      const es = sizes.map((s) => entry('m', null, s, 0.01 * (s * s) ** k));
      expect(growthExponent(es, (e) => e.seconds)).toBeCloseTo(k, 10);
    }
    // a failed size is left out; one point has no slope
    expect(growthExponent(sample.slice(2, 4), (e) => e.seconds)).toBeUndefined();
    // time 1 s at 256², 4 s at 512²: 4× the pixels, 4× the time
    expect(growthExponent(sample.slice(0, 2), (e) => e.seconds)).toBeCloseTo(1, 12);
  });

  it('groups the entries by backbone and head, backbones alone first, each by size', () => {
    const series = scalingSeries(sample);
    expect(series.map((s) => `${s.model}+${s.head}`)).toEqual(['dat_x+null', 'glnet_y+null', 'glnet_y+upernet_ade20k']);
    expect(series[0]!.entries.map((e) => e.size)).toEqual([256, 512]);
  });

  it('refuses what would draw a wrong chart, and takes a size that failed with its reason', () => {
    expect(parseScaling(undefined)).toEqual([]);
    expect(parseScaling(sample)).toHaveLength(5);
    expect(() => parseScaling({})).toThrow(/"scaling" must be a list/);
    expect(() => parseScaling([{ ...sample[0], size: 0 }])).toThrow(/scaling\[0\]\.size must be a positive integer/);
    expect(() => parseScaling([{ ...sample[0], seconds: -1 }])).toThrow(/scaling\[0\]\.seconds must be a positive/);
    expect(() => parseScaling([{ ...sample[0], peakMiB: undefined }])).toThrow(/scaling\[0\]\.peakMiB/);
    expect(() => parseScaling([{ ...sample[0], spread: [5, 6] }])).toThrow(/spread must be \[min, max\]/);
    expect(() => parseScaling([{ ...sample[0], error: 'x' }])).toThrow(/has an error, so no seconds/);
    expect(() => parseScaling([{ ...sample[0], head: 3 }])).toThrow(/head must be a head's name or null/);
  });

  it('draws a line per series through its measured sizes, on axes from 0', () => {
    const svg = renderScalingChart(scalingSeries(sample), { title: 'Latency', unit: 's', value: (e) => e.seconds });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    // the series with one measured size has a marker and no line
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg.match(/<circle /g)).toHaveLength(4);
    // x: 256² = 0.066 MP and 512² = 0.26 MP on an axis to 0.5; y: 1 s and 4 s on an axis to 5 (plot 440 × 260
    // from (64, 40))
    expect(svg).toContain('points="121.7,248.0 294.7,92.0"');
    expect(svg).toContain('GLNET_Y + UPERNET_ADE20K');
    expect(svg).toContain('stroke-dasharray="7 4"');
    // backbones alone, under heads, memory
    expect(renderScalingCharts(sample).match(/<svg /g)).toHaveLength(3);
    expect(renderScalingCharts(sample.filter((e) => e.head === null)).match(/<svg /g)).toHaveLength(2);
    expect(renderScalingCharts([])).toBe('');
  });

  it('tabulates seconds and memory per size, the failure, and the exponents', () => {
    const md = renderScalingTable(sample).split('\n');
    expect(md[0]).toBe('| model | 256² | 512² | time ∝ pixels^k | MACs ∝ pixels^k |');
    expect(md[2]).toBe('| DAT_X (<code>dat_<wbr>x</code>) | 1 s · 256 MiB | 4 s · 512 MiB | 1.00 | 1.00 |');
    expect(md[4]).toContain('| 2 s · 256 MiB | out of memory | — | — |');
    // an error's own "|" cannot end its cell (escHtml writes it as an entity)
    const piped = renderScalingTable([{ ...sample[3]!, error: 'a | b' }]).split('\n');
    expect(piped[2]).toContain('| a &#124; b |');
  });
});

describe('data/bench.json: scaling', () => {
  const series = scalingSeries(data.scaling ?? []);

  it('covers each family alone, under UperNet and under Mask R-CNN, from 224² to 1024²', () => {
    const families = ['dat_pp_tiny_dense', 'debi_tiny_seg', 'glnet_4g_dense'];
    for (const head of [null, 'upernet_ade20k', 'maskrcnn_coco'])
      for (const model of families) {
        const s = series.find((v) => v.model === model && v.head === head);
        expect(s, `${model} + ${head}`).toBeDefined();
        expect(s!.entries.map((e) => e.size)).toEqual([224, 384, 512, 768, 1024]);
      }
  });

  it('counts more MACs at every larger size; Mask R-CNN carries 100 detections', () => {
    for (const s of series) {
      const measured = s.entries.filter((e) => e.gmacs !== undefined);
      for (let i = 1; i < measured.length; i++)
        expect(measured[i]!.gmacs!, `${s.model} + ${s.head}`).toBeGreaterThan(measured[i - 1]!.gmacs!);
      if (s.head === 'maskrcnn_coco') for (const e of measured) expect(e.detections, `${s.model} ${e.size}²`).toBe(100);
    }
  });
});
