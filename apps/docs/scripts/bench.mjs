#!/usr/bin/env node
/**
 * Measure the benchmarks page's numbers and write data/bench.json: `dynavit bench` (the built CLI) for
 * each model below on wasm at 224×224, median of 5 warm forwards; the machine, the date and the
 * command go into the file. Run by hand (`pnpm --filter @dynavit/docs bench`, after `pnpm build`; about a
 * minute) on an otherwise idle machine: timings are not reproducible under load, so no test runs this.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const MODELS = [
  ['dat_pp_tiny', 'DAT-T++'],
  ['debi_tiny', 'DeBiFormer-T'],
  ['glnet_4g', 'GLNet-4G'],
];
const RUNS = 5;
const cli = fileURLToPath(new URL('../../../packages/backend-node/dist/cli.js', import.meta.url));
const results = MODELS.map(([model, label]) => {
  const args = ['bench', '--model', model, '--backend', 'wasm', '--size', '224', '--runs', String(RUNS)];
  const out = execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').at(-1));
  console.log(`${model}: ${(r.latencyMs.median / 1000).toFixed(3)} s (${r.gflopsPerSecond.toFixed(1)} GFLOP/s)`);
  return { model, label, backend: r.backend, seconds: Number((r.latencyMs.median / 1000).toFixed(3)) };
});
const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
const data = {
  title: 'Classification latency, 224×224, batch 1',
  unit: 's',
  machine: `${cpus().length} × ${cpu}, Node ${process.version}, @tensorflow/tfjs-backend-wasm (SIMD, one thread)`,
  command: `pnpm dynavit bench --model MODEL --backend wasm --size 224 --runs ${RUNS}`,
  note: `Median of ${RUNS} forwards after a warm-up, untrained weights (latency does not depend on the values); measured ${new Date().toISOString().slice(0, 10)} by scripts/bench.mjs.`,
  results,
};
writeFileSync(new URL('../data/bench.json', import.meta.url), `${JSON.stringify(data, null, 2)}\n`);
