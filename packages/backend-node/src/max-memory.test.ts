/** `--max-memory MiB` on run, convert, parity and golden reaches core's readers as `maxBytes` (issue 18). */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from './test-utils/run-cli.js';
import { findRepoRoot } from './testing/index.js';

const root = findRepoRoot(fileURLToPath(import.meta.url))!;
const coreFixtures = `${root}/packages/core/src/io/__fixtures__`;
const datCase = `${root}/packages/dat/src/__fixtures__/golden/dat_pp_reduced`;
const tmp = mkdtempSync(join(tmpdir(), 'dynavit-budget-'));
const lines = (s: string) =>
  s
    .trim()
    .split('\n')
    .filter((l) => l && !l.includes('untrained'));

describe('--max-memory reaches the readers as maxBytes', () => {
  it('a budget below what the file materialises is a typed BudgetError line; a sufficient one reads it', async () => {
    const pth = `${coreFixtures}/heads_maskrcnn_small.pth`;
    const st = `${datCase}.weights.safetensors`;
    for (const argv of [
      ['convert', pth, join(tmp, 'a.safetensors'), '--max-memory', '0.01'],
      ['convert', st, join(tmp, 'b.safetensors'), '--max-memory', '0.01'],
      ['parity', '--weights', st, '--io', `${datCase}.io.safetensors`, '--max-memory', '0.01'],
      [
        'run',
        `${root}/packages/backend-node/src/__fixtures__/images/coffee.jpg`,
        '--model',
        'dat_pp_tiny',
        '--weights',
        pth,
        '--out',
        tmp,
        '--max-memory',
        '0.01',
      ],
    ]) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(lines(r.stderr), argv.join(' ')).toEqual([
        expect.stringMatching(/^dynavit: .*over the memory budget of 0\.0 MiB .*--max-memory MiB/),
      ]);
    }
    const size = readFileSync(pth).length;
    const ok = await runCli(['convert', pth, join(tmp, 'c.safetensors'), '--max-memory', String((2 * size) / 2 ** 20)]);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('golden: every case read under the budget errors, naming it', async () => {
    const r = await runCli([
      'golden',
      `${root}/packages/dat/src/__fixtures__/golden`,
      '--backend',
      'cpu',
      '--max-memory',
      '0.01',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/over the memory budget of 0\.0 MiB/);
  });
});
