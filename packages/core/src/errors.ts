/**
 * Typed errors. Every failure a user can cause (bad input shape, bad checkpoint, corrupt file, unknown
 * model) has its own class with a stable `code`, so callers can branch on it. `isInstance` uses a
 * `Symbol.for` marker rather than `instanceof`, so it survives duplicate installs of this package.
 */
const MARKER = Symbol.for('dynavit.error');

const CONTROL = /[\p{Cc}\u2028\u2029]/gu;

/**
 * Text from an input (a pickle string, a JSON parser's excerpt, a decoder's warning) made safe for a
 * one-line error message: control characters (newlines included) escaped as `\uXXXX`, at most `max`
 * characters kept.
 */
export function printable(s: string, max = 200): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  return cut.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export type DynavitErrorCode =
  | 'SHAPE'
  | 'INPUT_SIZE'
  | 'STATE_DICT'
  | 'SAFETENSORS'
  | 'CHECKPOINT'
  | 'UNSAFE_PICKLE'
  | 'UNKNOWN_MODEL'
  | 'NOT_IMPLEMENTED'
  | 'INVALID_ARGUMENT'
  | 'BUDGET'
  | 'IO'
  | 'NUMERIC'
  | 'DOWNLOAD'
  | 'WORKER';

export class DynavitError extends Error {
  readonly [MARKER] = true;
  readonly code: DynavitErrorCode;
  constructor(code: DynavitErrorCode, message: string) {
    super(message);
    this.code = code;
    this.name = 'DynavitError';
  }
  static isInstance(e: unknown): e is DynavitError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[MARKER] === true;
  }
}

/** A tensor argument has the wrong rank, channel count or shape. */
export class ShapeError extends DynavitError {
  readonly op: string;
  readonly argument: string;
  constructor(op: string, argument: string, expected: string, got: string) {
    super('SHAPE', `${op}: ${argument} must be ${expected}, got ${got}`);
    this.name = 'ShapeError';
    this.op = op;
    this.argument = argument;
  }
}

/** The input is well-formed but the architecture cannot take its spatial size. */
export class InputSizeError extends DynavitError {
  constructor(message: string) {
    super('INPUT_SIZE', message);
    this.name = 'InputSizeError';
  }
}

/** An argument value is out of its domain (not a tensor shape problem). */
export class InvalidArgumentError extends DynavitError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
    this.name = 'InvalidArgumentError';
  }
}

export interface MisshapenKey {
  key: string;
  expected: readonly number[];
  got: readonly number[];
}

/** Loading a state dict failed: lists every missing, unexpected and misshapen key at once. */
export class StateDictError extends DynavitError {
  readonly missing: readonly string[];
  readonly unexpected: readonly string[];
  readonly misshapen: readonly MisshapenKey[];
  constructor(
    missing: readonly string[],
    unexpected: readonly string[],
    misshapen: readonly MisshapenKey[],
    context = '',
  ) {
    const parts: string[] = [];
    const list = (xs: readonly string[]) =>
      xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, … (+${xs.length - 12} more)` : xs.join(', ');
    if (missing.length) parts.push(`${missing.length} missing key(s): ${list(missing)}`);
    if (unexpected.length) parts.push(`${unexpected.length} unexpected key(s): ${list(unexpected)}`);
    if (misshapen.length)
      parts.push(
        `${misshapen.length} misshapen key(s): ${list(misshapen.map((m) => `${m.key} (expected [${m.expected.join(',')}], got [${m.got.join(',')}])`))}`,
      );
    super('STATE_DICT', `state dict does not match${context ? ` ${context}` : ''}: ${parts.join('; ')}`);
    this.name = 'StateDictError';
    this.missing = missing;
    this.unexpected = unexpected;
    this.misshapen = misshapen;
  }
}

/** A safetensors buffer is truncated, has a bad header, or an unsupported dtype. */
export class SafetensorsError extends DynavitError {
  constructor(message: string) {
    super('SAFETENSORS', message);
    this.name = 'SafetensorsError';
  }
}

/**
 * Reading an input would materialise more than its memory budget allows (tensors, pixels, pickle
 * values); nothing was allocated beyond the budget. The message names what and the sizes, and how to
 * raise the budget.
 */
export class BudgetError extends DynavitError {
  constructor(message: string) {
    super('BUDGET', message);
    this.name = 'BudgetError';
  }
}

/** A file or folder could not be read or written (missing, a directory, no permission, disk full). */
export class FileError extends DynavitError {
  constructor(message: string) {
    super('IO', message);
    this.name = 'FileError';
  }
}

/** A model produced non-finite values (NaN, ±Inf), usually from broken weights. */
export class NumericError extends DynavitError {
  constructor(message: string) {
    super('NUMERIC', message);
    this.name = 'NumericError';
  }
}

/**
 * Weights could not be downloaded or verified (HTTP error, cut connection, sha256 mismatch, offline with
 * nothing cached); the message says what to do.
 */
export class DownloadError extends DynavitError {
  constructor(message: string) {
    super('DOWNLOAD', message);
    this.name = 'DownloadError';
  }
}

/** A PyTorch checkpoint is corrupt or not understood. */
export class CheckpointError extends DynavitError {
  constructor(message: string) {
    super('CHECKPOINT', message);
    this.name = 'CheckpointError';
  }
}

/** A pickle asked to call something the restricted unpickler refuses. Nothing was executed. */
export class UnsafePickleError extends DynavitError {
  readonly callable: string;
  constructor(callable: string, detail = '') {
    super(
      'UNSAFE_PICKLE',
      `refusing to unpickle: the checkpoint asks to call ${callable}${detail ? ` (${detail})` : ''}; only tensors and plain containers are rebuilt, nothing a pickle names is ever called`,
    );
    this.name = 'UnsafePickleError';
    this.callable = callable;
  }
}

export class UnknownModelError extends DynavitError {
  constructor(name: string, known: readonly string[], hint = '') {
    super(
      'UNKNOWN_MODEL',
      `unknown model "${name}"${hint ? ` (${hint})` : ''}; known models: ${known.length ? known.join(', ') : '(none registered)'}`,
    );
    this.name = 'UnknownModelError';
  }
}

/** A family or feature is not built yet. */
export class NotImplementedError extends DynavitError {
  constructor(message: string) {
    super('NOT_IMPLEMENTED', message);
    this.name = 'NotImplementedError';
  }
}
