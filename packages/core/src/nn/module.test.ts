import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { StateDictError } from '../errors.js';
import type { StateDict } from '../io/tensor-data.js';
import { fromFloat32 } from '../io/tensor-data.js';
import { useBackend } from '../test-utils/backends.js';
import { BatchNorm2d, Conv2d, LayerNorm, Linear } from './layers.js';
import { Module, ModuleList } from './module.js';

/** A toy network registering children the way official code does (own params, then children). */
class Block extends Module {
  readonly scale = this.param('scale', []);
  readonly table = this.param('rpe_table', [2, 3, 3]);
  readonly conv = this.child('conv', new Conv2d(4, 6, 3, { padding: 1 }));
  readonly dw = this.child('dw', new Conv2d(6, 6, 3, { padding: 1, groups: 6 }));
  readonly norm = this.child('norm', new BatchNorm2d(6));
  readonly proj = this.child('proj', new Linear(6, 5));
}
class Net extends Module {
  readonly blocks = this.child('blocks', new ModuleList([new Block(), new Block()]));
  readonly head = this.child('head', new LayerNorm(5));
}

function randomStateDict(m: Module, seed = 1): StateDict {
  let s = seed;
  const sd: StateDict = new Map();
  for (const [k, shape] of m.stateDictShapes()) {
    if (k.endsWith('num_batches_tracked')) {
      sd.set(k, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(s++)) });
      continue;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(k, { dtype: 'F32', shape, data: Float32Array.from({ length: n }, () => Math.sin(s++ * 12.9898) * 3) });
  }
  return sd;
}

describe('Module', () => {
  beforeAll(() => useBackend('cpu'));

  it('names parameters and buffers exactly like a torch state_dict, in torch order', () => {
    const net = new Net();
    const keys = net.stateDictShapes().map(([k]) => k);
    expect(keys.slice(0, 14)).toEqual([
      'blocks.0.scale',
      'blocks.0.rpe_table',
      'blocks.0.conv.weight',
      'blocks.0.conv.bias',
      'blocks.0.dw.weight',
      'blocks.0.dw.bias',
      'blocks.0.norm.weight',
      'blocks.0.norm.bias',
      'blocks.0.norm.running_mean',
      'blocks.0.norm.running_var',
      'blocks.0.norm.num_batches_tracked',
      'blocks.0.proj.weight',
      'blocks.0.proj.bias',
      'blocks.1.scale',
    ]);
    expect(keys.at(-1)).toBe('head.bias');
    expect(net.stateDictShapes().find(([k]) => k === 'blocks.0.dw.weight')?.[1]).toEqual([6, 1, 3, 3]);
    // parameters only (buffers excluded), as sum(p.numel() for p in parameters())
    const perBlock = 1 + 18 + (6 * 4 * 9 + 6) + (6 * 9 + 6) + 12 + (5 * 6 + 5);
    expect(net.parameterCount()).toBe(2 * perBlock + 10);
    net.dispose();
  });

  it('round-trips a PyTorch-layout state dict bit-exactly (conv OIHW, depthwise, linear, 0-d)', () => {
    const net = new Net();
    const sd = randomStateDict(net);
    net.loadStateDict(sd);
    const back = net.stateDict();
    expect([...back.keys()]).toEqual([...sd.keys()]);
    for (const [k, v] of sd) {
      expect(back.get(k)!.shape, k).toEqual(v.shape);
      expect(back.get(k)!.data, k).toEqual(v.data);
    }
    net.dispose();
  });

  it('converts conv weights OIHW → HWIO so element [o,i,h,w] lands at [h,w,i,o]', () => {
    const conv = new Conv2d(2, 3, [2, 2], { bias: false });
    const data = Float32Array.from({ length: 24 }, (_, i) => i);
    conv.loadStateDict({ weight: { dtype: 'F32', shape: [3, 2, 2, 2], data } });
    const w = conv.weight.value.arraySync() as number[][][][];
    // torch index [o=2, i=1, h=0, w=1] = ((2*2+1)*2+0)*2+1 = 21
    expect(w[0]![1]![1]![2]).toBe(21);
    conv.dispose();
  });

  it('upcasts float16 / bfloat16 weights on load', () => {
    const lin = new Linear(2, 1, { bias: false });
    lin.loadStateDict({ weight: fromFloat32(Float32Array.of(0.5, -2.25), [1, 2], 'F16') });
    expect(Array.from(lin.weight.value.dataSync())).toEqual([0.5, -2.25]);
    lin.loadStateDict({ weight: fromFloat32(Float32Array.of(1.5, 3), [1, 2], 'BF16') });
    expect(Array.from(lin.weight.value.dataSync())).toEqual([1.5, 3]);
    lin.dispose();
  });

  it('strict loading lists every missing, unexpected and misshapen key in one error and assigns nothing', () => {
    const net = new Net();
    const sd = randomStateDict(net);
    sd.delete('blocks.1.proj.bias');
    sd.delete('head.weight');
    sd.set('blocks.0.extra', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    sd.set('blocks.0.conv.weight', { dtype: 'F32', shape: [6, 4, 1, 1], data: new Float32Array(24) });
    sd.delete('blocks.0.norm.num_batches_tracked'); // never required
    let err: StateDictError | undefined;
    try {
      net.loadStateDict(sd, { source: 'test.pth' });
    } catch (e) {
      err = e as StateDictError;
    }
    expect(err).toBeInstanceOf(StateDictError);
    expect(err!.missing).toEqual(['blocks.1.proj.bias', 'head.weight']);
    expect(err!.unexpected).toEqual(['blocks.0.extra']);
    expect(err!.misshapen).toEqual([{ key: 'blocks.0.conv.weight', expected: [6, 4, 3, 3], got: [6, 4, 1, 1] }]);
    expect(err!.message).toMatch(
      /2 missing key\(s\): blocks\.1\.proj\.bias, head\.weight; 1 unexpected key\(s\): blocks\.0\.extra; 1 misshapen key\(s\): blocks\.0\.conv\.weight \(expected \[6,4,3,3\], got \[6,4,1,1\]\)/,
    );
    expect(err!.message).toContain('test.pth');
    // nothing assigned
    expect(tf.sum(net.blocks.at(0).proj.weight.value).dataSync()[0]).toBe(0);
    // non-strict loads what matches and reports the rest
    const r = net.loadStateDict(sd, { strict: false });
    expect(r.missing).toHaveLength(2);
    expect(tf.sum(tf.abs(net.blocks.at(0).proj.weight.value)).dataSync()[0]).toBeGreaterThan(0);
    net.dispose();
  });

  it('dispose frees every variable', () => {
    const before = tf.memory().numTensors;
    const net = new Net();
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
