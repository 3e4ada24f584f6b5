/**
 * What a `dynavit` command is: a name, its usage, its `node:util` `parseArgs` options and `run`. The
 * CLI (`cli.ts`) holds the table of commands, builds the usage text from it, parses each command's
 * arguments, and handles `--backend` once for every command that computes.
 */
import type { ParseArgsConfig, parseArgs } from 'node:util';
import type { BackendChoice, ThreadsOption } from '../backends.js';

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;

/** `parseArgs`' values for these options (typed per option, with defaults applied). */
export type CommandValues<O extends CommandOptions> = ReturnType<
  typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>
>['values'];

export interface CommandContext<O extends CommandOptions = CommandOptions> {
  values: CommandValues<O>;
  positionals: string[];
  /** a line on stdout */
  out(line: string): void;
  /** a line on stderr */
  warn(line: string): void;
  /** the backends `--backend` names, in order (one, or a comma-separated list with `backend.each`) */
  readonly backends: readonly string[];
  /** `--threads`: the threads wasm computes on (default `auto`: every core, at most 8; checked against the cores here) */
  readonly threads: number;
  /** whether `--threads N` asked for a count (it conflicts with `--workers`; `auto` and the default do not) */
  readonly threadsGiven: boolean;
  /**
   * the threads a backend named by `--backend` computes on: for wasm and auto the count asked for, or
   * `auto` when none was; 1 for the others
   */
  threadsFor(name: string | undefined): ThreadsOption;
  /**
   * Activate a backend: `name` (default: the first `--backend` names; `auto` auto-selects), on
   * `threadsFor(name)` threads unless `threads` says otherwise (1 in a command that runs workers).
   */
  useBackend(name?: string, threads?: number): Promise<BackendChoice>;
}

export interface Command<O extends CommandOptions = CommandOptions> {
  readonly name: string;
  /** The synopsis (`name args…`) on the first line, then what it does. */
  readonly usage: string;
  readonly options: O;
  /** takes positional arguments */
  readonly positionals?: boolean;
  /**
   * It computes: it takes `--backend NAME` (default `default`), or with `each` a comma-separated list
   * of backends it runs on in turn. The CLI defines the option; the command activates it with `useBackend`.
   */
  readonly backend?: { readonly default: string; readonly each?: boolean };
  run(ctx: CommandContext<O>): Promise<number> | number;
}

/** A command with its option types inferred (`values.size` is `string | undefined`, …). */
export function defineCommand<const O extends CommandOptions>(command: Command<O>): Command<O> {
  return command;
}

/** A mistake in how a command was called: the CLI prints the message and the usage, and exits 2. */
export class UsageError extends Error {}
