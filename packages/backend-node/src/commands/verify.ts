/** `dynavit verify [--dir DIR]`: parity over every golden case bundled in the repository (or under DIR). */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileError, InvalidArgumentError } from '@dynavit/core';
import { runCases } from '../parity-report.js';
import { createRegistry } from '../registry.js';
import { bundledCases, findCases, findRepoRoot, type GoldenCase } from '../testing/golden.js';
import { defineCommand } from './command.js';

export const verifyCommand = defineCommand({
  name: 'verify',
  usage: 'verify [--dir DIR]\nparity over every golden case bundled in the repository',
  options: { dir: { type: 'string' } },
  backend: { default: 'auto' },
  async run({ values, out, useBackend }) {
    const { backend, threads = 1 } = await useBackend();
    let cases: GoldenCase[];
    if (values.dir) {
      const dir = resolve(values.dir);
      if (!existsSync(dir)) throw new InvalidArgumentError(`golden folder not found: ${dir}`);
      if (!statSync(dir).isDirectory()) throw new FileError(`cannot read ${dir}: it is a file, not a folder`);
      cases = findCases(dir);
    } else {
      const root = findRepoRoot(process.cwd()) ?? findRepoRoot(fileURLToPath(new URL('.', import.meta.url)));
      if (!root)
        throw new InvalidArgumentError(
          'verify runs inside the dynavit repository (bundled cases live in packages/*/src/__fixtures__/golden); ' +
            'pass --dir DIR elsewhere',
        );
      cases = bundledCases(root);
    }
    if (cases.length === 0) throw new InvalidArgumentError('no golden cases found');
    out(
      `dynavit verify: ${cases.length} bundled golden cases on ${backend}${threads > 1 ? ` (${threads} threads)` : ''}\n`,
    );
    const { failed } = await runCases(createRegistry(), cases, backend, out);
    return failed ? 1 : 0;
  },
});
