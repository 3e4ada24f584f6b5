#!/usr/bin/env node
/**
 * The `dynavit` command line (`@dynavit/backend-node/cli`, the `dynavit` bin): a table of commands,
 * each a module of `commands/`. Every failure a user can cause prints one line `dynavit: <message>`
 * and exits non-zero.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DynavitError, InvalidArgumentError } from '@dynavit/core';
import {
  backendPreference,
  checkThreads,
  isNodeBackend,
  NODE_BACKENDS,
  selectBackend,
  setVerbose,
  type ThreadsOption,
} from './backends.js';
import { ablateCommand } from './commands/ablate.js';
import { benchCommand } from './commands/bench.js';
import { type Command, type CommandContext, UsageError } from './commands/command.js';
import { convertCommand } from './commands/convert.js';
import { doctorCommand } from './commands/doctor.js';
import { evalCommand } from './commands/eval.js';
import { goldenCommand } from './commands/golden.js';
import { infoCommand } from './commands/info.js';
import { listCommand } from './commands/list.js';
import { parityCommand } from './commands/parity.js';
import { cacheCommand, pullCommand } from './commands/pull.js';
import { runCommand } from './commands/run.js';
import { trainCommand } from './commands/train.js';
import { verifyCommand } from './commands/verify.js';

export { createRegistry } from './registry.js';
export type { Command, CommandContext } from './commands/command.js';

/** Every command, in the order `dynavit --help` lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  trainCommand,
  evalCommand,
  ablateCommand,
  pullCommand,
  cacheCommand,
  convertCommand,
  benchCommand,
  infoCommand,
  listCommand,
  doctorCommand,
  parityCommand,
  verifyCommand,
  goldenCommand,
];

/** `--backend`, the one option of every command that computes (its default is the command's). */
const backendOption = (dflt: string) => ({ type: 'string', default: dflt }) as const;

function usageEntry(c: Command): string {
  const [synopsis = c.name, ...description] = c.usage.split('\n');
  const text = description.join(' ');
  // a short synopsis shares its line with the description; a long one gets the description below
  return synopsis.length <= 24 ? `  ${synopsis.padEnd(26)}${text}` : `  ${synopsis}\n         ${text}`;
}

export const USAGE = `usage: dynavit <command> [options]

commands:
${COMMANDS.map(usageEntry).join('\n')}

Every command that computes takes --backend auto|${NODE_BACKENDS.join('|')}
(default auto: the first available of those, passing over WebGPU on SwiftShader; wasm on machines
without a GPU or tfjs-node) and --threads N|auto (wasm on N threads: tfjs' multi-threaded SIMD build
on worker_threads; default auto, every core up to 8, or 1 where that build cannot start, which
dynavit doctor explains; with --workers each worker runs one). Every command takes --verbose (show what backend probing prints natively).
Inputs are bounded: --max-memory MiB raises the weight readers' memory budget (run, convert, parity,
golden), --max-megapixels N the pixel budget of images (run) and of one forward (info, bench).`;

const out = (s: string) => {
  process.stdout.write(`${s}\n`);
};
const warn = (s: string) => {
  process.stderr.write(`${s}\n`);
};

/**
 * Parse a command's arguments, `--backend` included when it computes, `--verbose` for all, and build
 * its context. Backend names are checked here, before a command reads or decodes anything.
 */
function context(command: Command, args: string[]): CommandContext {
  const options: NonNullable<ParseArgsConfig['options']> = command.backend
    ? {
        ...command.options,
        backend: backendOption(command.backend.default),
        threads: { type: 'string' },
        verbose: { type: 'boolean' },
      }
    : { ...command.options, verbose: { type: 'boolean' } };
  const allowPositionals = command.positionals ?? false;
  const { values, positionals } = parseArgs({ args, options, allowPositionals, strict: true });
  const { backend = 'auto', verbose = false, threads: threadsFlag, ...rest } = values;
  setVerbose(verbose === true);
  const flag = String(backend);
  const backends = command.backend ? (command.backend.each ? flag.split(',').map((b) => b.trim()) : [flag]) : [];
  for (const b of backends)
    if (b !== 'auto' && !isNodeBackend(b))
      throw new InvalidArgumentError(`unknown backend "${b}"; available in Node: ${NODE_BACKENDS.join(', ')}`);
  // default: every core (at most 8) for wasm; an explicit --threads N > 1 for another backend is a mistake
  const flagText = typeof threadsFlag === 'string' ? threadsFlag : undefined;
  const threads = checkThreads(flagText, 'auto');
  // a count asked for (`auto`, like the default, gives way to --workers and to other backends)
  const threadsGiven = flagText !== undefined && flagText !== 'auto';
  const threaded = (b: string) => b === 'wasm' || b === 'auto';
  if (threadsGiven && threads > 1 && !backends.some(threaded))
    throw new InvalidArgumentError(`--threads applies to the wasm backend, not to ${backends.join(', ')}`);
  // `auto` itself when not asked for a count, so that a backend other than wasm, chosen by auto-selection,
  // is not told about threads nobody asked for
  const threadsFor = (name: string | undefined): ThreadsOption =>
    name !== undefined && threaded(name) ? (threadsGiven ? threads : 'auto') : 1;
  return {
    values: rest,
    positionals,
    out,
    warn,
    backends,
    threads,
    threadsGiven,
    threadsFor,
    // the one place a command's backend is chosen and activated (--threads for wasm only)
    useBackend: (name = backends[0], only?: number) =>
      selectBackend({ prefer: backendPreference(name), threads: only ?? threadsFor(name) }),
  };
}

/** Run `dynavit ARGV…`; resolves to the exit code (usage mistakes 2, other failures 1). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
      out(USAGE);
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}"`);
    return await command.run(context(command, rest));
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`dynavit: ${(e as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    if (DynavitError.isInstance(e)) {
      process.stderr.write(`dynavit: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

const isMain =
  process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`dynavit: internal error: ${(e as Error).stack ?? String(e)}\n`);
      process.exitCode = 70;
    },
  );
}
