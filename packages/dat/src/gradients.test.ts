// `@tensorflow/tfjs-core`'s Node (CJS) bundle registers no gradient functions; importing the full
// `@tensorflow/tfjs` (a devDependency) registers them on the same global engine. Must come first.
import '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { readSafetensors, Registry } from '@dynavit/core';
import { runGradientParity } from '@dynavit/core/testing';
import { describe, expect, it } from 'vitest';
import { dat } from './index.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/golden/', import.meta.url));
const readST = (p: string) => readSafetensors(new Uint8Array(readFileSync(fixtures + p)), p);

describe('gradients of dat_pp_reduced = the official autograd (eval mode, loss = sum(logits · cotangent))', () => {
  const weights = readST('dat_pp_reduced.weights.safetensors');
  const io = readST('dat_pp_reduced.io.safetensors');
  const grad = readST('dat_pp_reduced.grad.safetensors');
  const params = [...weights.tensors.keys()].filter((k) => !/running_|num_batches/.test(k));

  for (const backend of ['wasm', 'cpu'] as const)
    it(`on ${backend}: the loss, grad.input and every parameter's gradient within 1e-3·max|ref| + 1e-6`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      await tf.ready();
      const before = tf.memory().numTensors;
      const report = await runGradientParity(new Registry([dat]), weights, io, grad);
      expect(tf.memory().numTensors).toBe(before);
      const names = report.outputs.map((o) => o.name);
      // every parameter of the checkpoint, the input and the loss, each once
      expect(new Set(names).size).toBe(names.length);
      expect(names.sort()).toEqual(['grad.input', 'loss', ...params.map((k) => `grad.${k}`)].sort());
      const bad = report.outputs.filter((o) => !o.ok).map((o) => `${o.name}: ${o.maxAbs} > ${o.limit}`);
      expect(bad).toEqual([]);
      expect(report.ok).toBe(true);
      // not trivially passing: the reference gradients are non-zero and ours carry the same scale
      const input = report.outputs.find((o) => o.name === 'grad.input')!;
      expect(input.maxRef).toBeGreaterThan(0);
      expect(input.relL2).toBeLessThan(1e-3);
      const worst = Math.max(...report.outputs.map((o) => o.maxAbs / o.limit));
      console.log(
        `dat_pp_reduced gradients on ${backend}: worst max|g−ref|/limit ${worst.toExponential(2)}, ${report.millis.toFixed(0)} ms`,
      );
    });
});
