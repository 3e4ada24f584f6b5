import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { toy } from '../registry.test.js';
import { Registry } from '../registry.js';
import { useBackend } from '../test-utils/backends.js';
import { Toy } from '../test-utils/toy.js';
import { leakedTensors, type ParityAdapter, runParity, runParityAsync } from './parity.js';

describe('runParity', () => {
  beforeAll(() => useBackend('cpu'));

  /** A golden pair made by the toy itself: `logits` (perturbed by `perturb`), `stage.1`, a debug tensor. */
  function goldenPair(perturb: number) {
    const r = new Registry([toy]);
    const model = new Toy(4, 2);
    const sd = new Map(
      model.stateDictShapes().map(([k, s]) => {
        const n = s.reduce((a, b) => a * b, 1);
        return [
          k,
          { dtype: 'F32' as const, shape: s, data: Float32Array.from({ length: n }, (_, i) => Math.cos(i + k.length)) },
        ];
      }),
    );
    model.loadStateDict(sd);
    const input = Float32Array.from({ length: 1 * 3 * 16 * 12 }, (_, i) => Math.sin(i));
    const [logits, stage1] = tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(input, [1, 3, 16, 12]), [0, 2, 3, 1]) as tf.Tensor4D;
      return [model.forward(x).dataSync(), tf.transpose(model.forwardFeatures(x)[1]!, [0, 3, 1, 2]).dataSync()];
    });
    model.dispose();
    logits![1]! += perturb;
    const weights = readSafetensors(
      writeSafetensors(sd, { reference: 'example/toy@deadbeef', config: JSON.stringify({ width: 4, classes: 2 }) }),
    );
    const io = readSafetensors(
      writeSafetensors(
        new Map([
          ['input', { dtype: 'F32', shape: [1, 3, 16, 12], data: input }],
          ['logits', { dtype: 'F32', shape: [1, 2], data: new Float32Array(logits!) }],
          ['stage.1', { dtype: 'F32', shape: [1, 4, 2, 2], data: new Float32Array(stage1!) }],
          ['debug.ignored', { dtype: 'F32', shape: [1], data: new Float32Array(1) }],
        ] as const),
      ),
    );
    return { r, weights, io };
  }

  it('passes a matching case through the generic adapter, compares only non-debug outputs, and leaks nothing', async () => {
    const { r, weights, io } = goldenPair(0);
    const before = tf.memory().numTensors;
    const rep = runParity(r, weights, io);
    expect(tf.memory().numTensors).toBe(before);
    expect(rep.ok).toBe(true);
    expect(rep.family).toBe('toy');
    expect(rep.outputs.map((o) => o.name)).toEqual(['logits', 'stage.1']);
    expect(Math.max(...rep.outputs.map((o) => o.maxAbs))).toBeLessThan(1e-6);
    expect(rep.tolerance).toBe(1e-4);
    const viaAsync = await runParityAsync(r, weights, io);
    expect(viaAsync.outputs.map((o) => o.maxAbs)).toEqual(rep.outputs.map((o) => o.maxAbs));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fails an output off by more than the tolerance', () => {
    const { r, weights, io } = goldenPair(1e-2);
    const rep = runParity(r, weights, io);
    expect(rep.ok).toBe(false);
    expect(rep.outputs[0]!.maxAbs).toBeCloseTo(1e-2, 4);
  });

  it('tries the given adapters first, and a golden output no adapter produces fails', () => {
    const { r, weights, io } = goldenPair(0);
    const onlyLogits: ParityAdapter = (model) =>
      model.kind === 'classifier'
        ? {
            model,
            run: (inputs) => ({
              logits: tf.tidy(() => model.forward(tf.transpose(inputs['input']! as tf.Tensor4D, [0, 2, 3, 1]))),
            }),
          }
        : undefined;
    const rep = runParity(r, weights, io, { adapters: [onlyLogits] });
    expect(rep.ok).toBe(false);
    expect(rep.outputs.find((o) => o.name === 'stage.1')).toMatchObject({
      ok: false,
      maxAbs: Number.POSITIVE_INFINITY,
    });
    expect(rep.outputs.find((o) => o.name === 'logits')!.ok).toBe(true);
  });

  it("runParityAsync takes the adapter's runAsync where it has one, runParity its run; a rejected runAsync leaks nothing", async () => {
    const { r, weights, io } = goldenPair(0);
    const calls: string[] = [];
    const outputs = (model: Parameters<ParityAdapter>[0], input: tf.Tensor) =>
      tf.tidy(() => {
        if (model.kind !== 'classifier') throw new Error('not a classifier');
        const x = tf.transpose(input as tf.Tensor4D, [0, 2, 3, 1]) as tf.Tensor4D;
        const feats = model.forwardFeatures(x);
        return { logits: model.forwardHead(feats), 'stage.1': tf.transpose(feats[1]!, [0, 3, 1, 2]) };
      });
    const both =
      (fail: boolean): ParityAdapter =>
      (model) => ({
        model,
        run: (inputs) => {
          calls.push('run');
          return outputs(model, inputs['input']!);
        },
        runAsync: async (inputs) => {
          calls.push('runAsync');
          const outs = outputs(model, inputs['input']!);
          await tf.nextFrame();
          if (fail) {
            tf.dispose(Object.values(outs));
            throw new Error('device lost');
          }
          return outs;
        },
      });
    const before = tf.memory().numTensors;
    const viaAsync = await runParityAsync(r, weights, io, { adapters: [both(false)] });
    const viaSync = runParity(r, weights, io, { adapters: [both(false)] });
    expect(calls).toEqual(['runAsync', 'run']);
    expect(viaAsync.ok && viaSync.ok).toBe(true);
    expect(viaAsync.outputs.map((o) => o.maxAbs)).toEqual(viaSync.outputs.map((o) => o.maxAbs));
    expect(tf.memory().numTensors).toBe(before);
    await expect(runParityAsync(r, weights, io, { adapters: [both(true)] })).rejects.toThrow('device lost');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a reference no registered family reads is a typed error, not a skip', () => {
    const { weights, io } = goldenPair(0);
    expect(() => runParity(new Registry(), weights, io)).toThrow(
      /no registered family reads configs from example\/toy@deadbeef/,
    );
  });
});

describe('leakedTensors', () => {
  beforeAll(() => useBackend('cpu'));
  it('counts what a function leaves allocated per run, after a warm-up run', () => {
    const kept: tf.Tensor[] = [];
    expect(leakedTensors(() => tf.tidy(() => tf.add(tf.ones([2]), 1)).dispose())).toBe(0);
    expect(leakedTensors(() => kept.push(tf.tidy(() => tf.add(tf.ones([2]), 1))), 3)).toBe(3);
    tf.dispose(kept);
  });
});
