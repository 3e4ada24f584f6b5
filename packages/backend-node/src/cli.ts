#!/usr/bin/env node
/**
 * The `dynavit` command line. Commands: parity, verify, golden, info, list, doctor, convert, run, bench.
 * Every failure a user can cause prints one line `dynavit: <message>` and exits non-zero.
 */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { countMacs, DynavitError, InvalidArgumentError, type ParityReport, runParityAsync } from '@dynavit/core';
import { readSafetensorsFile } from '@dynavit/core/node';
import { backendPreference, selectBackend } from './backends.js';
import { cmdBench } from './commands/bench.js';
import { cmdConvert } from './commands/convert.js';
import { cmdDoctor } from './commands/doctor.js';
import { cmdRun } from './commands/run.js';
import { bundledCases, type CaseResult, checkCheckpointFixtures, findCases, findRepoRoot, runCase } from './golden.js';
import { progressBar } from './progress.js';
import { createRegistry } from './registry.js';
import { fmtNum, formatTable } from './table.js';

const USAGE = `usage: dynavit <command> [options]

commands:
  run <image…> --model NAME [--weights FILE] [--key K] [--task classify|segment|detect] [--head H] [--scale L,S] [--out DIR]
         run a model on images; writes a picture of the result and a JSON file per image
  convert <checkpoint.pth> <out.safetensors> [--key model|model_ema|state_dict] [--model NAME] [--dtype float32|float16]
         read an official checkpoint safely, validate it strictly against a model, write safetensors
  bench --model NAME [--size 224] [--batch 1] [--runs 10]
         latency (median, spread), images/s, GFLOP/s, peak memory; JSON on the last line
  info <model> [--size N]   parameters, feature info, and MACs ("FLOPs" as the papers count them) at N×N
  list                      every registered model
  doctor                    every backend, whether it is available and why not, and which one is used
  parity --weights CASE.weights.safetensors --io CASE.io.safetensors
         build the model named by the weights' metadata, load strictly, compare every output
  verify [--dir DIR]        parity over every golden case bundled in the repository
  golden [DIR] [--backend wasm,cpu]
         parity over every case in DIR (default ../shared/golden) on each backend, and its checkpoint fixtures

Every command that computes takes --backend auto|tensorflow-gpu|tensorflow|webgpu|wasm|cpu
(default auto: the first available of those, passing over WebGPU on SwiftShader; wasm on machines
without a GPU or tfjs-node).`;

class UsageError extends Error {}

function out(s: string): void {
  process.stdout.write(`${s}\n`);
}

function parityTable(r: ParityReport): string {
  return formatTable(
    ['output', 'shape', 'max|out-ref|', 'max|ref|', 'rel L2', 'limit', 'ok'],
    r.outputs.map((o) => [o.name, `[${o.shape.join(',')}]`, fmtNum(o.maxAbs), fmtNum(o.maxRef), fmtNum(o.relL2), fmtNum(r.tolerance * Math.max(1, o.maxRef)), o.ok ? 'yes' : 'NO']),
  );
}

const parityJson = (r: ParityReport) =>
  JSON.stringify({ ok: r.ok, backend: r.backend, outputs: r.outputs.map(({ name, maxAbs, maxRef, relL2 }) => ({ name, maxAbs, maxRef, relL2 })) });

async function cmdParity(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { weights: { type: 'string' }, io: { type: 'string' }, backend: { type: 'string', default: 'auto' } } });
  if (!values.weights || !values.io) throw new UsageError('parity needs --weights and --io');
  const { backend } = await selectBackend({ prefer: backendPreference(values.backend) });
  const registry = createRegistry();
  try {
    const weights = await readSafetensorsFile(values.weights);
    const io = await readSafetensorsFile(values.io);
    const report = await runParityAsync(registry, weights, io);
    out(`parity of ${values.weights} on ${backend} (${report.family}, ${report.millis.toFixed(0)} ms forward)`);
    out(parityTable(report));
    out(parityJson(report));
    return report.ok ? 0 : 1;
  } catch (e) {
    if (DynavitError.isInstance(e)) out(JSON.stringify({ ok: false, backend, error: e.message, outputs: [] }));
    throw e;
  }
}

function summary(results: CaseResult[]): string {
  return formatTable(
    ['case', 'status', 'worst output', 'max|out-ref|', 'ms'],
    results.map((r) => {
      if ('report' in r) {
        const worst = [...r.report.outputs].sort((a, b) => b.maxAbs / Math.max(1, b.maxRef) - a.maxAbs / Math.max(1, a.maxRef))[0];
        return [r.case.name, r.status, worst?.name ?? '-', worst ? fmtNum(worst.maxAbs) : '-', r.report.millis.toFixed(0)];
      }
      if (r.status === 'not-implemented') return [r.case.name, `not implemented (${r.family})`, '-', '-', '-'];
      return [r.case.name, `error: ${'message' in r ? r.message : ''}`, '-', '-', '-'];
    }),
  );
}

