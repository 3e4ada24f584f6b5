/**
 * `dynavit parity --weights CASE.weights.safetensors --io CASE.io.safetensors`: build the model the
 * weights' metadata names, load it strictly, compare every output; a table, then JSON on the last line.
 */
import { DynavitError } from '@dynavit/core';
import { readSafetensorsFile } from '@dynavit/core/node';
import { runParityAsync } from '@dynavit/core/testing';
import { parityJson, parityTable } from '../parity-report.js';
import { createRegistry } from '../registry.js';
import { PARITY_ADAPTERS } from '../testing/golden.js';
import { defineCommand, UsageError } from './command.js';

export const parityCommand = defineCommand({
  name: 'parity',
  usage:
    'parity --weights CASE.weights.safetensors --io CASE.io.safetensors\n' +
    "build the model named by the weights' metadata, load strictly, compare every output",
  options: { weights: { type: 'string' }, io: { type: 'string' } },
  backend: { default: 'auto' },
  async run({ values, out, useBackend }) {
    if (!values.weights || !values.io) throw new UsageError('parity needs --weights and --io');
    const { backend } = await useBackend();
    try {
      const weights = await readSafetensorsFile(values.weights);
      const io = await readSafetensorsFile(values.io);
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
