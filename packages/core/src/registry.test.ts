import { beforeAll, describe, expect, it } from 'vitest';
import { UnknownModelError } from './errors.js';
import { asBuiltModel } from './nn/staged-model.js';
import { type ModelFamily, Registry, referenceJson } from './registry.js';
import { useBackend } from './test-utils/backends.js';
import { Toy } from './test-utils/toy.js';

export const toy: ModelFamily<{ width: number }, 'toy_small' | 'toy_dense'> = {
  name: 'toy',
  packageName: '@dynavit/toy',
  references: ['example/toy'],
  variants: {
    toy_small: {
      kind: 'classifier',
      params: 3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 4 + 4 + 4 * 2 + 2,
      source: 'test',
      config: { width: 4 },
    },
    toy_dense: {
      kind: 'backbone',
      params: 3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 4 + 4 + 4 * 4,
      source: 'test',
      config: { width: 4 },
    },
  },
  create: (name, o) => asBuiltModel(new Toy(4, o?.numClasses ?? 2, name === 'toy_dense')),
  fromReference: (md) => {
    const cfg = referenceJson<{ width: number; classes: number; dense?: boolean }>(md, 'config', 'Toy');
    return asBuiltModel(new Toy(cfg.width, cfg.classes, cfg.dense));
  },
};

describe('Registry', () => {
  beforeAll(() => useBackend('cpu'));

  it('creates registered models by name, discriminated by kind, and lists them', () => {
    const r = new Registry([toy]);
    const m = r.createModel('toy_small', { numClasses: 3 });
    expect(m.kind).toBe('classifier');
    expect(m.parameterCount()).toBe(3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 4 + 4 + 4 * 3 + 3);
    expect(r.listModels()).toEqual([
      { name: 'toy_small', family: 'toy', packageName: '@dynavit/toy', kind: 'classifier', params: 270 },
      { name: 'toy_dense', family: 'toy', packageName: '@dynavit/toy', kind: 'backbone', params: 276 },
    ]);
    for (const name of ['toy_small', 'toy_dense']) {
      const built = r.createModel(name);
      expect(built.parameterCount()).toBe(r.variant(name).variant.params);
      built.dispose();
    }
    m.dispose();
  });

  it('an unknown name fails listing the known names', () => {
    const r = new Registry().use(toy);
    expect(() => r.createModel('toy_big')).toThrow(UnknownModelError);
    expect(() => r.createModel('toy_big')).toThrow(/known models: toy_small, toy_dense/);
  });

  it('builds from reference metadata, and names what it cannot read', () => {
    const r = new Registry([toy]);
    const m = r.fromReference({ reference: 'example/toy@abc', config: JSON.stringify({ width: 2, classes: 5 }) });
    expect(m.kind === 'classifier' && m.numClasses).toBe(5);
    m.dispose();
    expect(() => r.fromReference({ config: '{}' })).toThrow(/no "reference" metadata/);
    expect(() => r.fromReference({ reference: 'other/repo@1', config: '{}' })).toThrow(
      /no registered family reads configs from other\/repo@1 \(known: example\/toy\)/,
    );
    expect(() => r.fromReference({ reference: 'example/toy@1', config: '{' })).toThrow(
      /Toy: the "config" metadata is not JSON/,
    );
  });

  it('refuses two families claiming one model name', () => {
    const clash = { ...toy, name: 'toy2', packageName: '@dynavit/toy2' };
    expect(() => new Registry().use(toy).use(clash)).toThrow(/registered by both/);
  });
});
