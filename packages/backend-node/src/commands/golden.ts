/**
 * `dynavit golden [DIR] [--backend wasm,cpu] [--report FILE]`: parity over every case in DIR (default
 * ../shared/golden) on each backend in turn, then the checkpoint fixtures of DIR/checkpoints. `--report`
 * writes every case's outcome per backend as JSON (the docs' parity data is this file).
 */
import { existsSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { FileError, InvalidArgumentError } from '@dynavit/core';
import { checkOutputFile, writeFileAtomic } from '../files.js';
import { maxMemory } from '../options.js';
import { type GoldenRun, goldenReport, runCases } from '../parity-report.js';
import { createRegistry } from '../registry.js';
import { formatTable } from '../table.js';
import { checkCheckpointFixtures, findCases } from '../testing/golden.js';
import { defineCommand } from './command.js';

export const goldenCommand = defineCommand({
  name: 'golden',
  usage:
    'golden [DIR] [--backend wasm,cpu] [--report FILE] [--max-memory MiB]\n' +
    'parity over every case in DIR (default ../shared/golden) on each backend, and its checkpoint fixtures;' +
    ' --report writes the outcomes as JSON',
  options: { report: { type: 'string' }, 'max-memory': { type: 'string' } },
  positionals: true,
  backend: { default: 'wasm', each: true },
  async run({ positionals, values, out, backends, useBackend }) {
    const budget = maxMemory(values['max-memory']);
    const dir = resolve(positionals[0] ?? '../shared/golden');
    if (!existsSync(dir))
      throw new InvalidArgumentError(
        `golden folder not found: ${dir} (test:golden needs ../shared/golden beside the repository)`,
      );
    if (!statSync(dir).isDirectory()) throw new FileError(`cannot read ${dir}: it is a file, not a folder`);
    if (typeof values.report === 'string') await checkOutputFile(values.report);
    const cases = findCases(dir);
    if (cases.length === 0)
      throw new InvalidArgumentError(`no golden cases (NAME.weights.safetensors + NAME.io.safetensors) under ${dir}`);
    const registry = createRegistry();
    let failed = 0;
    const runs: GoldenRun[] = [];
    for (const name of backends) {
      const { backend, threads = 1 } = await useBackend(name);
      out(
        `dynavit golden: ${cases.length} cases in ${dir} on ${backend}${threads > 1 ? ` (${threads} threads)` : ''}\n`,
      );
      const r = await runCases(registry, cases, backend, out, budget);
      failed += r.failed;
      runs.push({ backend, results: r.results });
      out('');
    }
    if (typeof values['report'] === 'string') {
      const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`;
      const report = goldenReport(runs, machine);
      await writeFileAtomic(values['report'], `${JSON.stringify(report, null, 2)}\n`);
      out(`wrote ${values['report']} (${report.cases.length} cases × ${runs.length} backends)`);
    }
    const ckpts = await checkCheckpointFixtures(dir, budget);
    if (ckpts.length) {
      out(`checkpoint fixtures (${dir}/checkpoints):`);
      out(
        formatTable(
          ['file', 'ok', 'detail'],
          ckpts.map((c) => [c.file, c.ok ? 'yes' : 'NO', c.message]),
        ),
      );
    }
    const badCkpt = ckpts.filter((c) => !c.ok).length;
    out(`\n${ckpts.length - badCkpt} of ${ckpts.length} checkpoint fixtures ok`);
    return failed || badCkpt ? 1 : 0;
  },
});
