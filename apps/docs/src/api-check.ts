/**
 * "Every exported symbol of every package appears in the API reference": the exports of each package
 * entry (its built `dist/*.d.ts`, read with the TypeScript compiler) against the symbols TypeDoc
 * documented (its JSON output). Used by the build (scripts/check-api.mjs) and by the docs test.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

/** One documented entry point: the import specifier users write and the declaration file behind it. */
export interface ApiEntry {
  /** e.g. `@dynavit/core` or `@dynavit/core/node` (TypeDoc's module name, from its `@module` tag) */
  module: string;
  /** absolute path of the package's built declaration entry, e.g. `…/packages/core/dist/index.d.ts` */
  dts: string;
  /** the package's description (package.json) */
  description?: string;
}

/** The part of TypeDoc's JSON output read here. */
export interface TypedocJson {
  name?: string;
  kind?: number;
  children?: TypedocJson[];
}

export interface ApiDiff {
  module: string;
  exported: number;
  documented: number;
  /** exported by the package but absent from the reference */
  missing: string[];
  /** in the reference but not exported (would mean a wrong entry point) */
  extra: string[];
}

/** Names exported by each declaration file (values and types, through `export *` chains). */
export function exportedNames(dtsFiles: readonly string[]): Map<string, string[]> {
  const program = ts.createProgram([...dtsFiles], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, string[]>();
  for (const f of dtsFiles) {
    const sf = program.getSourceFile(f);
    if (!sf) throw new Error(`api check: cannot read ${f} (build the package first)`);
    const sym = checker.getSymbolAtLocation(sf);
    out.set(
      f,
      sym
        ? checker
            .getExportsOfModule(sym)
            .map((s) => s.getName())
            .sort()
        : [],
    );
  }
  return out;
}

/** The modules of a TypeDoc project with the names of their documented children. */
export function documentedNames(project: TypedocJson): Map<string, string[]> {
  const modules = project.children ?? [];
  return new Map(modules.map((m) => [m.name ?? '', (m.children ?? []).map((c) => c.name ?? '').sort()]));
}

/** Compare every entry's exports with what TypeDoc documented under the entry's module name. */
export function compareApi(entries: readonly ApiEntry[], project: TypedocJson): ApiDiff[] {
  const exported = exportedNames(entries.map((e) => e.dts));
  const documented = documentedNames(project);
  return entries.map((e) => {
    const ex = exported.get(e.dts) ?? [];
    const doc = documented.get(e.module);
    const docSet = new Set(doc ?? []);
    const exSet = new Set(ex);
    return {
      module: e.module,
      exported: ex.length,
      documented: doc?.length ?? 0,
      missing: ex.filter((n) => !docSet.has(n)),
      extra: (doc ?? []).filter((n) => !exSet.has(n)),
    };
  });
}

/** One line per problem; empty when the reference is complete. */
export function apiProblems(diffs: readonly ApiDiff[]): string[] {
  const out: string[] = [];
  for (const d of diffs) {
    if (d.documented === 0 && d.exported > 0)
      out.push(`${d.module}: not in the API reference at all (${d.exported} exports)`);
    else {
      if (d.missing.length) out.push(`${d.module}: exported but not documented: ${d.missing.join(', ')}`);
      if (d.extra.length) out.push(`${d.module}: documented but not exported: ${d.extra.join(', ')}`);
    }
  }
  return out;
}

/** The documented entry points: every export of every `packages/*` package.json (not `./package.json`). */
export function discoverApiEntries(repoRoot: string): ApiEntry[] {
  const dir = join(repoRoot, 'packages');
  const entries: ApiEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const pj = join(dir, name, 'package.json');
    if (!existsSync(pj)) continue;
    const pkg = JSON.parse(readFileSync(pj, 'utf8')) as {
      name: string;
      description?: string;
      exports?: Record<string, { types?: string } | string>;
    };
    for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
      // the published harness (`./testing`: parity adapters, golden runners) is tooling, not API
      if (sub === './package.json' || sub === './testing' || typeof target === 'string' || !target.types) continue;
      const module = sub === '.' ? pkg.name : `${pkg.name}/${sub.replace(/^\.\//, '')}`;
      entries.push({
        module,
        dts: resolve(dir, name, target.types),
        ...(pkg.description ? { description: pkg.description } : {}),
      });
    }
  }
  return entries;
}
