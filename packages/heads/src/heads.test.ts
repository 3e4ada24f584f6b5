import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NotImplementedError, Registry } from '@dynavit/core';
import { describe, expect, it } from 'vitest';
import { heads, variants } from './index.js';

const dir = fileURLToPath(new URL('./__fixtures__/manifests/', import.meta.url));
const manifests = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ name: f.slice('manifest.'.length, -'.json'.length).replace('.', '_'), m: JSON.parse(readFileSync(dir + f, 'utf8')) as { params: number } }));

describe('heads variants', () => {
  it('declares exactly the official variants with their parameter counts', () => {
    expect(manifests.length).toBeGreaterThan(0);
    expect(Object.keys(variants).sort()).toEqual(manifests.map((x) => x.name).sort());
    for (const { name, m } of manifests) expect(variants[name as keyof typeof variants].params, name).toBe(m.params);
  });

  it('registers explicitly and reports that the models are not built yet', () => {
    const r = new Registry().use(heads);
    expect(r.listModels()).toHaveLength(manifests.length);
    const first = manifests[0]!.name;
    expect(() => r.createModel(first)).toThrow(NotImplementedError);
    expect(() => r.createModel(first)).toThrow(/@dynavit\/heads/);
  });
});
