/**
 * Every exported symbol of every package appears in the API reference: the exports of each package
 * entry's dist/*.d.ts against the TypeDoc project the build generated (generated/typedoc.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { apiProblems, compareApi, discoverApiEntries, type TypedocJson } from './api-check.js';

const docs = fileURLToPath(new URL('..', import.meta.url));
const repo = join(docs, '..', '..');

describe('the API reference', () => {
  const entries = discoverApiEntries(repo);

  it('covers every package entry point but the harness subpaths', () => {
    expect(entries.filter((e) => e.module.endsWith('/testing'))).toEqual([]);
    expect(entries.map((e) => e.module)).toEqual(
      expect.arrayContaining([
        '@dynavit/core',
        '@dynavit/core/node',
        '@dynavit/dat',
        '@dynavit/dbra',
        '@dynavit/glmix',
        '@dynavit/heads',
        '@dynavit/backend-node',
        '@dynavit/backend-node/cli',
        '@dynavit/backend-web',
      ]),
    );
  });

  it('documents every exported symbol (TypeDoc vs dist/*.d.ts)', () => {
    const file = join(docs, 'generated', 'typedoc.json');
    expect(existsSync(file), 'generated/typedoc.json is missing: run the build first (pnpm build)').toBe(true);
    const project = JSON.parse(readFileSync(file, 'utf8')) as TypedocJson;
    const diffs = compareApi(entries, project);
    expect(apiProblems(diffs)).toEqual([]);
    for (const d of diffs) expect(d.exported, d.module).toBeGreaterThan(0);
    expect(diffs.find((d) => d.module === '@dynavit/dat')!.exported).toBeGreaterThan(10);
    // and every documented symbol has a page (or a re-export entry) in the generated Markdown
    expect(existsSync(join(docs, 'api', '@dynavit', 'dat', 'classes', 'DAttentionBaseline.md'))).toBe(true);
  });

  it('reports what is missing', () => {
    const core = entries.find((e) => e.module === '@dynavit/core')!;
    const project: TypedocJson = {
      children: [{ name: '@dynavit/core', children: [{ name: 'Module' }, { name: 'notExported' }] }],
    };
    const [d] = compareApi([core], project);
    expect(d!.missing).toContain('countMacs');
    expect(d!.extra).toEqual(['notExported']);
    expect(apiProblems(compareApi([core], { children: [] }))[0]).toMatch(/not in the API reference at all/);
  });
});
