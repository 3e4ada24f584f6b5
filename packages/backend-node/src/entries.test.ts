/**
 * What each built entry point loads (run after `tsc -p tsconfig.build.json`): the main entry is backend
 * selection only — importing it must load neither sharp nor any model family; the CLI loads them all.
 * A child Node records every module resolution through a `node:module` `register` hook.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const hooks = mkdtempSync(join(tmpdir(), 'dynavit-entries-'));
writeFileSync(
  join(hooks, 'hooks.mjs'),
  `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(log, specifier + '\\t' + r.url + '\\n');
  return r;
}
`,
);
writeFileSync(
  join(hooks, 'register.mjs'),
  `import { register } from 'node:module';
register('./hooks.mjs', import.meta.url, { data: { log: process.env.DYNAVIT_IMPORT_LOG } });
`,
);

/** Every [specifier, resolved URL] while a fresh Node imports `entry` (a file under dist/). */
async function loads(entry: string): Promise<[string, string][]> {
  const file = join(dist, entry);
  expect(existsSync(file), `${file} missing: build the package first (tsc -p tsconfig.build.json)`).toBe(true);
  const log = join(hooks, `${entry.replace(/\W/g, '_')}.log`);
  writeFileSync(log, '');
  const code = `await import(${JSON.stringify(pathToFileURL(file).href)});`;
  await promisify(execFile)(
    process.execPath,
    ['--no-warnings', '--import', pathToFileURL(join(hooks, 'register.mjs')).href, '--input-type=module', '-e', code],
    { env: { ...process.env, DYNAVIT_IMPORT_LOG: log } },
  );
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t') as [string, string]);
}

const FAMILIES = ['@dynavit/dat', '@dynavit/dbra', '@dynavit/glmix', '@dynavit/heads'];
const isFamily = ([spec, url]: [string, string]) =>
  FAMILIES.some((f) => spec === f || spec.startsWith(`${f}/`)) || /\/packages\/(dat|dbra|glmix|heads)\//.test(url);
const isSharp = ([spec, url]: [string, string]) => spec === 'sharp' || /\/node_modules\/(\.pnpm\/)?sharp[@/]/.test(url);

describe('entry points', () => {
  it('@dynavit/backend-node loads backend selection only: no sharp, no model family', async () => {
    const seen = await loads('index.js');
    expect(
      seen.some(([spec]) => spec === '@tensorflow/tfjs-core'),
      'the hook saw the imports',
    ).toBe(true);
    expect(seen.filter(isSharp)).toEqual([]);
    expect(seen.filter(isFamily)).toEqual([]);
  });

  it('@dynavit/backend-node/cli loads sharp and every family (so the check above can see them)', async () => {
    const seen = await loads('cli.js');
    expect(seen.some(isSharp)).toBe(true);
    for (const f of FAMILIES)
      expect(
        seen.some(([spec]) => spec === f),
        f,
      ).toBe(true);
  });

  it('@dynavit/backend-node/testing loads no sharp', async () => {
    const seen = await loads('testing/index.js');
    expect(seen.some(([spec]) => spec === '@dynavit/core/testing')).toBe(true);
    expect(seen.filter(isSharp)).toEqual([]);
  });
});