async function runAll(cases: ReturnType<typeof findCases>, backend: string): Promise<{ results: CaseResult[]; failed: number }> {
  const registry = createRegistry();
  const results: CaseResult[] = [];
  const bar = progressBar(cases.length, `parity on ${backend}`);
  for (const [i, c] of cases.entries()) {
    const before = tf.memory().numTensors;
    results.push(await runCase(registry, c));
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) results[results.length - 1] = { case: c, status: 'error', message: `leaked ${leaked} tensors` };
    bar.update(i + 1, c.name);
  }
  bar.done();
  const failed = results.filter((r) => r.status === 'fail' || r.status === 'error').length;
  const checked = results.filter((r) => r.status === 'pass' || r.status === 'fail').length;
  const missing = [...new Set(results.flatMap((r) => (r.status === 'not-implemented' ? [r.family] : [])))];
  out(summary(results));
  out(`\n${checked} of ${results.length} cases checked on ${backend}: ${checked - results.filter((r) => r.status === 'fail').length} passed, ${failed} failed` + (missing.length ? `; families not implemented yet: ${missing.join(', ')}` : ''));
  return { results, failed };
}

async function cmdVerify(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { backend: { type: 'string', default: 'auto' }, dir: { type: 'string' } } });
  const { backend } = await selectBackend({ prefer: backendPreference(values.backend) });
  let cases: ReturnType<typeof findCases>;
  if (values.dir) cases = findCases(resolve(values.dir));
  else {
    const root = findRepoRoot(process.cwd()) ?? findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
    if (!root) throw new InvalidArgumentError('verify runs inside the dynavit repository (bundled cases live in packages/*/src/__fixtures__/golden); pass --dir DIR elsewhere');
    cases = bundledCases(root);
  }
  if (cases.length === 0) throw new InvalidArgumentError('no golden cases found');
  out(`dynavit verify: ${cases.length} bundled golden cases on ${backend}\n`);
  const { failed } = await runAll(cases, backend);
  return failed ? 1 : 0;
}

async function cmdGolden(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { backend: { type: 'string', default: 'wasm' } } });
  const dir = resolve(positionals[0] ?? '../shared/golden');
  if (!existsSync(dir)) throw new InvalidArgumentError(`golden folder not found: ${dir} (test:golden needs ../shared/golden beside the repository)`);
  const cases = findCases(dir);
  if (cases.length === 0) throw new InvalidArgumentError(`no golden cases (NAME.weights.safetensors + NAME.io.safetensors) under ${dir}`);
  let failed = 0;
  // --backend wasm,cpu runs every case on each backend in turn
  for (const name of values.backend.split(',')) {
    const { backend } = await selectBackend({ prefer: backendPreference(name.trim()) });
    out(`dynavit golden: ${cases.length} cases in ${dir} on ${backend}\n`);
    failed += (await runAll(cases, backend)).failed;
    out('');
  }
  const ckpts = await checkCheckpointFixtures(dir);
  if (ckpts.length) {
    out(`checkpoint fixtures (${dir}/checkpoints):`);
    out(formatTable(['file', 'ok', 'detail'], ckpts.map((c) => [c.file, c.ok ? 'yes' : 'NO', c.message])));
  }
  const badCkpt = ckpts.filter((c) => !c.ok).length;
  out(`\n${ckpts.length - badCkpt} of ${ckpts.length} checkpoint fixtures ok`);
  return failed || badCkpt ? 1 : 0;
}

async function cmdInfo(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { backend: { type: 'string', default: 'auto' }, size: { type: 'string' } } });
  const name = positionals[0];
  if (!name) throw new UsageError('info needs a model name (see `dynavit list`)');
  const registry = createRegistry();
  const { family, variant } = registry.variant(name);
  out(`${name} (${family.packageName}, ${variant.kind})`);
  out(`source: ${variant.source}`);
  if (!family.implemented) {
    out(`parameters: ${variant.params.toLocaleString('en-US')} (official code; this family is not implemented yet)`);
    return 0;
  }
  await selectBackend({ prefer: backendPreference(values.backend) });
  const model = registry.createModel(name);
  try {
    out(`parameters: ${model.parameterCount().toLocaleString('en-US')}`);
    const size = values.size === undefined ? (variant.input?.size[0] ?? null) : Number(values.size);
    if (size !== null) {
      if (!Number.isInteger(size) || size < 1) throw new InvalidArgumentError(`--size must be a positive integer, got ${values.size}`);
      const x = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
      const { result, macs } = countMacs(() => ('numClasses' in model && model.numClasses > 0 ? model.forward(x) : model.forwardFeatures(x)));
      tf.dispose([x, result]);
      out(`MACs at ${size}×${size}: ${(macs / 1e9).toFixed(2)} G (convs, linears and attention products; the papers call these FLOPs)`);
    }
    out(formatTable(['feature', 'channels', 'reduction', 'module'], model.featureInfo.map((f, i) => [String(i), String(f.channels), String(f.reduction), f.module])));
  } finally {
    model.dispose();
  }
  return 0;
}

function cmdList(): number {
  const rows = createRegistry()
    .listModels()
    .map((m) => [m.name, m.family, m.kind, m.params.toLocaleString('en-US'), m.implemented ? 'yes' : 'not yet']);
  out(formatTable(['model', 'family', 'kind', 'params', 'implemented'], rows));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'parity':
        return await cmdParity(rest);
      case 'verify':
        return await cmdVerify(rest);
      case 'golden':
        return await cmdGolden(rest);
      case 'info':
        return await cmdInfo(rest);
      case 'list':
        return cmdList();
      case 'doctor':
        return await cmdDoctor(out);
      case 'convert':
        return await cmdConvert(rest, out);
      case 'run':
        return await cmdRun(rest, out, (m) => process.stderr.write(`${m}\n`));
      case 'bench':
        return await cmdBench(rest, out);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        out(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`dynavit: ${(e as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (DynavitError.isInstance(e)) {
      process.stderr.write(`dynavit: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

const isMain = process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`dynavit: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
