/**
 * `dynavit parity --weights CASE.weights.safetensors --io CASE.io.safetensors [--grad CASE.grad.safetensors]`:
 * build the model the weights' metadata names, load it strictly, compare every output; with `--grad`, also
 * the loss sum(logits · cotangent) and its gradient with respect to the input and every parameter
 * (max|g − ref| ≤ 1e-3 · max|ref| + 1e-6 per tensor); tables, then JSON on the last line.
 * Weights with non-finite values (NaN, ±Inf) are an error, not a pass; so are non-finite outputs.
 */
import { DynavitError, InvalidArgumentError } from '@dynavit/core';
import { type GradientParityReport, runGradientParity, runParityAsync } from '@dynavit/core/testing';
import { checkInputFile, readInputFile } from '../files.js';
import { ensureGradients } from '@dynavit/train';
import { describeNonFinite, maxMemory, nonFinite } from '../options.js';
import { gradientTable, parityJson, parityTable } from '../parity-report.js';
import { createRegistry } from '../registry.js';
import { PARITY_ADAPTERS } from '../testing/golden.js';
import { readSafetensorsBudgeted } from '../weights.js';
import { defineCommand, UsageError } from './command.js';

export const parityCommand = defineCommand({
  name: 'parity',
  usage:
    'parity --weights CASE.weights.safetensors --io CASE.io.safetensors [--grad CASE.grad.safetensors] [--max-memory MiB]\n' +
    "build the model named by the weights' metadata, load strictly, compare every output" +
    ' (--grad: and the gradients of sum(logits·cotangent) w.r.t. the input and every parameter)',
  options: {
    weights: { type: 'string' },
    io: { type: 'string' },
    grad: { type: 'string' },
    'max-memory': { type: 'string' },
  },
  backend: { default: 'auto' },
  async run({ values, out, useBackend }) {
    if (!values.weights || !values.io) throw new UsageError('parity needs --weights and --io');
    const budget = maxMemory(values['max-memory']);
    await checkInputFile(values.weights);
    await checkInputFile(values.io);
    if (values.grad !== undefined) await checkInputFile(values.grad);
    const { backend } = await useBackend();
    try {
      const weights = readSafetensorsBudgeted(await readInputFile(values.weights), values.weights, budget);
      const bad = nonFinite(weights.tensors);
      if (bad.length)
        throw new InvalidArgumentError(`${values.weights} has ${describeNonFinite(bad)}; parity needs finite weights`);
      const io = readSafetensorsBudgeted(await readInputFile(values.io), values.io, budget);
      const registry = createRegistry();
      let grad: GradientParityReport | undefined;
      if (values.grad !== undefined) {
        await ensureGradients();
        const g = readSafetensorsBudgeted(await readInputFile(values.grad), values.grad, budget);
        grad = await runGradientParity(registry, weights, io, g);
      }
      const report = await runParityAsync(registry, weights, io, { adapters: PARITY_ADAPTERS });
      out(`parity of ${values.weights} on ${backend} (${report.family}, ${report.millis.toFixed(0)} ms forward)`);
      out(parityTable(report));
      if (grad) {
        const passed = grad.outputs.filter((o) => o.ok).length;
        out(
          `\ngradients (${values.grad}): ${passed} of ${grad.outputs.length} within 1e-3·max|ref| + 1e-6` +
            ` (${grad.millis.toFixed(0)} ms forward + backward)`,
        );
        out(gradientTable(grad));
      }
      out(parityJson(report, grad));
      return report.ok && (grad?.ok ?? true) ? 0 : 1;
    } catch (e) {
      if (DynavitError.isInstance(e)) out(JSON.stringify({ ok: false, backend, error: e.message, outputs: [] }));
      throw e;
    }
  },
});
