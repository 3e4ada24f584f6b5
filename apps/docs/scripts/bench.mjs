#!/usr/bin/env node
/**
 * Measure the benchmarks page's numbers and write data/bench.json (the chart, the table and the profiles
 * are drawn from it at build time). Run by hand (`pnpm --filter @dynavit/docs bench`, after `pnpm build`;
 * about 15 minutes) on an otherwise idle machine: timings are not reproducible under load, so no test
 * runs this. At 224×224, batch 1, with the weights `dynavit bench` times (training-initialised, seed 0:
 * zeros would take the fast paths of data-dependent kernels such as erf):
 *
 *   1. Node, wasm on one thread: `dynavit bench --threads 1` (the built CLI) for every ImageNet classifier
 *      of each family, median of 5 forwards after a warm-up (the profiles and the scaling part run on one
 *      thread too; the CLI's default is every core, part 6);
 *   2. Node, profiles: `dynavit bench --profile` of each family's smallest model on wasm (by kernel and
 *      by module);
 *   3. Node, WebGPU through Dawn (`webgpu` package): on the GPU when the machine has one, else on
 *      Chromium's SwiftShader (software Vulkan: a correctness path, measured so the page says how slow);
 *   4. Chromium (headless, tools/chromium.json), wasm and WebGPU: backend-web's `bench:browser`;
 *   5. Node, wasm, throughput: `dynavit bench --workers N` (N = the machine's cores) of each family's
 *      smallest model: N copies in worker threads at once; seconds per image = 1 / images/s over all;
 *   6. Node, wasm on every core (the CLI's default): `dynavit bench --threads N` (the multi-threaded build,
 *      N = the cores, at most 8) of each family's smallest model: one forward on N threads.
 *   7. Node, wasm, scaling: latency and peak tensor memory against the input side, 224² to 1024², of each
 *      family's smallest dense backbone alone and under UperNet and Mask R-CNN (`dynavit bench --head`;
 *      Mask R-CNN's whole test path with 100 detections). Written to the file after each measurement, so
 *      a run cut short keeps what it measured; a size that fails (out of memory) is recorded with its error.
 *      `--scaling-sizes=224,384` re-measures only those sizes.
 *
 * `--only=node-wasm,node-threads,profiles,node-webgpu,browser,node-workers,scaling` measures those parts and keeps the others' results from
 * the existing file; `--reuse-browser` takes the browser part from backend-web's last `bench:browser`
 * output instead of running it. The machine, the date and the commands go into the file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = `${root}packages/backend-node/dist/cli.js`;
const dataFile = new URL('../data/bench.json', import.meta.url);
const only = new Set(
  (
    process.argv.find((a) => a.startsWith('--only='))?.slice(7) ??
    'node-wasm,node-threads,profiles,node-webgpu,browser,node-workers,scaling'
  ).split(','),
);

const CLASSIFIERS = [
  ['dat_pp_tiny', 'DAT-T++'],
  ['dat_pp_small', 'DAT-S++'],
  ['dat_pp_base', 'DAT-B++'],
  ['dat_plus_tiny', 'DAT+-T'],
  ['debi_tiny', 'DeBiFormer-T'],
  ['debi_small', 'DeBiFormer-S'],
  ['debi_base', 'DeBiFormer-B'],
  ['glnet_4g', 'GLNet-4G'],
  ['glnet_9g', 'GLNet-9G'],
  ['glnet_16g', 'GLNet-16G'],
  ['glnet_stl', 'GLNet-STL'],
];
const SMALLEST = ['dat_pp_tiny', 'debi_tiny', 'glnet_4g'];
const label = (m) => CLASSIFIERS.find(([n]) => n === m)?.[1] ?? m;
const RUNS = 5;
const WEBGPU_RUNS = 1;
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
const cpuDevice = `${cpus().length} × ${cpu}`;
const nodeRuntime = `Node ${process.version.slice(1)}`;
const old = existsSync(dataFile) ? JSON.parse(readFileSync(dataFile, 'utf8')) : { results: [], profiles: [] };
const kept = (part) => (old.results ?? []).filter((r) => r.part === part);

function bench(model, backend, runs, extra = [], env = {}, size = 224) {
  const args = [
    'bench',
    '--model',
    model,
    '--backend',
    backend,
    '--size',
    String(size),
    '--runs',
    String(runs),
    // wasm defaults to every core; the one-thread rows say so explicitly
    ...(backend === 'wasm' && !extra.includes('--threads') && !extra.includes('--workers') ? ['--threads', '1'] : []),
    ...extra,
  ];
  const out = execFileSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out.trim().split('\n').at(-1));
}

const seconds = (ms) => Number((ms / 1000).toFixed(3));
const results = [];
const profiles = [];

// 1. Node, wasm, every classifier
if (only.has('node-wasm'))
  for (const [model, name] of CLASSIFIERS) {
    const r = bench(model, 'wasm', RUNS);
    console.log(`node wasm ${model}: ${seconds(r.latencyMs.median)} s (${r.gflopsPerSecond.toFixed(1)} GFLOP/s)`);
    results.push({
      part: 'node-wasm',
      model,
      label: name,
      runtime: nodeRuntime,
      backend: 'wasm',
      device: `${cpuDevice} (SIMD, one thread)`,
      seconds: seconds(r.latencyMs.median),
      spread: [seconds(r.latencyMs.min), seconds(r.latencyMs.max)],
      runs: RUNS,
    });
  }
else results.push(...kept('node-wasm'));

// 6. Node, wasm, one forward on every core (the multi-threaded build), each family's smallest model
const THREADS = Math.min(availableParallelism(), 8);
if (only.has('node-threads') && THREADS > 1)
  for (const model of SMALLEST) {
    const r = bench(model, 'wasm', RUNS, ['--threads', String(THREADS)]);
    if (r.threads !== THREADS) throw new Error(`${model}: asked for ${THREADS} threads, ran on ${r.threads}`);
    console.log(`node wasm ${THREADS} threads ${model}: ${seconds(r.latencyMs.median)} s`);
    results.push({
      part: 'node-threads',
      model,
      label: label(model),
      runtime: `${nodeRuntime}, --threads ${THREADS}`,
      backend: 'wasm',
      device: `${cpuDevice} (SIMD, ${THREADS} threads)`,
      seconds: seconds(r.latencyMs.median),
      spread: [seconds(r.latencyMs.min), seconds(r.latencyMs.max)],
      runs: RUNS,
    });
  }
else results.push(...kept('node-threads'));

// 2. profiles of each family's smallest model
if (only.has('profiles'))
  for (const model of SMALLEST) {
    const r = bench(model, 'wasm', 1, ['--profile']);
    console.log(`profile ${model}: ${r.profile.totalMs.toFixed(0)} ms, top kernel ${r.profile.kernels[0]?.name}`);
    profiles.push({ model, label: label(model), backend: 'wasm', ...r.profile });
  }
else profiles.push(...(old.profiles ?? []));

// 5. Node, wasm, throughput with one worker thread per core
const WORKERS = availableParallelism();
if (only.has('node-workers') && WORKERS > 1)
  for (const model of SMALLEST) {
    const r = bench(model, 'wasm', RUNS, ['--workers', String(WORKERS)]);
    console.log(`node wasm ${WORKERS} workers ${model}: ${r.imagesPerSecond.toFixed(2)} images/s`);
    results.push({
      part: 'node-workers',
      model,
      label: label(model),
      runtime: `${nodeRuntime}, ${WORKERS} worker threads`,
      backend: 'wasm',
      device: `${cpuDevice} (SIMD, one thread per worker)`,
      seconds: Number((1 / r.imagesPerSecond).toFixed(3)),
      runs: RUNS * WORKERS,
      note: `throughput: ${r.imagesPerSecond.toFixed(2)} images/s over ${WORKERS} copies at once; each forward took ${seconds(r.latencyMs.median)} s`,
    });
  }
else results.push(...kept('node-workers'));

// 3. Node, WebGPU through Dawn: a real adapter when there is one, else SwiftShader
if (only.has('node-webgpu')) {
  const hasGpu = existsSync('/dev/nvidia0') || existsSync('/dev/dri/renderD128');
  const env = hasGpu
    ? {}
    : { VK_ICD_FILENAMES: SWIFTSHADER, LD_LIBRARY_PATH: '/usr/lib/chromium', XDG_RUNTIME_DIR: '/tmp' };
  for (const model of SMALLEST) {
    const r = bench(model, 'webgpu', WEBGPU_RUNS, [], env);
    const adapter = r.adapter ?? (hasGpu ? 'GPU' : 'SwiftShader');
    console.log(`node webgpu ${model}: ${seconds(r.latencyMs.median)} s on ${adapter}`);
    results.push({
      part: 'node-webgpu',
      model,
      label: label(model),
      runtime: nodeRuntime,
      backend: 'webgpu',
      device: /swiftshader/i.test(adapter) ? 'SwiftShader (software Vulkan on the CPU)' : adapter,
      seconds: seconds(r.latencyMs.median),
      spread: [seconds(r.latencyMs.min), seconds(r.latencyMs.max)],
      runs: WEBGPU_RUNS,
    });
  }
} else results.push(...kept('node-webgpu'));

// 4. Chromium: wasm and WebGPU
if (only.has('browser')) {
  // each measurement is written as it completes, so a run that fails part-way (software WebGPU can lose
  // its device in a minutes-long forward) still gives the ones before; `--reuse-browser` only merges them
  const browserFile = `${root}packages/backend-web/test-output/browser-bench.json`;
  if (!process.argv.includes('--reuse-browser'))
    try {
      execFileSync('pnpm', ['--filter', '@dynavit/backend-web', 'bench:browser'], { cwd: root, stdio: 'inherit' });
    } catch (e) {
      console.error(`bench:browser failed (${String(e.message).split('\n')[0]}); keeping what it measured`);
    }
  const b = JSON.parse(readFileSync(browserFile, 'utf8'));
  const chromium = /Chrom(?:e|ium)\/(\d+)/.exec(b.userAgent)?.[1];
  for (const r of b.results)
    results.push({
      part: 'browser',
      model: r.model,
      label: label(r.model),
      runtime: `Chromium ${chromium ?? ''}`.trim(),
      backend: r.backend,
      device:
        r.backend === 'wasm'
          ? `${cpuDevice} (SIMD, one thread: the page is not cross-origin isolated)`
          : /swiftshader/i.test(r.adapter)
            ? 'SwiftShader (software Vulkan on the CPU)'
            : r.adapter,
      seconds: seconds(r.medianMs),
      spread: [seconds(Math.min(...r.runsMs)), seconds(Math.max(...r.runsMs))],
      runs: r.runsMs.length,
    });
} else results.push(...kept('browser'));

// 7. Node, wasm, scaling with the input side: each family's smallest dense backbone, alone and under the heads
const SCALING_SIZES = [224, 384, 512, 768, 1024];
// `--scaling-sizes=224,384` re-measures those sizes and keeps the file's entries of the others
const scalingArg = process.argv.find((a) => a.startsWith('--scaling-sizes='));
const measureSizes = scalingArg ? scalingArg.slice(16).split(',').map(Number) : SCALING_SIZES;
const DENSE = [
  ['dat_pp_tiny_dense', 'DAT-T++'],
  ['debi_tiny_seg', 'DeBiFormer-T'],
  ['glnet_4g_dense', 'GLNet-4G'],
];
const SCALING_HEADS = [
  [null, 'backbone', 3],
  ['upernet_ade20k', 'UperNet', 1],
  ['maskrcnn_coco', 'Mask R-CNN', 1],
];
const scaling = (old.scaling ?? []).filter((e) => !measureSizes.includes(e.size));
const write = () =>
  writeFileSync(
    dataFile,
    `${JSON.stringify({ ...old, ...dataOf(only.has('scaling') ? scaling : (old.scaling ?? [])) }, null, 2)}\n`,
  );
if (only.has('scaling'))
  for (const size of measureSizes)
    for (const [head, headLabel, runs] of SCALING_HEADS)
      for (const [model, name] of DENSE) {
        const entry = { model, label: name, head, headLabel, size, runs };
        try {
          const r = bench(model, 'wasm', runs, head ? ['--head', head] : [], {}, size);
          Object.assign(entry, {
            seconds: seconds(r.latencyMs.median),
            spread: [seconds(r.latencyMs.min), seconds(r.latencyMs.max)],
            gmacs: Number(r.gmacs.toFixed(2)),
            peakMiB: Math.round(r.peakTensorBytes / 2 ** 20),
            ...(r.detections !== undefined ? { detections: r.detections } : {}),
          });
          console.log(`scaling ${model}${head ? ` + ${head}` : ''} ${size}²: ${entry.seconds} s, ${entry.peakMiB} MiB`);
        } catch (e) {
          entry.error = String(e.stderr ?? e.message)
            .trim()
            .split('\n')
            .at(-1);
          console.log(`scaling ${model}${head ? ` + ${head}` : ''} ${size}²: ${entry.error}`);
        }
        scaling.push(entry);
        scaling.sort((a, b) => a.size - b.size);
        write();
      }

function dataOf(scalingResults) {
  return {
    title: 'Classification latency, 224×224, batch 1',
    unit: 's',
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpuDevice}, ${Math.round(totalmem() / 2 ** 30)} GiB, no GPU unless a device column names one; ${nodeRuntime}, tfjs 4.22`,
    command: `pnpm --filter @dynavit/docs bench (dynavit bench --model MODEL --backend BACKEND --size 224 --runs ${RUNS}; backend-web bench:browser)`,
    note: `Median of ${RUNS} forwards (WebGPU: ${WEBGPU_RUNS}) after a warm-up, training-initialised weights (seed 0); measured by scripts/bench.mjs.`,
    results,
    profiles,
    scaling: scalingResults,
    scalingNote:
      'Node, wasm (one thread), batch 1, square inputs; median of 3 forwards for a backbone alone, 1 under a head, after a warm-up; ' +
      'peak tensor memory of one pass, weights included; Mask R-CNN: the whole test path with 100 detections an image.',
  };
}

const data = dataOf(only.has('scaling') ? scaling : (old.scaling ?? []));
writeFileSync(dataFile, `${JSON.stringify(data, null, 2)}\n`);
console.log(`wrote ${fileURLToPath(dataFile)}: ${results.length} results, ${profiles.length} profiles`);
