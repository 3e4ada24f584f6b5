/**
 * `dynavit ablate`: every registered attention mechanism in the same small classifier, trained with the
 * same budget and recipe, then compared. Each mechanism replaces the skeleton's attention in all four
 * stages (`--attention 0=M,1=M,2=M,3=M`) and is trained by `dynavit train` itself (same data, seed,
 * schedule and augmentation) into `DIR/<mechanism>/`; then its parameters, MACs at the training size and
 * batch-1 inference latency are measured. `DIR/ablation.json` and `DIR/ablation.md` hold the table
 * (`--plot`: `DIR/ablation.png`). A mechanism already finished in DIR is reused and an interrupted one
 * resumed, so rerunning the same command completes a stopped ablation.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  type AttentionOverrides,
  type Classifier,
  countMacs,
  DynavitError,
  InvalidArgumentError,
  type Registry,
} from '@dynavit/core';
import { checkOutputDir, writeFileAtomic } from '../files.js';
import { positiveInt } from '../options.js';
import { createRegistry } from '../registry.js';
import { median } from '../stats.js';
import { formatTable } from '../table.js';
import { writeAblationPng } from '../train/ablation-plot.js';
import { type CommandContext, defineCommand } from './command.js';
import { trainCommand } from './train.js';

const options = {
  data: { type: 'string' },
  out: { type: 'string' },
  skeleton: { type: 'string', default: 'dat_fmnist' },
  mechanisms: { type: 'string', default: 'all' },
  limit: { type: 'string', default: '2000' },
  epochs: { type: 'string', default: '1' },
  'batch-size': { type: 'string', default: '64' },
  size: { type: 'string' },
  seed: { type: 'string', default: '42' },
  lr: { type: 'string', default: '1e-3' },
  'val-split': { type: 'string' },
  plot: { type: 'boolean', default: false },
} as const;

/** One mechanism's line of the table. */
export interface AblationRow {
  mechanism: string;
  package: string;
  /** top-1 / top-5 on the evaluation split after the last epoch (the test split, or --val-split's; null without either) */
  top1: number | null;
  top5: number | null;
  parameters: number;
  /** multiply-adds of one image at the training size */
  macs: number;
  /** median training images/s (updates of batch `batchSize`) */
  trainImagesPerSecond: number | null;
  /** median of 5 batch-1 forwards after a warm-up, milliseconds */
  inferenceMs: number;
  /** where its run lives */
  dir: string;
  /** why it has no results (its training failed: out of memory, a non-finite loss, …); the others still run */
  error?: string;
}

export interface AblationReport {
  type: 'ablation';
  skeleton: string;
  /** the peak learning rate every run used (a small budget from scratch needs more than timm's batch-scaled 5e-4·batch/512) */
  lr: number;
  data: string;
  limit: number;
  epochs: number;
  batchSize: number;
  size: number;
  seed: number;
  backend: string;
  rows: AblationRow[];
}

/** Run `dynavit train ARGS` in this process; its stdout lines are returned, its stderr passed through. */
async function runTrain(ctx: CommandContext, args: string[]): Promise<string[]> {
  const { values } = parseArgs({ args, options: trainCommand.options, allowPositionals: false, strict: true });
  const lines: string[] = [];
  const code = await trainCommand.run({ ...ctx, values, positionals: [], out: (l) => void lines.push(l) });
  if (code !== 0) throw new InvalidArgumentError(`ablate: dynavit train ${args.join(' ')} exited with ${code}`);
  return lines;
}

/** Parameters, MACs at size², median batch-1 latency (ms) of the skeleton with `attention`. */
async function measure(
  registry: Registry,
  skeleton: string,
  attention: AttentionOverrides,
  numClasses: number,
  size: number,
): Promise<{ parameters: number; macs: number; inferenceMs: number }> {
  const model = registry.createModel(skeleton, { numClasses, attention }) as Classifier;
  try {
    const x = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
    try {
      const { result, macs } = countMacs(() => model.forward(x));
      tf.dispose(result as tf.Tensor);
      const times: number[] = [];
      for (let i = 0; i < 6; i++) {
        const t0 = performance.now();
        const y = model.forward(x);
        await y.data();
        y.dispose();
        if (i > 0) times.push(performance.now() - t0);
      }
      return { parameters: model.parameterCount(), macs, inferenceMs: median(times) };
    } finally {
      x.dispose();
    }
  } finally {
    model.dispose();
  }
}

