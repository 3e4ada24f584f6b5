import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { type Classifier, NumericError } from '@dynavit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointStore } from './checkpoint.js';
import { InMemoryDataset, type Sample } from './data.js';
import { ensureGradients } from './gradients.js';
import { type TrainEvent, type TrainOptions, loadForFineTuning, train } from './train.js';
import { type TinyFamily, tinyClassifier, tinyHybrid } from './test-utils/models.js';

// The overfit tests train on wasm (the default backend; ensureGradients registers core's backward kernels
// it lacks), ~8× faster than cpu here; the exact-resume test runs on cpu, as the issue asks.
beforeAll(async () => {
  await ensureGradients(); // Node: registers them through @tensorflow/tfjs (a devDependency)
});
const onBackend = async (name: 'wasm' | 'cpu') => {
  await tf.setBackend(name);
  await tf.ready();
};

/** n random RGB images (bytes, so the trainer owns their tensors) with labels 0 … classes−1. */
function randomData(n: number, side: number, classes: number, seed = 1): InMemoryDataset {
  let s = seed;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
  const samples: Sample[] = Array.from({ length: n }, (_, i) => ({
    image: { width: side, height: side, data: Uint8Array.from({ length: side * side * 3 }, next) },
    label: i % classes,
  }));
  return new InMemoryDataset(samples, classes);
}

const sd = (m: Classifier) => new Map([...m.stateDict()].map(([k, v]) => [k, Array.from(v.data as Float32Array)]));

async function overfit(model: Classifier, side: number, batch: number, epochs: number): Promise<number[]> {
  const losses: number[] = [];
  const before = tf.memory().numTensors;
  await train(model, {
    dataset: randomData(4, side, 4),
    epochs,
    batchSize: batch,
    lr: 2e-3,
    warmupEpochs: 0,
    minLr: 2e-3,
    labelSmoothing: 0,
    augment: false,
    onEvent: (e) => {
      if (e.type === 'step') losses.push(e.loss);
    },
  });
  expect(tf.memory().numTensors).toBe(before);
  return losses;
}

describe('train: a small fixed batch is overfitted (loss decreases)', () => {
  // [name, model, side, batch, epochs]: one update per epoch with batch 4, two with batch 2
  const cases: Array<[string, () => Classifier, number, number, number]> = [
    ['glnet_fmnist, 32×32', () => tinyClassifier('glmix' as TinyFamily, 4), 32, 4, 4],
    ['debi_fmnist, 32×32', () => tinyClassifier('dbra', 4), 32, 4, 8],
    ['dat_fmnist, 64×64', () => tinyClassifier('dat', 4), 64, 2, 4],
    ['hybrid: dat_fmnist with glmix.glmix in stage 2, 64×64', () => tinyHybrid({ 2: 'glmix.glmix' }, 4), 64, 2, 4],
  ];
  for (const [name, make, side, batch, epochs] of cases)
    it(`${name} (wasm)`, { timeout: 900_000 }, async () => {
      await onBackend('wasm');
      const m = make();
      const losses = await overfit(m, side, batch, epochs);
      m.dispose();
      const first = (losses[0]! + losses[1]!) / 2;
      const last = (losses.at(-1)! + losses.at(-2)!) / 2;
      console.log(name, losses.map((l) => l.toFixed(3)).join(' '));
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(last).toBeLessThan(0.7 * first);
    });
});

