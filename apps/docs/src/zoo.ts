/**
 * Model-zoo page generation for the docs site: one Markdown table row per registered model, built from
 * the registry's listing so the docs never drift from the code.
 */
import type { ModelListing } from '@dynavit/core';

export function renderModelZoo(models: readonly ModelListing[]): string {
  const rows = [...models]
    .sort((a, b) => a.family.localeCompare(b.family) || a.params - b.params || a.name.localeCompare(b.name))
    .map((m) => `| \`${m.name}\` | ${m.family} | ${m.kind} | ${(m.params / 1e6).toFixed(2)} M | ${m.implemented ? 'yes' : 'not yet'} |`);
  return ['| model | family | kind | parameters | implemented |', '|---|---|---|---:|---|', ...rows].join('\n');
}
