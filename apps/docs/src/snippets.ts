/**
 * The docs' code is real code: every TypeScript block on a page is a file under `snippets/`, included
 * with VitePress's `<<< @/snippets/FILE#REGION`, type-checked by `pnpm typecheck` (against the workspace)
 * and by the consumer test (against the packed tarballs, where the Node ones also run). This module
 * checks the pages' side of that promise: no TypeScript written inline, every include resolves to a file
 * and region, every snippet file is shown somewhere, and each `npm install` line lists exactly the
 * packages the snippet under it imports plus their peer dependencies (the required ones all present).
 */

/** A block of a Markdown page, in page order. */
export type PageBlock =
  | { kind: 'fence'; lang: string; body: string; line: number }
  | { kind: 'include'; file: string; region: string | null; line: number };

const FENCE = /^(```+|~~~+)\s*([\w-]*)/;
const INCLUDE = /^<<<\s+@\/(snippets\/[^\s#{]+)(?:#([\w-]+))?/;

export function pageBlocks(markdown: string): PageBlock[] {
  const lines = markdown.split('\n');
  const blocks: PageBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const inc = INCLUDE.exec(line);
    if (inc) {
      blocks.push({ kind: 'include', file: inc[1] ?? '', region: inc[2] ?? null, line: i + 1 });
      continue;
    }
    const f = FENCE.exec(line);
    if (!f) continue;
    const fence = f[1] ?? '```';
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !(lines[i] ?? '').startsWith(fence); i++) body.push(lines[i] ?? '');
    blocks.push({ kind: 'fence', lang: f[2] ?? '', body: body.join('\n'), line: start + 1 });
  }
  return blocks;
}

/** Languages that must not be written inline: they would escape the type-check. */
export const CHECKED_LANGS = new Set(['ts', 'typescript', 'js', 'javascript', 'mjs', 'tsx', 'jsx', 'vue']);

/** The lines a `// #region NAME` … `// #endregion NAME` pair encloses, or null when absent. */
export function regionOf(source: string, region: string): string | null {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\s*//\\s*#region\\s+${region}\\s*$`).test(l));
  if (start < 0) return null;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^\\s*//\\s*#endregion\\s+${region}\\s*$`).test(l));
  return end < 0 ? null : lines.slice(start + 1, end).join('\n');
}

/** The npm packages a source file imports (bare specifiers, subpaths and `?url` dropped; `node:` skipped). */
export function importedPackages(source: string): Set<string> {
  const out = new Set<string>();
  for (const m of source.matchAll(
    /\bfrom\s+['"]([^'"]+)['"]|\bimport\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    const spec = (m[1] ?? m[2] ?? m[3] ?? '').split('?')[0] ?? '';
    if (!spec || spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
    const parts = spec.split('/');
    out.add(spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? spec));
  }
  return out;
}

/** The packages an `npm install …` command line installs (flags and version ranges dropped), or null. */
export function installedBy(sh: string): Set<string> | null {
  const joined = sh.replace(/\\\n/g, ' ');
  const m = /(?:^|\n)\s*(?:npm\s+(?:install|i|add)|pnpm\s+add|yarn\s+add)\s+([^\n#]+)/.exec(joined);
  if (!m) return null;
  const names = (m[1] ?? '')
    .trim()
    .split(/\s+/)
    .filter((w) => w && !w.startsWith('-'))
    .map((w) => w.replace(/(.)@[^/]*$/, '$1'));
  return new Set(names);
}

/** What a package asks its installer for: its peers, and which of them are optional. */
export interface PeerInfo {
  peers: readonly string[];
  optional: readonly string[];
}

/**
 * Problems with one install line for one snippet file: a package imported but not installed, one
 * installed but neither imported nor a peer of an imported package, a required peer missing.
 */
export function installProblems(
  installed: ReadonlySet<string>,
  imports: ReadonlySet<string>,
  peersOf: (pkg: string) => PeerInfo | undefined,
): string[] {
  const problems: string[] = [];
  const allowed = new Set(imports);
  for (const pkg of imports) {
    if (!installed.has(pkg)) problems.push(`imports ${pkg}, which the install line does not install`);
    const info = peersOf(pkg);
    for (const peer of info?.peers ?? []) {
      allowed.add(peer);
      if (!info?.optional.includes(peer) && !installed.has(peer))
        problems.push(`${pkg} needs its peer ${peer}, which the install line does not install`);
    }
  }
  for (const pkg of installed)
    if (!allowed.has(pkg)) problems.push(`installs ${pkg}, which the snippet neither imports nor needs as a peer`);
  return problems;
}

/** Which runtime package a snippet file belongs to (its install line installs it), from its folder. */
export function runtimeOf(file: string): string | null {
  if (file.startsWith('snippets/node/')) return '@dynavit/backend-node';
  if (file.startsWith('snippets/browser/')) return '@dynavit/backend-web';
  return null;
}

export interface SnippetCheckInput {
  /** page path → Markdown */
  pages: ReadonlyMap<string, string>;
  /** snippet path (`snippets/…`) → source */
  snippets: ReadonlyMap<string, string>;
  peersOf: (pkg: string) => PeerInfo | undefined;
}

/** Every problem, one line each (`page:line: …`); empty when the pages and the snippets agree. */
export function checkSnippets({ pages, snippets, peersOf }: SnippetCheckInput): string[] {
  const problems: string[] = [];
  const shown = new Set<string>();
  for (const [page, md] of pages) {
    const installs: { pkgs: Set<string>; line: number }[] = [];
    for (const b of pageBlocks(md)) {
      if (b.kind === 'fence') {
        if (CHECKED_LANGS.has(b.lang))
          problems.push(`${page}:${b.line}: a \`\`\`${b.lang} block written inline; make it a file under snippets/`);
        const pkgs = b.lang === 'sh' || b.lang === 'bash' ? installedBy(b.body) : null;
        if (pkgs) installs.push({ pkgs, line: b.line });
        continue;
      }
      const source = snippets.get(b.file);
      if (source === undefined) {
        problems.push(`${page}:${b.line}: includes ${b.file}, which does not exist`);
        continue;
      }
      shown.add(b.file);
      if (b.region !== null && regionOf(source, b.region) === null)
        problems.push(`${page}:${b.line}: ${b.file} has no region "${b.region}"`);
      const runtime = runtimeOf(b.file);
      const install = [...installs].reverse().find((i) => runtime === null || i.pkgs.has(runtime));
      if (!install) continue;
      for (const p of installProblems(install.pkgs, importedPackages(source), peersOf))
        problems.push(`${page}:${b.line}: ${b.file} (install line ${install.line}): ${p}`);
    }
  }
  for (const file of snippets.keys())
    if (!shown.has(file)) problems.push(`${file} is not shown on any page (include it or delete it)`);
  return problems;
}