const pct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)}%`);

/** The table as Markdown (for the docs). */
export function ablationMarkdown(r: AblationReport): string {
  const head = '| mechanism | package | test top-1 | parameters | MMACs | training img/s | inference ms |';
  const rows = r.rows.map(
    (x) =>
      `| \`${x.mechanism}\` | ${x.package} | ${x.error ? `failed: ${x.error.replace(/\|/g, '\\|')}` : pct(x.top1)} | ${x.parameters.toLocaleString('en-US')} | ${(x.macs / 1e6).toFixed(1)} | ${x.trainImagesPerSecond?.toFixed(1) ?? '—'} | ${x.inferenceMs.toFixed(1)} |`,
  );
  return [
    `${r.skeleton} with each mechanism in all four stages, trained on ${r.data}: ${r.limit} images per split, ${r.epochs} epoch(s) at batch ${r.batchSize}, peak learning rate ${r.lr}, ${r.size}×${r.size}, seed ${r.seed}, on ${r.backend}.`,
    '',
    head,
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

export const ablateCommand = defineCommand({
  name: 'ablate',
  usage:
    'ablate --data DATA --out DIR [--skeleton dat_fmnist] [--mechanisms all|NAME,…] [--limit 2000] [--epochs 1] ' +
    '[--batch-size 64] [--size S] [--seed 42] [--lr 1e-3] [--val-split F] [--plot]\n' +
    'every registered attention mechanism (dynavit list --attention) in all four stages of the same small classifier, ' +
    'trained with the same budget and recipe (dynavit train) and compared: test top-1, parameters, MACs, training images/s, ' +
    'inference ms. DIR gets a run per mechanism, ablation.json, ablation.md (--plot: ablation.png); rerun to finish a stopped one',
  options,
  backend: { default: 'auto' },
  async run(ctx) {
    const { values } = ctx;
    if (!values.data) throw new InvalidArgumentError('ablate needs --data (e.g. fashion-mnist)');
    if (!values.out) throw new InvalidArgumentError('ablate needs --out DIR (the runs and the table go there)');
    const dir = values.out;
    const registry = createRegistry();
    const skeleton = values.skeleton;
    const { variant } = registry.variant(skeleton);
    if (variant.kind !== 'classifier')
      throw new InvalidArgumentError(`ablate: --skeleton ${skeleton} is a ${variant.kind}, not a classifier`);
    const known = registry.attentionMechanisms();
    const names = values.mechanisms === 'all' ? [...known.keys()] : values.mechanisms.split(',').map((s) => s.trim());
    for (const n of names)
      if (!known.has(n))
        throw new InvalidArgumentError(`ablate: unknown mechanism "${n}"; registered: ${[...known.keys()].join(', ')}`);
    if (new Set(names).size !== names.length) throw new InvalidArgumentError('ablate: --mechanisms lists one twice');
    const limit = positiveInt('limit', values.limit, 2000);
    const epochs = positiveInt('epochs', values.epochs, 1, 100_000);
    const batchSize = positiveInt('batch-size', values['batch-size'], 64, 65_536);
    const seed = Number(values.seed);
    if (values.seed.trim() === '' || !Number.isSafeInteger(seed) || seed < 0)
      throw new InvalidArgumentError(`--seed must be an integer ≥ 0, got "${values.seed}"`);
    const size =
      values.size !== undefined ? positiveInt('size', values.size, 224, 4096) : (variant.input?.size[0] ?? 224);
    await checkOutputDir(dir);
    const backend = await ctx.useBackend();
    const rows: AblationRow[] = [];
    for (const name of names) {
      const attention: AttentionOverrides = { 0: name, 1: name, 2: name, 3: name };
      const runDir = join(dir, name);
      const resultFile = join(runDir, 'result.json');
      let result: { top1?: number; top5?: number; imagesPerSecond?: number | null; data?: string };
      try {
        if (existsSync(resultFile)) {
          result = JSON.parse(await readFile(resultFile, 'utf8'));
          ctx.warn(`dynavit: ablate: ${name} already trained in ${runDir}`);
        } else {
          ctx.warn(`dynavit: ablate: ${name} (${rows.length + 1} of ${names.length})`);
          const args = existsSync(join(runDir, 'run.json'))
            ? ['--resume', runDir]
            : [
                ...['--model', skeleton, '--data', values.data, '--out', runDir],
                ...['--epochs', String(epochs), '--batch-size', String(batchSize), '--limit', String(limit)],
                ...['--seed', String(seed), '--size', String(size), '--lr', values.lr],
                ...(values['val-split'] !== undefined ? ['--val-split', values['val-split']] : []),
                ...['--attention', `0=${name},1=${name},2=${name},3=${name}`],
              ];
          const lines = await runTrain(ctx, args);
          const last = lines.at(-1);
          result = last ? JSON.parse(last) : {};
          await writeFileAtomic(resultFile, `${JSON.stringify(result)}\n`);
        }
      } catch (e) {
        if (!DynavitError.isInstance(e)) throw e;
        ctx.warn(`dynavit: ablate: ${name} failed: ${e.message}`);
        const m = await measure(registry, skeleton, attention, 10, size).catch(() => ({
          parameters: 0,
          macs: 0,
          inferenceMs: Number.NaN,
        }));
        rows.push({
          mechanism: name,
          package: known.get(name)!.packageName,
          top1: null,
          top5: null,
          ...m,
          trainImagesPerSecond: null,
          dir: runDir,
          error: e.message,
        });
        continue;
      }
      const runRecord = JSON.parse(await readFile(join(runDir, 'run.json'), 'utf8')) as { numClasses: number };
      const m = await measure(registry, skeleton, attention, runRecord.numClasses, size);
      rows.push({
        mechanism: name,
        package: known.get(name)!.packageName,
        top1: result.top1 ?? null,
        top5: result.top5 ?? null,
        ...m,
        trainImagesPerSecond: result.imagesPerSecond ?? null,
        dir: runDir,
      });
    }
    const report: AblationReport = {
      type: 'ablation',
      skeleton,
      lr: Number(values.lr),
      data: values.data,
      limit,
      epochs,
      batchSize,
      size,
      seed,
      backend: backend.backend,
      rows,
    };
    await writeFileAtomic(join(dir, 'ablation.json'), `${JSON.stringify(report, null, 1)}\n`);
    await writeFileAtomic(join(dir, 'ablation.md'), ablationMarkdown(report));
    if (values.plot) await writeAblationPng(join(dir, 'ablation.png'), report);
    ctx.out(
      formatTable(
        ['mechanism', 'test top-1', 'params', 'MMACs', 'train img/s', 'infer ms'],
        rows.map((r) => [
          r.mechanism,
          pct(r.top1),
          r.parameters.toLocaleString('en-US'),
          (r.macs / 1e6).toFixed(1),
          r.trainImagesPerSecond?.toFixed(1) ?? '—',
          r.inferenceMs.toFixed(1),
        ]),
      ),
    );
    ctx.out(JSON.stringify(report));
    return 0;
  },
});
