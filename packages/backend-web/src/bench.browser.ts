/**
 * The browser half of the docs' benchmarks page, run by hand (`pnpm --filter @dynavit/backend-web
 * bench:browser`, started by apps/docs/scripts/bench.mjs), never by `pnpm test`: timings are not
 * reproducible under load. In this Chromium (tools/chromium.json: headless, WebGPU on SwiftShader unless a
 * GPU is there), for each model and backend: one warm-up forward (kernel compilation), then the median of
 * the next runs at 224×224, batch 1, training-initialised weights (`initializeWeights`, seed 0, as
 * `dynavit bench`: zeros would take the fast paths of data-dependent kernels such as erf). Writes test-output/browser-bench.json, which the docs' bench script merges into
 * apps/docs/data/bench.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { commands } from '@vitest/browser/context';
import { expect, it } from 'vitest';
import { initializeWeights } from '@dynavit/core';
import { selectBackend } from './select-backend.js';
import { WASM_PATHS } from './cases.browser.js';
import { createModel } from './registry.js';

const MODELS = ['dat_pp_tiny', 'debi_tiny', 'glnet_4g'];
/** runs after the warm-up: software WebGPU takes tens of seconds a forward, so fewer */
const RUNS: Record<string, number> = { wasm: 5, webgpu: 1 };

interface BrowserBench {
  model: string;
  backend: string;
  adapter: string;
  firstMs: number;
  runsMs: number[];
  medianMs: number;
}
const results: BrowserBench[] = [];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** software WebGPU (SwiftShader: ~2 minutes a 224² forward) for one model; a real GPU for all */
const WEBGPU_MODELS = ['dat_pp_tiny'];

for (const backend of ['wasm', 'webgpu'] as const)
  for (const name of backend === 'webgpu' ? WEBGPU_MODELS : MODELS)
    it(`${name} 224×224 on ${backend}`, { timeout: 900_000 }, async () => {
      const choice = await selectBackend({ prefer: backend, wasmPaths: WASM_PATHS });
      expect(choice.backend).toBe(backend);
      const before = tf.memory().numTensors;
      const model = createModel(name);
      if (model.kind !== 'classifier') throw new Error(`${name} is a classifier`);
      initializeWeights(model, 0);
      const x = tf.randomNormal([1, 224, 224, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const times: number[] = [];
      for (let i = 0; i <= RUNS[backend]!; i++) {
        const t0 = performance.now();
        const y = model.forward(x);
        const logits = await y.data();
        times.push(performance.now() - t0);
        y.dispose();
        expect(logits.every(Number.isFinite)).toBe(true);
      }
      x.dispose();
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
      const [first, ...rest] = times;
      const r = {
        model: name,
        backend,
        adapter: choice.adapter ?? choice.reason,
        firstMs: first!,
        runsMs: rest,
        medianMs: median(rest),
      };
      results.push(r);
      console.log(`${name} on ${backend}: first ${r.firstMs.toFixed(0)} ms, median ${r.medianMs.toFixed(0)} ms`);
      await commands.writeFile(
        'test-output/browser-bench.json',
        JSON.stringify({ userAgent: navigator.userAgent, results }, null, 1),
      );
    });
