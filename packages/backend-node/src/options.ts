/**
 * Option values every command checks before it reads, decodes or computes anything: positive integers,
 * `--max-memory MiB` (the readers' `maxBytes`), pixel budgets (`--max-megapixels`), `--size` bounds.
 */
import { InvalidArgumentError, InputSizeError, type StateDict, toFloat32 } from '@dynavit/core';

/** Decoded images: the default pixel budget per image, in megapixels (MP = 10^6 pixels). */
export const IMAGE_MAX_MEGAPIXELS = 64;
/** One forward of `info`/`bench`: the default budget for batch × size² in megapixels (2000² = 4 MP). */
export const FORWARD_MAX_MEGAPIXELS = 4;

export const MP = 1e6;

/** `--NAME` as a positive integer (default `dflt`), at most `max`. */
export function positiveInt(name: string, v: string | undefined, dflt: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = v === undefined ? dflt : Number(v);
  if ((v !== undefined && v.trim() === '') || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`--${name} must be a positive integer, got "${v}"`);
  if (n > max) throw new InvalidArgumentError(`--${name} must be at most ${max}, got "${v}"`);
  return n;
}

/** `--max-memory MiB` → the readers' `maxBytes` (undefined: their default budget). */
export function maxMemory(v: string | undefined): { maxBytes?: number } {
  if (v === undefined) return {};
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 2 ** 40)
    throw new InvalidArgumentError(`--max-memory must be a positive number of MiB, got "${v}"`);
  return { maxBytes: Math.floor(n * 2 ** 20) };
}

/** `--max-megapixels N` → a pixel count (default `dflt` MP). */
export function maxPixels(v: string | undefined, dflt: number): number {
  const n = v === undefined ? dflt : Number(v);
  if ((v !== undefined && v.trim() === '') || !Number.isFinite(n) || n <= 0 || n > 2 ** 20)
    throw new InvalidArgumentError(`--max-megapixels must be a positive number, got "${v}"`);
  return Math.floor(n * MP);
}

/** A pixel count in megapixels, 3 significant digits: "256 MP", "0.0502 MP". */
export const mp = (px: number) => `${Number((px / MP).toPrecision(3))} MP`;

/**
 * `--size N` for one forward of `batch` images: a positive integer whose batch × N² fits `pixels`
 * (checked before any backend or model exists).
 */
export function checkSize(size: number, batch: number, pixels: number): void {
  if (batch * size * size > pixels)
    throw new InputSizeError(
      `--size ${size} is too large: ${batch} × ${size}×${size} = ${mp(batch * size * size)} is over the ` +
        `${mp(pixels)} limit of one forward (${Math.floor(Math.sqrt(pixels / batch))}×${Math.floor(Math.sqrt(pixels / batch))}` +
        `${batch > 1 ? ` at batch ${batch}` : ''}); raise it with --max-megapixels N`,
    );
}

/** `--size N` against the smallest input the built model takes. */
export function checkMinSize(name: string, size: number, minInputSize: number): void {
  if (size < minInputSize)
    throw new InputSizeError(`--size ${size} is too small: the smallest side ${name} takes is ${minInputSize} px`);
}

const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16']);

/** Non-finite values (NaN, ±Inf) per float tensor of a state dict; empty when all are finite. */
export function nonFinite(sd: StateDict): { key: string; count: number }[] {
  const found: { key: string; count: number }[] = [];
  for (const [key, t] of sd) {
    if (!FLOAT_DTYPES.has(t.dtype)) continue;
    const v = toFloat32(t);
    let count = 0;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) count++;
    if (count) found.push({ key, count });
  }
  return found;
}

/** "5 non-finite values (NaN or ±Inf) in 2 tensors: a (3), b (2)". */
export function describeNonFinite(found: readonly { key: string; count: number }[]): string {
  const total = found.reduce((a, f) => a + f.count, 0);
  const list = found.slice(0, 6).map((f) => `${f.key} (${f.count})`);
  if (found.length > 6) list.push(`… (+${found.length - 6} more)`);
  return `${total} non-finite value${total === 1 ? '' : 's'} (NaN or ±Inf) in ${found.length} tensor${found.length === 1 ? '' : 's'}: ${list.join(', ')}`;
}
