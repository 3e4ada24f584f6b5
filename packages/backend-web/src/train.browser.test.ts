/**
 * Training in Chromium, on WebGPU (SwiftShader) and wasm:
 *  - the gradients of the three families' reduced golden cases equal the official autograd's
 *    (`CASE.grad.safetensors`: loss = sum(logits · cotangent) in eval mode), per tensor within
 *    1e-3·max|ref| + 1e-6, through the gradient functions a bundle registers (`ensureGradients`);
 *  - `train()` fine-tunes a classifier on images the page draws (canvases, ImageData, a PNG Blob) read
 *    by `webImageDataset`: a fresh 2-class head on dat_pp_reduced's trunk, the training loss falls on
 *    wasm, and WebGPU gives the same losses update for update; nothing leaks;
 *  - `IndexedDbCheckpointStore`: a run stopped after an epoch resumes from IndexedDB bit for bit, and a
 *    checkpoint whose write fails leaves the previous one whole.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Classifier, InvalidArgumentError, initializeWeights, readSafetensors } from '@dynavit/core';
import { runGradientParity } from '@dynavit/core/testing';
import { type Dataset, ensureGradients, evaluate, loadForFineTuning, train } from '@dynavit/train';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WebBackend } from './backends.js';
import { GRADIENT_CASES, WASM_PATHS } from './cases.browser.js';
import { IndexedDbCheckpointStore, listCheckpoints } from './checkpoint-store.js';
import { webImageDataset, type WebExample } from './dataset.js';
import { createModel, createRegistry } from './registry.js';
import { selectBackend } from './select-backend.js';

const BACKENDS = ['webgpu', 'wasm'] as const satisfies readonly WebBackend[];

async function fetchSafetensors(url: string, name: string) {
  const res = await fetch(url);
  expect(res.ok).toBe(true);
  return readSafetensors(new Uint8Array(await res.arrayBuffer()), name);
}

async function use(backend: WebBackend): Promise<void> {
  const choice = await selectBackend({ prefer: backend, wasmPaths: WASM_PATHS });
  expect(choice.backend).toBe(backend);
}

beforeAll(async () => {
  await ensureGradients();
});

describe('gradients in the browser = the official autograd', () => {
  const registry = createRegistry();
  for (const backend of BACKENDS)
    for (const c of GRADIENT_CASES)
      it(`${c.name} on ${backend}: the loss, grad.input and every parameter's gradient within 1e-3·max|ref| + 1e-6`, async () => {
        await use(backend);
        const [weights, io, grad] = await Promise.all([
          fetchSafetensors(c.weights, `${c.name}.weights`),
          fetchSafetensors(c.io, `${c.name}.io`),
          fetchSafetensors(c.grad, `${c.name}.grad`),
        ]);
        const before = tf.memory().numTensors;
        const report = await runGradientParity(registry, weights, io, grad);
        expect(tf.memory().numTensors).toBe(before);
        const params = [...weights.tensors.keys()].filter((k) => !/running_|num_batches/.test(k));
        expect(report.outputs.map((o) => o.name).sort()).toEqual(
          ['grad.input', 'loss', ...params.map((k) => `grad.${k}`)].sort(),
        );
        const bad = report.outputs.filter((o) => !o.ok).map((o) => `${o.name}: ${o.maxAbs} > ${o.limit}`);
        expect(bad).toEqual([]);
        // not trivially passing: the reference input gradient is non-zero and ours has its direction
        const input = report.outputs.find((o) => o.name === 'grad.input')!;
        expect(input.maxRef).toBeGreaterThan(0);
        expect(input.relL2).toBeLessThan(1e-2);
        const worst = Math.max(...report.outputs.map((o) => o.maxAbs / o.limit));
        console.log(
          `${c.name} gradients on ${backend}: ${report.outputs.length} tensors, worst max|g−ref|/limit ${worst.toExponential(2)}, ${report.millis.toFixed(0)} ms`,
        );
      });
});

/** A 64×64 canvas of stripes: class 0 vertical, class 1 horizontal, with a per-image phase and tint. */
function stripes(label: number, k: number): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = 64;
  c.height = 64;
  const g = c.getContext('2d')!;
  g.fillStyle = `rgb(${20 + 10 * k}, 30, 40)`;
  g.fillRect(0, 0, 64, 64);
  g.fillStyle = `rgb(230, ${200 + 5 * k}, 120)`;
  for (let p = (k * 3) % 8; p < 64; p += 8) {
    if (label === 0) g.fillRect(p, 0, 4, 64);
    else g.fillRect(0, p, 64, 4);
  }
  return c;
}

