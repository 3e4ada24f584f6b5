import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Classifier, FeatureInfo } from './contracts.js';
import { DynavitError, NotImplementedError, UnknownModelError } from './errors.js';
import { readSafetensors, writeSafetensors } from './io/safetensors.js';
import { Conv2d, Linear } from './nn/layers.js';
import { Module } from './nn/module.js';
import { runParity } from './parity.js';
import { declaredFamily, type ModelFamily, Registry } from './registry.js';
import { useBackend } from './testing/backends.js';

/** A toy classifier: 1×1 conv stem, global mean, linear head. Enough to exercise the contracts. */
class Toy extends Module implements Classifier {
  readonly stem: Conv2d;
  readonly head: Linear;
  readonly featureInfo: readonly FeatureInfo[];
  constructor(
    readonly width: number,
    readonly numClasses: number,
  ) {
    super();
    this.stem = this.child('stem', new Conv2d(3, width, 1));
    this.head = this.child('head', new Linear(width, numClasses));
    this.featureInfo = [{ channels: width, reduction: 1, module: 'stem' }];
  }
  forwardFeatures(x: tf.Tensor4D): tf.Tensor4D[] {
    return [this.stem.forward(x)];
  }
  forward(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.head.forward(tf.mean(this.stem.forward(x), [1, 2])) as tf.Tensor2D);
  }
}

const toy: ModelFamily<{ width: number }, 'toy_small'> = {
  name: 'toy',
  packageName: '@dynavit/toy',
  references: ['example/toy'],
  implemented: true,
  variants: { toy_small: { kind: 'classifier', params: 4 * 3 + 4 + 2 * 4 + 2, source: 'test', config: { width: 4 } } },
  create: (_name, o) => new Toy(4, o?.numClasses ?? 2),
  fromReference: (md) => {
    const cfg = JSON.parse(md['config']!) as { width: number; classes: number };
    const model = new Toy(cfg.width, cfg.classes);
    return { model, run: (io) => tf.tidy(() => ({ logits: model.forward(tf.transpose(io['input'] as tf.Tensor4D, [0, 2, 3, 1])) })) };
  },
};

describe('Registry', () => {
  beforeAll(() => useBackend('cpu'));

  it('creates registered models by name and lists them', () => {
    const r = new Registry().use(toy);
    const m = r.createModel('toy_small', { numClasses: 3 });
    expect(m.parameterCount()).toBe(4 * 3 + 4 + 3 * 4 + 3);
    expect(r.listModels()).toEqual([{ name: 'toy_small', family: 'toy', packageName: '@dynavit/toy', kind: 'classifier', params: 26, implemented: true }]);
    m.dispose();
  });

  it('an unknown name fails listing the known names', () => {
    const r = new Registry().use(toy);
    expect(() => r.createModel('toy_big')).toThrow(UnknownModelError);
    expect(() => r.createModel('toy_big')).toThrow(/known models: toy_small/);
  });

  it('a declared family lists its models but says it is not implemented', () => {
    const planned = declaredFamily({ name: 'later', packageName: '@dynavit/later', references: ['example/later'], variants: { later_t: { kind: 'classifier', params: 1, source: 's', config: {} } } });
    const r = new Registry().use(toy).use(planned);
    expect(r.listModels().map((m) => [m.name, m.implemented])).toEqual([
      ['toy_small', true],
      ['later_t', false],
    ]);
    expect(() => r.createModel('later_t')).toThrow(NotImplementedError);
    expect(() => r.createModel('later_t')).toThrow(/@dynavit\/later.*not implemented yet/);
    expect(r.familyForReference('example/later@123abc')).toBe(planned);
  });

  it('refuses two families claiming one model name', () => {
    const clash = { ...toy, name: 'toy2', packageName: '@dynavit/toy2' };
    expect(() => new Registry().use(toy).use(clash)).toThrow(/registered by both/);
  });
});

describe('runParity', () => {
  beforeAll(() => useBackend('cpu'));

  function goldenPair(perturb: number) {
    const r = new Registry().use(toy);
    const model = new Toy(4, 2);
    const sd = new Map(
      model.stateDictShapes().map(([k, s]) => {
        const n = s.reduce((a, b) => a * b, 1);
        return [k, { dtype: 'F32' as const, shape: s, data: Float32Array.from({ length: n }, (_, i) => Math.cos(i + k.length)) }];
      }),
    );
    model.loadStateDict(sd);
    const input = Float32Array.from({ length: 1 * 3 * 5 * 6 }, (_, i) => Math.sin(i));
    const logits = tf.tidy(() => model.forward(tf.transpose(tf.tensor4d(input, [1, 3, 5, 6]), [0, 2, 3, 1])).dataSync());
    model.dispose();
    logits[1]! += perturb;
    const weights = readSafetensors(writeSafetensors(sd, { reference: 'example/toy@deadbeef', config: JSON.stringify({ width: 4, classes: 2 }) }));
    const io = readSafetensors(
      writeSafetensors(
        new Map([
          ['input', { dtype: 'F32', shape: [1, 3, 5, 6], data: input }],
          ['logits', { dtype: 'F32', shape: [1, 2], data: new Float32Array(logits) }],
          ['debug.ignored', { dtype: 'F32', shape: [1], data: new Float32Array(1) }],
        ] as const),
      ),
    );
    return { r, weights, io };
  }

  it('passes a matching case, compares only non-debug outputs, and leaks nothing', () => {
    const { r, weights, io } = goldenPair(0);
    const before = tf.memory().numTensors;
    const rep = runParity(r, weights, io);
    expect(tf.memory().numTensors).toBe(before);
    expect(rep.ok).toBe(true);
    expect(rep.outputs.map((o) => o.name)).toEqual(['logits']);
    expect(rep.outputs[0]!.maxAbs).toBeLessThan(1e-6);
    expect(rep.tolerance).toBe(1e-4);
  });

  it('fails an output off by more than the tolerance', () => {
    const { r, weights, io } = goldenPair(1e-2);
    const rep = runParity(r, weights, io);
    expect(rep.ok).toBe(false);
    expect(rep.outputs[0]!.maxAbs).toBeCloseTo(1e-2, 4);
  });

  it('says clearly when the family is not implemented', () => {
    const { weights, io } = goldenPair(0);
    const planned = declaredFamily({ name: 'toy', packageName: '@dynavit/toy', references: ['example/toy'], variants: {} });
    try {
      runParity(new Registry().use(planned), weights, io);
      expect.unreachable();
    } catch (e) {
      expect(DynavitError.isInstance(e) && e.code).toBe('NOT_IMPLEMENTED');
      expect((e as Error).message).toMatch(/toy family \(@dynavit\/toy\) is not implemented yet/);
    }
  });
});
