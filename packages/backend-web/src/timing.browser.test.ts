/**
 * Forward time of the full-size DAT-T++ (`dat_pp_tiny`, random weights) at 224×224 on wasm in this
 * Chromium (single-threaded SIMD: the test page is not cross-origin isolated, so no wasm threads).
 * Printed and written to test-output/browser-timing.json; the WebGPU (SwiftShader) times of the
 * reduced golden cases are in browser-parity.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { commands } from '@vitest/browser/context';
import { expect, it } from 'vitest';
import type { Module, StateDict } from '@dynavit/core';
import { selectBackend } from './select-backend.js';
import { WASM_PATHS } from './cases.browser.js';
import { createModel } from './registry.js';

/** Deterministic stand-in weights: norms at 1/0, everything else N(0, 0.02)-ish. */
function randomWeights(model: Module): StateDict {
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  const sd = model.stateDict();
  for (const [key, t] of sd) {
    if (t.dtype !== 'F32') continue;
    const d = t.data as Float32Array;
    const isNorm = t.shape.length === 1 && /norm|\.ln|bn/i.test(key);
    for (let i = 0; i < d.length; i++) d[i] = isNorm ? (key.endsWith('weight') ? 1 : 0) : rand() * 0.07;
  }
  return sd;
}

it('DAT-T++ (dat_pp_tiny) 224×224 forward on wasm', async () => {
  const choice = await selectBackend({ prefer: 'wasm', wasmPaths: WASM_PATHS });
  expect(choice.backend).toBe('wasm');
  const before = tf.memory().numTensors;
  const model = createModel('dat_pp_tiny');
  if (model.kind !== 'classifier') throw new Error('dat_pp_tiny is a classifier');
  const params = model.parameterCount();
  expect(params).toBe(23_962_876);
  model.loadStateDict(randomWeights(model), { strict: true });
  const x = tf.randomNormal([1, 224, 224, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const y = model.forward(x);
    const logits = await y.data();
    times.push(performance.now() - t0);
    y.dispose();
    expect(logits.length).toBe(1000);
    expect(logits.every(Number.isFinite)).toBe(true);
  }
  x.dispose();
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
  const [first, ...rest] = times;
  const result = {
    model: 'dat_pp_tiny',
    input: [1, 224, 224, 3],
    backend: 'wasm',
    params,
    firstMs: first,
    nextMs: rest,
    userAgent: navigator.userAgent,
  };
  console.log(
    `DAT-T++ 224×224 on wasm: first ${first!.toFixed(0)} ms, then ${rest.map((t) => t.toFixed(0)).join(' / ')} ms`,
  );
  await commands.writeFile('test-output/browser-timing.json', JSON.stringify(result, null, 1));
});