describe('train: checkpoints', () => {
  it(
    'resuming from a mid-epoch checkpoint gives bit-identical weights, EMA and history to an uninterrupted run (cpu; drop path 0.5, BatchNorm on batch statistics)',
    { timeout: 900_000 },
    async () => {
      await onBackend('cpu');
      const before = tf.memory().numTensors;
      const options = (store: MemoryCheckpointStore, extra: Partial<TrainOptions> = {}): TrainOptions => ({
        dataset: randomData(8, 32, 4, 3),
        evalDataset: randomData(4, 32, 4, 9),
        epochs: 2,
        batchSize: 2,
        accumulate: 2,
        lr: 1e-3,
        warmupEpochs: 1,
        scheduleOn: 'step',
        clipGrad: 1,
        ema: 0.9,
        store,
        checkpointEverySteps: 1,
        ...extra,
      });
      const a = tinyClassifier('glmix', 4, 0, 0.5);
      const ra = await train(a, options(new MemoryCheckpointStore()));
      expect(ra.step).toBe(4);

      const store = new MemoryCheckpointStore();
      const ctl = new AbortController();
      const b1 = tinyClassifier('glmix', 4, 0, 0.5);
      const events: TrainEvent[] = [];
      await train(
        b1,
        options(store, {
          signal: ctl.signal,
          onEvent: (e) => {
            events.push(e);
            if (e.type === 'checkpoint' && e.step === 3) ctl.abort(); // mid-epoch 1
          },
        }),
      );
      b1.dispose();
      expect(
        events.filter((e) => e.type === 'checkpoint').map((e) => e.type === 'checkpoint' && [e.epoch, e.batchInEpoch]),
      ).toEqual([
        [0, 2],
        [1, 0],
        [1, 2],
      ]);
      const b2 = tinyClassifier('glmix', 4, 99, 0.5); // other initial weights: all come from the checkpoint
      const resumed: TrainEvent[] = [];
      const rb = await train(b2, options(store, { resume: true, onEvent: (e) => void resumed.push(e) }));
      expect(resumed[0]).toMatchObject({ type: 'start', resumed: true, step: 3, epoch: 1 });
      expect(rb.step).toBe(4);
      expect(sd(b2)).toEqual(sd(a));
      expect(rb.history).toEqual(ra.history);
      expect(rb.ema).toEqual(ra.ema);
      // BatchNorm trained on batch statistics: its running statistics moved away from torch's init (0, 1)
      const rm = sd(a).get('norm.running_mean')!;
      expect(rm.some((v) => v !== 0)).toBe(true);
      expect(sd(a).get('norm.num_batches_tracked')).toEqual([8n]); // 2 epochs × 4 micro-batches
      // the drop paths acted: the same run without them ends elsewhere
      const c = tinyClassifier('glmix', 4, 0, 0);
      await train(c, options(new MemoryCheckpointStore()));
      expect(sd(c)).not.toEqual(sd(a));
      c.dispose();
      a.dispose();
      b2.dispose();
      expect(tf.memory().numTensors).toBe(before);
    },
  );

  it(
    'a non-finite loss stops with a NumericError and leaves the last good weights and BatchNorm statistics',
    { timeout: 600_000 },
    async () => {
      await onBackend('wasm');
      const m = tinyClassifier('glmix', 4);
      const ds = randomData(4, 32, 4);
      const bad = new InMemoryDataset(
        ds.samples.map((s, i) =>
          i === 3 ? { image: tf.fill([32, 32, 3], Number.NaN) as tf.Tensor3D, label: s.label } : s,
        ),
        4,
      );
      const start = sd(m);
      const err = await train(m, { dataset: bad, epochs: 1, batchSize: 4, augment: false }).catch((e) => e);
      expect(NumericError.isInstance(err) && err.code === 'NUMERIC').toBe(true);
      expect(String(err.message)).toMatch(/loss is NaN at epoch 0, update 1/);
      expect(sd(m)).toEqual(start);
      (bad.samples[3]!.image as tf.Tensor).dispose();
      m.dispose();
    },
  );
});

describe('fine-tuning', () => {
  it(
    're-initialises a head of a new size, loads the rest, freezes stage 0 and trains the head faster',
    { timeout: 600_000 },
    async () => {
      await onBackend('wasm');
      const src = tinyClassifier('glmix', 10, 5);
      const weights = src.stateDict();
      src.dispose();
      // a trained checkpoint's BatchNorm counts come along (torch's load_state_dict loads them too)
      weights.set('downsample_layers.0.2.num_batches_tracked', { dtype: 'I64', shape: [], data: BigInt64Array.of(7n) });
      const m = tinyClassifier('glmix', 3, 6);
      const r = loadForFineTuning(m, weights, { seed: 1 });
      expect(m.stateDict().get('downsample_layers.0.2.num_batches_tracked')?.data).toEqual(BigInt64Array.of(7n));
      expect(r.reinitialised.sort()).toEqual(['head.bias', 'head.weight']);
      expect(r.unexpected).toEqual([]);
      const head = m.stateDict().get('head.bias')!.data as Float32Array;
      expect(Array.from(head)).toEqual([0, 0, 0]);
      expect(m.stateDict().get('stages.1.blocks.0.norm1.weight')?.data).toEqual(
        weights.get('stages.1.blocks.0.norm1.weight')?.data,
      );
      const before = sd(m);
      await train(m, {
        dataset: randomData(2, 32, 3),
        epochs: 1,
        batchSize: 2,
        freezeStages: [0],
        backboneLrScale: 0.1,
        lr: 1e-3,
        augment: false,
      });
      const after = sd(m);
      for (const [k, v] of before) {
        const frozen = k.startsWith('stages.0.') || k.startsWith('downsample_layers.0.');
        if (frozen) expect(after.get(k), k).toEqual(v);
      }
      expect(after.get('head.weight')).not.toEqual(before.get('head.weight'));
      m.dispose();
    },
  );
});
