/**
 * Reading official constructor kwargs (the Python `**kwargs` of a model or head, as JSON): typed
 * getters with the constructor's defaults, and a typed error naming the key and what it held.
 * Unsupported values are a `NotImplementedError` naming the option, never a silent fallback.
 */
import { InvalidArgumentError, NotImplementedError } from './errors.js';

/** Official kwargs as in the configs and golden metadata. */
export type OfficialConfig = Readonly<Record<string, unknown>>;

export interface ConfigReader {
  /** a list (any element type; the caller's model validates the elements) */
  list<T>(key: string, fallback?: readonly T[]): T[];
  /** a list of numbers */
  numbers(key: string, fallback?: readonly number[]): number[];
  num(key: string, fallback?: number): number;
  bool(key: string, fallback?: boolean): boolean;
  /** a string among `allowed` (a `NotImplementedError` otherwise) */
  oneOf<T extends string>(key: string, fallback: T, allowed: readonly T[]): T;
  /** refuse a value the port does not implement (when the key is present and `ok` says no) */
  refuse(key: string, ok: (v: unknown) => boolean, why?: string): void;
}

/** A reader over `cfg`; `what` prefixes every error ("DAT config", "GLNet config", …). */
export function configReader(what: string, cfg: OfficialConfig): ConfigReader {
  const get = (key: string, fallback: unknown) => cfg[key] ?? fallback;
  const bad = (key: string, want: string, v: unknown) =>
    new InvalidArgumentError(`${what}: "${key}" must be ${want}, got ${JSON.stringify(v)}`);
  return {
    list<T>(key: string, fallback?: readonly T[]): T[] {
      const v = get(key, fallback);
      if (!Array.isArray(v)) throw bad(key, 'a list', v);
      return [...v] as T[];
    },
    numbers(key: string, fallback?: readonly number[]): number[] {
      const v = get(key, fallback);
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw bad(key, 'a list of numbers', v);
      return [...v] as number[];
    },
    num(key: string, fallback?: number): number {
      const v = get(key, fallback);
      if (typeof v !== 'number') throw bad(key, 'a number', v);
      return v;
    },
    bool(key: string, fallback?: boolean): boolean {
      const v = get(key, fallback);
      if (typeof v !== 'boolean') throw bad(key, 'true or false', v);
      return v;
    },
    oneOf<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
      const v = get(key, fallback);
      if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v))
        throw new NotImplementedError(
          `${what}: ${key}=${JSON.stringify(v)} is not supported (the official code accepts ${allowed.map((a) => `'${a}'`).join(', ')})`,
        );
      return v as T;
    },
    refuse(key: string, ok: (v: unknown) => boolean, why = 'no released model uses it'): void {
      if (cfg[key] !== undefined && !ok(cfg[key]))
        throw new NotImplementedError(`${what}: ${key}=${JSON.stringify(cfg[key])} is not supported (${why})`);
    },
  };
}
