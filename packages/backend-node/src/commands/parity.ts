/**
 * `dynavit parity --weights CASE.weights.safetensors --io CASE.io.safetensors`: build the model the
 * weights' metadata names, load it strictly, compare every output; a table, then JSON on the last line.
 * Weights with non-finite values (NaN, ±Inf) are an error, not a pass; so are non-finite outputs.
 */
import { DynavitError, InvalidArgumentError } from '@dynavit/core';
import { runParityAsync } from '@dynavit/core/testing';
import { checkInputFile, readInputFile } from '../files.js';
import { describeNonFinite, maxMemory, nonFinite } from '../options.js';
import { parityJson, parityTable } from '../parity-report.js';
import { createRegistry } from '../registry.js';
import { PARITY_ADAPTERS } from '../testing/golden.js';
import { readSafetensorsBudgeted } from '../weights.js';
import { defineCommand, UsageError } from './command.js';

export const parityCommand = defineCommand({
  name: 'parity',
  usage:
    'parity --weights CASE.weights.safetensors --io CASE.io.safetensors [--max-memory MiB]\n' +
    "build the model named by the weights' metadata, load strictly, compare every output",
  options: { weights: { type: 'string' }, io: { type: 'string' }, 'max-memory': { type: 'string' } },
  backend: { default: 'auto' },
  async run({ values, out, useBackend }) {
    if (!values.weights || !values.io) throw new UsageError('parity needs --weights and --io');
    const budget = maxMemory(values['max-memory']);
    await checkInputFile(values.weights);
    await checkInputFile(values.io);
    const { backend } = await useBackend();
    try {
      const weights = readSafetensorsBudgeted(await readInputFile(values.weights), values.weights, budget);
      const bad = nonFinite(weights.tensors);
      if (bad.length)
        throw new InvalidArgumentError(`${values.weights} has ${describeNonFinite(bad)}; parity needs finite weights`);
      const io = readSafetensorsBudgeted(await readInputFile(values.io), values.io, budget);
      const report = await runParityAsync(createRegistry(), weights, io, { adapters: PARITY_ADAPTERS });
      out(`parity of ${values.weights} on ${backend} (${report.family}, ${report.millis.toFixed(0)} ms forward)`);
      out(parityTable(report));
      out(parityJson(report));
      return report.ok ? 0 : 1;
    } catch (e) {
      if (DynavitError.isInstance(e)) out(JSON.stringify({ ok: false, backend, error: e.message, outputs: [] }));
      throw e;
    }
  },
});
