/**
 * The hostile-checkpoint corpus (src/io/__fixtures__/hostile, written by scripts/make-hostile-pickles.py):
 * one file per attack on torch.load — code execution through REDUCE, classes that touch files or spawn
 * processes, BUILD hijacks, pickled modules, huge integers and strings, deep nesting, stride-0 and
 * shared-storage expansion, a lying ZIP directory. Every file must be refused by both readers with a
 * typed DynavitError of the code in manifest.json, naming what it refused, quickly.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DynavitError } from '../errors.js';
import { loadPthStateDict, readPth } from './pth.js';

const dir = new URL('./__fixtures__/hostile/', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('manifest.json', dir), 'utf8')) as Record<
  string,
  { code: string; names: string[]; what: string }
>;

function refusal(fn: () => unknown): { error: unknown; ms: number } {
  const t0 = performance.now();
  try {
    fn();
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
  throw new Error('expected the checkpoint to be refused, but it loaded');
}

describe('hostile checkpoint corpus', () => {
  it('lists every file of the corpus in its manifest', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.pth'))
      .sort();
    expect(files).toEqual(Object.keys(manifest).sort());
    expect(files.length).toBeGreaterThanOrEqual(20);
  });

  it.each(Object.entries(manifest))('refuses %s', (name, { code, names }) => {
    const bytes = new Uint8Array(readFileSync(new URL(name, dir)));
    for (const [reader, load] of [
      ['readPth', () => readPth(bytes)],
      ['loadPthStateDict', () => loadPthStateDict(bytes)],
    ] as const) {
      const { error, ms } = refusal(load);
      expect(DynavitError.isInstance(error), `${reader}: ${String(error)}`).toBe(true);
      const e = error as DynavitError;
      expect(e.code, `${reader}: ${e.message}`).toBe(code);
      for (const n of names) expect(e.message, reader).toContain(n);
      expect(e.message, reader).not.toContain('\n');
      expect(ms, `${reader} took ${ms.toFixed(0)} ms`).toBeLessThan(2000);
    }
    expect(existsSync('dynavit-pwned.txt')).toBe(false);
    expect(existsSync('dynavit-pwned.zip')).toBe(false);
  });
});
