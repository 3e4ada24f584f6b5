/**
 * Golden parity in Chromium: every reduced golden case (cases.browser.ts) on WebGPU (SwiftShader) and
 * on wasm, with core's parity harness and its default tolerance (1e-3 relative on WebGPU, 1e-4 on
 * wasm), no tensor leaked. WebGPU reads outputs back asynchronously (`runParityAsync`): tfjs-webgpu's
 * synchronous read-back goes through a canvas and returns zeros on SwiftShader. On wasm the sync
 * `runParity` and `runParityAsync` must agree exactly. The table is printed and written to
 * test-output/browser-parity.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { commands } from '@vitest/browser/context';
import { afterAll, describe, expect, it } from 'vitest';
import { runParity, runParityAsync } from '@dynavit/core/testing';
import { headsParity } from '@dynavit/heads/testing';
import type { WebBackend } from './backends.js';
import { selectBackend } from './select-backend.js';
import { GOLDEN_CASES, WASM_PATHS } from './cases.browser.js';
import { createRegistry } from './registry.js';
import { loadWeights } from './weights.js';

interface Row {
  backend: WebBackend;
  case: string;
  output: string;
  maxAbs?: number;
  maxRef?: number;
  limit?: number;
  status: 'pass' | 'FAIL';
  /** upload + forward + read-back: first run (with shader compilation on WebGPU), and a second run */
  coldMs?: number;
  warmMs?: number;
}
const rows: Row[] = [];

const registry = createRegistry();
const BACKENDS = ['webgpu', 'wasm'] as const satisfies readonly WebBackend[];
/** cases timed twice on WebGPU (a second, warm run costs seconds on SwiftShader) */
const WARM_RUN = new Set(['dat/dat_pp_reduced']);

interface BackendSpy {
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): { values: unknown } | undefined };
}

/** Count synchronous GPU → CPU read-backs on the WebGPU backend (slow everywhere, wrong on SwiftShader). */
function spyGpuReadSync(): { count: () => number; restore: () => void } {
  const b = tf.backend() as unknown as BackendSpy;
  const original = b.readSync;
  let n = 0;
  b.readSync = function (this: BackendSpy, dataId: object) {
    if (this.tensorMap.get(dataId)?.values == null) n++;
    return original.call(this, dataId);
  };
  return {
    count: () => n,
    restore: () => {
      b.readSync = original;
    },
  };
}

const opts = { adapters: [headsParity] };

for (const backend of BACKENDS) {
  describe(`golden parity on ${backend}`, () => {
    it(`selects ${backend}`, async () => {
      // by name: with no preference this Chromium's WebGPU (SwiftShader, a software adapter) is passed over
      const choice = await selectBackend({ prefer: backend, wasmPaths: WASM_PATHS });
      expect(choice.backend).toBe(backend);
      expect(tf.getBackend()).toBe(backend);
    });

    for (const c of GOLDEN_CASES) {
      it(c.name, async () => {
        const [weights, io] = await Promise.all([loadWeights(c.weights), loadWeights(c.io)]);
        expect(
          registry.familyForReference(weights.metadata['reference'] ?? '')?.name,
          'the family that reads this case',
        ).toBe(c.family);
        const before = tf.memory().numTensors;
        let report: Awaited<ReturnType<typeof runParityAsync>>;
        let warmMs: number | undefined;
        if (backend === 'webgpu') {
          const spy = spyGpuReadSync();
          try {
            report = await runParityAsync(registry, weights, io, opts);
            if (WARM_RUN.has(c.name)) warmMs = (await runParityAsync(registry, weights, io, opts)).millis;
          } finally {
            spy.restore();
          }
          expect(spy.count(), 'synchronous GPU read-backs during the forward').toBe(0);
        } else {
          report = runParity(registry, weights, io, opts);
          const viaAsync = await runParityAsync(registry, weights, io, opts);
          expect(viaAsync.outputs).toEqual(report.outputs);
          warmMs = viaAsync.millis;
        }
        expect(tf.memory().numTensors).toBe(before);
        expect(report.backend).toBe(backend);
        expect(report.tolerance).toBe(backend === 'wasm' ? 1e-4 : 1e-3);
        expect(report.outputs.length).toBeGreaterThan(0);
        for (const o of report.outputs)
          rows.push({
            backend,
            case: c.name,
            output: o.name,
            maxAbs: o.maxAbs,
            maxRef: o.maxRef,
            limit: report.tolerance * Math.max(1, o.maxRef),
            status: o.ok ? 'pass' : 'FAIL',
            coldMs: report.millis,
            ...(warmMs !== undefined ? { warmMs } : {}),
          });
        const bad = report.outputs
          .filter((o) => !o.ok)
          .map((o) => `${o.name}: max|out-ref| ${o.maxAbs} > ${report.tolerance}·max(1, ${o.maxRef})`);
        expect(bad, `${c.name} on ${backend}`).toEqual([]);
      });
    }
  });
}

afterAll(async () => {
  const e = (x?: number) => (x === undefined ? '-' : x.toExponential(2));
  const ms = (x?: number) => (x === undefined ? '-' : x.toFixed(0));
  const order = (r: Row) =>
    BACKENDS.indexOf(r.backend as (typeof BACKENDS)[number]) * 100 + GOLDEN_CASES.findIndex((c) => c.name === r.case);
  rows.sort((a, b) => order(a) - order(b));
  const lines = [
    '| backend | case | output | max abs err | max abs ref | limit | status | ms (1st / 2nd run) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.backend} | ${r.case} | ${r.output} | ${e(r.maxAbs)} | ${e(r.maxRef)} | ${e(r.limit)} | ${r.status} | ${ms(r.coldMs)} / ${ms(r.warmMs)} |`,
    ),
  ];
  console.log(`browser parity (${navigator.userAgent})\n${lines.join('\n')}`);
  await commands.writeFile(
    'test-output/browser-parity.json',
    JSON.stringify({ userAgent: navigator.userAgent, rows }, null, 1),
  );
});