async function pageExamples(): Promise<WebExample[]> {
  const out: WebExample[] = [];
  for (let k = 0; k < 4; k++)
    for (const label of [0, 1]) {
      const canvas = stripes(label, k);
      // every kind of source a page has: a canvas, its ImageData, an encoded PNG Blob
      const image =
        k === 1
          ? canvas.getContext('2d')!.getImageData(0, 0, 64, 64)
          : k === 2
            ? await new Promise<Blob>((r) => canvas.toBlob((b) => r(b!), 'image/png'))
            : canvas;
      out.push({ image, label });
    }
  return out;
}

describe('train() on images the page supplies', () => {
  it('webImageDataset: decodes each source once, scales large images down, rejects bad examples with one typed line', async () => {
    const examples = await pageExamples();
    const ds = await webImageDataset(examples);
    expect(ds.length).toBe(8);
    expect(ds.numClasses).toBe(2);
    const first = await ds.get!(0);
    expect(first.label).toBe(0);
    // the canvas's own pixels: a stripe at x = 0…3, background at 4…7 (row 10)
    const px = (first.image as { data: Uint8Array }).data;
    expect([px[3 * (10 * 64 + 1)], px[3 * (10 * 64 + 5)]]).toEqual([230, 20]);
    const big = document.createElement('canvas');
    big.width = 1000;
    big.height = 400;
    const small = await webImageDataset([{ image: big, label: 0 }], { maxSide: 100 });
    const s = (await small.get!(0)).image as { width: number; height: number };
    expect([s.width, s.height]).toEqual([100, 40]);
    await expect(webImageDataset([])).rejects.toThrow(InvalidArgumentError);
    await expect(webImageDataset([{ image: big, label: 2 }], { numClasses: 2 })).rejects.toThrow(
      /example 0 has label 2, not a class index in \[0, 2\)/,
    );
    await expect(webImageDataset([{ image: big, label: 0.5 }])).rejects.toThrow(/label 0\.5/);
    await expect(
      webImageDataset([{ image: new Blob([new Uint8Array([1, 2, 3])], { type: 'image/png' }), label: 0 }]),
    ).rejects.toThrow(InvalidArgumentError);
  });

  /** the same run on each backend: same seed, data and order, so the same losses step by step */
  const run = async (backend: WebBackend, steps: number) => {
    await use(backend);
    const weights = await fetchSafetensors(GRADIENT_CASES[0]!.weights, 'dat_pp_reduced.weights');
    const dataset = await webImageDataset(await pageExamples());
    const before = tf.memory().numTensors;
    const model = createModel('dat_fmnist', { numClasses: 2 }) as Classifier;
    try {
      const loaded = loadForFineTuning(model, weights.tensors);
      expect(loaded.reinitialised.length).toBeGreaterThan(0); // the head: 2 classes, not the case's
      const initial = await evaluate(model, dataset, { batchSize: 8 });
      const result = await train(model, {
        dataset,
        epochs: steps, // one update per epoch: the 8 images are one batch
        batchSize: 8,
        lr: 2e-3,
        warmupEpochs: 0,
        labelSmoothing: 0,
        augment: false,
        seed: 3,
      });
      const losses = result.history.map((h) => h.trainLoss);
      console.log(`fine-tuning on ${backend}: loss per update ${losses.map((l) => l.toFixed(4)).join(' ')}`);
      expect(losses.every(Number.isFinite)).toBe(true);
      return { losses, initial, eval: await evaluate(model, dataset, { batchSize: 8 }) };
    } finally {
      model.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
  };
  let wasmLosses: number[] = [];

  it("on wasm: fine-tunes a fresh 2-class head on dat_pp_reduced's trunk; the loss falls and the two patterns are told apart", async () => {
    const r = await run('wasm', 20);
    wasmLosses = r.losses;
    expect(r.losses.at(-1)!).toBeLessThan(0.5 * r.losses[0]!);
    // in eval mode (BatchNorm on its running statistics, which lag 20 updates behind) the loss falls too
    console.log(`eval before ${JSON.stringify(r.initial)}, after ${JSON.stringify(r.eval)}`);
    expect(r.eval.loss).toBeLessThan(0.7 * r.initial.loss);
    expect(r.eval.top1).toBeGreaterThan(r.initial.top1);
  });

  it('on webgpu: the same updates give the same losses as on wasm (within 1e-3), so the gradients and AdamW agree', async () => {
    expect(wasmLosses.length).toBe(20);
    // SwiftShader runs an update of this model in ~1 min: two updates check the backward pass and AdamW
    const r = await run('webgpu', 2);
    for (const [i, l] of r.losses.entries()) expect(Math.abs(l - wasmLosses[i]!)).toBeLessThan(1e-3 * Math.max(1, l));
    expect(r.eval.count).toBe(8);
  });
});

describe('IndexedDbCheckpointStore: a run in a page resumes exactly, a failed write keeps the last checkpoint', () => {
  const opts = (dataset: Dataset, store?: IndexedDbCheckpointStore, signal?: AbortSignal) => ({
    dataset,
    epochs: 3,
    batchSize: 4,
    lr: 2e-3,
    warmupEpochs: 0,
    seed: 5,
    ema: 0.9,
    ...(store ? { store, resume: true } : {}),
    ...(signal ? { signal } : {}),
  });
  const fresh = () => {
    const m = createModel('dat_fmnist', { numClasses: 2 }) as Classifier;
    initializeWeights(m, 1);
    return m;
  };

  it('on wasm: stopped after epoch 1 and resumed from IndexedDB (a new store object, as after a reload) = uninterrupted, bit for bit', async () => {
    await use('wasm');
    const dataset = await webImageDataset(await pageExamples());
    const before = tf.memory().numTensors;
    const a = fresh();
    const whole = await train(a, opts(dataset));
    const wantWeights = a.stateDict();
    a.dispose();

    const run = `resume-test-${Date.now()}`;
    const stop = new AbortController();
    const store1 = await IndexedDbCheckpointStore.open(run);
    const b = fresh();
    const first = await train(b, {
      ...opts(dataset, store1, stop.signal),
      onEvent: (e) => {
        if (e.type === 'checkpoint') stop.abort(); // the first: written after epoch 0
      },
    });
    b.dispose();
    store1.close();
    expect(first.history).toHaveLength(1);
    expect(await listCheckpoints()).toContain(run);

    const store2 = await IndexedDbCheckpointStore.open(run);
    const c = fresh();
    try {
      const rest = await train(c, opts(dataset, store2));
      expect(rest.history).toEqual(whole.history);
      const got = c.stateDict();
      expect([...got.keys()]).toEqual([...wantWeights.keys()]);
      for (const [k, v] of wantWeights) expect(got.get(k)!.data, k).toEqual(v.data);
      for (const [k, v] of whole.ema!) expect(rest.ema!.get(k)!.data, k).toEqual(v.data);
    } finally {
      c.dispose();
      await store2.clear();
      store2.close();
    }
    expect(await listCheckpoints()).not.toContain(run);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a checkpoint write that fails (quota) is one typed error and leaves the previous checkpoint whole', async () => {
    const run = `quota-test-${Date.now()}`;
    const store = await IndexedDbCheckpointStore.open(run);
    try {
      await store.write('model.safetensors', new Uint8Array([1, 2, 3]));
      await store.write('state.json', new TextEncoder().encode('{"step":1}'));
      // the next checkpoint's tensors are staged; its commit fails as a full quota would
      await store.write('model.safetensors', new Uint8Array([9, 9, 9, 9]));
      const put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = () => {
        throw new DOMException('quota', 'QuotaExceededError');
      };
      try {
        await expect(store.write('state.json', new TextEncoder().encode('{"step":2}'))).rejects.toThrow(
          /storage quota is full; the previous checkpoint is intact/,
        );
      } finally {
        IDBObjectStore.prototype.put = put;
      }
      expect([...(await store.read('model.safetensors'))!]).toEqual([1, 2, 3]);
      expect(new TextDecoder().decode(await store.read('state.json'))).toBe('{"step":1}');
    } finally {
      await store.clear();
      store.close();
    }
  });
});
