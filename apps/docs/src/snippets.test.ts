import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkSnippets, importedPackages, installedBy, type PeerInfo, pageBlocks, regionOf } from './snippets.js';

const docs = fileURLToPath(new URL('..', import.meta.url));
const root = join(docs, '..', '..');

function walk(dir: string, keep: (f: string) => boolean, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    if (['node_modules', 'api', 'generated', 'dist', '.vitepress', 'public', 'test-output', 'data'].includes(e))
      continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, keep, out);
    else if (keep(p)) out.push(p);
  }
  return out;
}

const pages = new Map(
  walk(docs, (f) => f.endsWith('.md') && !f.endsWith('README.md')).map((f) => [
    relative(docs, f),
    readFileSync(f, 'utf8'),
  ]),
);
const snippets = new Map(
  walk(join(docs, 'snippets'), (f) => f.endsWith('.ts')).map((f) => [relative(docs, f), readFileSync(f, 'utf8')]),
);

/** Peers of the workspace's published packages, from their package.json files. */
function peersOf(pkg: string): PeerInfo | undefined {
  for (const d of readdirSync(join(root, 'packages'))) {
    const json = JSON.parse(readFileSync(join(root, 'packages', d, 'package.json'), 'utf8')) as {
      name: string;
      peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    if (json.name !== pkg) continue;
    const peers = Object.keys(json.peerDependencies ?? {});
    return { peers, optional: peers.filter((p) => json.peerDependenciesMeta?.[p]?.optional) };
  }
  return undefined;
}

describe('the docs pages and snippets/', () => {
  it('every TypeScript block is an included file, every include resolves, install lines list what is imported', () => {
    expect(pages.size).toBeGreaterThan(10);
    expect(snippets.size).toBeGreaterThanOrEqual(12);
    expect(checkSnippets({ pages, snippets, peersOf })).toEqual([]);
  });

  it('the guide shows each snippet file at least once, from the pages that teach it', () => {
    const includes = [...pages].flatMap(([page, md]) =>
      pageBlocks(md)
        .filter((b) => b.kind === 'include')
        .map((b) => `${page} ← ${b.kind === 'include' ? b.file : ''}`),
    );
    expect(includes).toContain('guide/quick-start.md ← snippets/node/quick-start.ts');
    expect(includes).toContain('guide/getting-started.md ← snippets/browser/getting-started.ts');
    expect(includes.length).toBeGreaterThanOrEqual(18);
  });
});

describe('checkSnippets finds what breaks the promise', () => {
  const peers = (pkg: string): PeerInfo | undefined =>
    pkg === '@dynavit/backend-node'
      ? { peers: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-node'], optional: ['@tensorflow/tfjs-node'] }
      : undefined;
  const src =
    "// #region a\nimport { pipeline } from '@dynavit/backend-node';\nimport sharp from 'sharp';\n// #endregion a\n";
  const run = (md: string, files: Record<string, string> = { 'snippets/node/x.ts': src }) =>
    checkSnippets({ pages: new Map([['p.md', md]]), snippets: new Map(Object.entries(files)), peersOf: peers });

  it('accepts a page whose install line matches', () => {
    expect(
      run('```sh\nnpm install @dynavit/backend-node sharp @tensorflow/tfjs-core\n```\n<<< @/snippets/node/x.ts#a\n'),
    ).toEqual([]);
  });
  it('refuses inline TypeScript, a missing file or region, an orphan file', () => {
    expect(run('```ts\nconst a = 1;\n```\n<<< @/snippets/node/x.ts#b\n<<< @/snippets/node/y.ts\n')).toEqual([
      'p.md:1: a ```ts block written inline; make it a file under snippets/',
      'p.md:4: snippets/node/x.ts has no region "b"',
      'p.md:5: includes snippets/node/y.ts, which does not exist',
    ]);
    expect(run('no code', { 'snippets/node/x.ts': src })).toEqual([
      'snippets/node/x.ts is not shown on any page (include it or delete it)',
    ]);
  });
  it('refuses an install line that misses an import or a required peer, or adds what is not needed', () => {
    expect(
      run(
        '```sh\nnpm install @dynavit/backend-node \\\n  left-pad @tensorflow/tfjs-node\n```\n<<< @/snippets/node/x.ts#a\n',
      ),
    ).toEqual([
      'p.md:5: snippets/node/x.ts (install line 1): @dynavit/backend-node needs its peer @tensorflow/tfjs-core, which the install line does not install',
      'p.md:5: snippets/node/x.ts (install line 1): imports sharp, which the install line does not install',
      'p.md:5: snippets/node/x.ts (install line 1): installs left-pad, which the snippet neither imports nor needs as a peer',
    ]);
  });
  it('parses imports, install lines and regions as written', () => {
    expect([
      ...importedPackages(
        "import a from '@t/b/dist/x.wasm?url';\nimport 'side';\nimport { c } from 'node:fs';\nconst d = await import('e/f');\nimport g from './h.js';",
      ),
    ]).toEqual(['@t/b', 'side', 'e']);
    expect([...(installedBy('npm install -D @a/b@4.22.0 c@^1 --save') ?? [])]).toEqual(['@a/b', 'c']);
    expect(installedBy('npx dynavit list')).toBeNull();
    expect(regionOf('x\n// #region r\na\nb\n// #endregion r\n', 'r')).toBe('a\nb');
  });
});
