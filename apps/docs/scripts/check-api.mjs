#!/usr/bin/env node
/**
 * Build check: every exported symbol of every package entry (its dist/*.d.ts) must appear in the API
 * reference TypeDoc just generated (generated/typedoc.json). Fails the build listing what is missing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiProblems, compareApi, discoverApiEntries } from '../dist/index.js';

const docs = fileURLToPath(new URL('..', import.meta.url));
const project = JSON.parse(readFileSync(join(docs, 'generated', 'typedoc.json'), 'utf8'));
const diffs = compareApi(discoverApiEntries(join(docs, '..', '..')), project);
const problems = apiProblems(diffs);
if (problems.length) {
  console.error(`check-api: the API reference is incomplete:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `check-api: ${diffs.reduce((a, d) => a + d.exported, 0)} exports of ${diffs.length} entry points, all in the API reference`,
);
