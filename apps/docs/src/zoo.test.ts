import { describe, expect, it } from 'vitest';
import { renderModelZoo } from './zoo.js';

describe('renderModelZoo', () => {
  it('renders one sorted row per model with parameters in millions', () => {
    const md = renderModelZoo([
      { name: 'b', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 53_127_366, implemented: true },
      { name: 'a', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 23_962_876, implemented: false },
    ]);
    const lines = md.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toBe('| `a` | dat | classifier | 23.96 M | not yet |');
    expect(lines[3]).toBe('| `b` | dat | classifier | 53.13 M | yes |');
  });
});
