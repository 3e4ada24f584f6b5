import { describe, expect, it } from 'vitest';
import { configReader } from './config.js';
import { InvalidArgumentError, NotImplementedError } from './errors.js';

describe('configReader', () => {
  const r = configReader('Toy config', { dims: [1, 2], n: 3, flag: true, mode: 'a', bad: 'x', s: 'zz' });
  it('reads present keys and falls back to the constructor defaults', () => {
    expect(r.numbers('dims')).toEqual([1, 2]);
    expect(r.list<string>('missing', ['q'])).toEqual(['q']);
    expect(r.num('n')).toBe(3);
    expect(r.num('missing', 7)).toBe(7);
    expect(r.bool('flag')).toBe(true);
    expect(r.oneOf('mode', 'b', ['a', 'b'] as const)).toBe('a');
  });
  it('names the key and what it held', () => {
    expect(() => r.num('bad')).toThrow(new InvalidArgumentError('Toy config: "bad" must be a number, got "x"'));
    expect(() => r.numbers('n')).toThrow(/"n" must be a list of numbers, got 3/);
    expect(() => r.bool('missing')).toThrow(/"missing" must be true or false, got undefined/);
    expect(() => r.oneOf('s', 'a', ['a', 'b'] as const)).toThrow(NotImplementedError);
    expect(() => r.oneOf('s', 'a', ['a', 'b'] as const)).toThrow(
      /s="zz" is not supported \(the official code accepts 'a', 'b'\)/,
    );
    expect(() => r.refuse('flag', (v) => v === false)).toThrow(
      /flag=true is not supported \(no released model uses it\)/,
    );
    expect(() => r.refuse('missing', () => false)).not.toThrow();
  });
});
