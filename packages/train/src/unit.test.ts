import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { augmentImage, randomResizedCropBox } from './augment.js';
import { loadCheckpoint, MemoryCheckpointStore, saveCheckpoint, type TrainingState } from './checkpoint.js';
import { idxDataset, parseIdx } from './data.js';
import { labelSmoothingCrossEntropy, topkCorrect } from './loss.js';
import { AdamW, clipGradNorm, isNoWeightDecay } from './optimizer.js';
import { Rng } from './rng.js';
import { cosineLr } from './schedule.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('AdamW', () => {
  it('matches PyTorch AdamW computed by hand (3 steps, decoupled decay, lr scale; a no-decay tensor)', () => {
    const before = tf.memory().numTensors;
    const w = tf.tidy(() => tf.variable(tf.tensor1d([0.5, -1.0])));
    const b = tf.tidy(() => tf.variable(tf.tensor1d([0.5, -1.0])));
    const opt = new AdamW([
      { name: 'w', variable: w, weightDecay: 0.1, lrScale: 1 },
      { name: 'b', variable: b, weightDecay: 0, lrScale: 0.5 },
    ]);
    const gs = [
      [0.1, -0.2],
      [0.3, 0.05],
      [-0.1, 0.4],
    ];
    for (const g of gs) {
      const gt = tf.tensor1d(g);
      opt.apply(
        new Map([
          ['w', gt],
          ['b', gt],
        ]),
        0.01,
      );
      gt.dispose();
    }
    // float64 reference (see the formula in optimizer.ts): lr 0.01, wd 0.1, betas (0.9, 0.999), eps 1e-8
    const wRef = [0.4745159393007922, -0.9863512486011738];
    const wv = w.dataSync();
    for (let i = 0; i < 2; i++) expect(Math.abs(wv[i]! - wRef[i]!)).toBeLessThan(2e-7);
    // no decay and half the rate: Adam's update is scale-free in g, so each step moves by ≈ lr/2·sign
    const bRef = (() => {
      const p = [0.5, -1.0];
      const m = [0, 0];
      const v = [0, 0];
      gs.forEach((g, s) => {
        for (let i = 0; i < 2; i++) {
          m[i] = m[i]! + 0.1 * (g[i]! - m[i]!);
          v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
          p[i] =
            p[i]! -
            (0.005 / (1 - 0.9 ** (s + 1))) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** (s + 1)) + 1e-8));
        }
      });
      return p;
    })();
    const bv = b.dataSync();
    for (let i = 0; i < 2; i++) expect(Math.abs(bv[i]! - bRef[i]!)).toBeLessThan(2e-7);
    expect(opt.step).toBe(3);
    // moments round-trip through a state dict
    const sd = opt.stateDict();
    expect([...sd.keys()]).toEqual(['exp_avg.w', 'exp_avg.b', 'exp_avg_sq.w', 'exp_avg_sq.b']);
    opt.dispose();
    tf.dispose([w, b]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("saves the moments in PyTorch's layout and reads them back, and reads older checkpoints' device layout", () => {
    const before = tf.memory().numTensors;
    // a linear weight (torch [3, 2], [2, 3] on the device) and a 1×1 conv (torch [2, 2, 1, 1], HWIO [1, 1, 2, 2])
    const lin = tf.tidy(() => tf.variable(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3])));
    const conv = tf.tidy(() => tf.variable(tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2])));
    const params = (l: tf.Variable, c: tf.Variable) => [
      { name: 'fc.weight', variable: l, weightDecay: 0, lrScale: 1, layout: 'linear' as const, torchShape: [3, 2] },
      {
        name: 'conv.weight',
        variable: c,
        weightDecay: 0,
        lrScale: 1,
        layout: 'conv2d' as const,
        torchShape: [2, 2, 1, 1],
      },
    ];
    const opt = new AdamW(params(lin, conv));
    const grads = new Map<string, tf.Tensor>([
      ['fc.weight', tf.tensor2d([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [2, 3])],
      ['conv.weight', tf.tensor4d([0.1, 0.2, 0.3, 0.4], [1, 1, 2, 2])],
    ]);
    opt.apply(grads, 0.01);
    const sd = opt.stateDict();
    // m = (1 − β1)·g after one step (in float32); PyTorch's [out, in] is the device [in, out] transposed
    const f = Math.fround;
    const m1 = (g: number) => f(f(g) * f(1 - 0.9));
    const m = sd.get('exp_avg.fc.weight')!;
    expect(m.shape).toEqual([3, 2]);
    expect(Array.from(m.data as Float32Array)).toEqual([0.1, 0.4, 0.2, 0.5, 0.3, 0.6].map(m1));
    const mc = sd.get('exp_avg.conv.weight')!;
    expect(mc.shape).toEqual([2, 2, 1, 1]);
    expect(Array.from(mc.data as Float32Array)).toEqual([0.1, 0.3, 0.2, 0.4].map(m1));
    // read back: the same device moments, so the next update is the same
    const lin2 = tf.tidy(() => tf.variable(tf.clone(lin)));
    const conv2 = tf.tidy(() => tf.variable(tf.clone(conv)));
    const again = new AdamW(params(lin2, conv2));
    again.loadStateDict(sd, opt.step);
    // an older checkpoint: conv moments in the device layout, linear ones as [out, in]
    const lin3 = tf.tidy(() => tf.variable(tf.clone(lin)));
    const conv3 = tf.tidy(() => tf.variable(tf.clone(conv)));
    const legacy = new AdamW(params(lin3, conv3));
    const device = new Map(sd);
    for (const k of ['exp_avg.conv.weight', 'exp_avg_sq.conv.weight']) {
      const e = sd.get(k)!;
      const t = tf.tidy(() => tf.transpose(tf.tensor(e.data as Float32Array, e.shape), [2, 3, 1, 0]));
      device.set(k, { dtype: 'F32', shape: t.shape, data: new Float32Array(t.dataSync()) });
      t.dispose();
    }
    legacy.loadStateDict(device, opt.step, 'device-v1');
    const wrong = new AdamW(params(lin3, conv3));
    expect(() => wrong.loadStateDict(device, 1)).toThrow(
      /exp_avg.conv.weight has shape \[1,1,2,2\] \(F32\), the parameter \[2,2,1,1\]/,
    );
    for (const o of [opt, again, legacy]) o.apply(grads, 0.01);
    expect(lin2.dataSync()).toEqual(lin.dataSync());
    expect(conv2.dataSync()).toEqual(conv.dataSync());
    expect(lin3.dataSync()).toEqual(lin.dataSync());
    expect(conv3.dataSync()).toEqual(conv.dataSync());
    for (const o of [opt, again, legacy, wrong]) o.dispose();
    tf.dispose([lin, conv, lin2, conv2, lin3, conv3, ...grads.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps norms, biases and the official position tables out of weight decay', () => {
    expect(isNoWeightDecay('stages.0.norm1.weight', [64])).toBe(true);
    expect(isNoWeightDecay('head.bias', [10])).toBe(true);
    expect(isNoWeightDecay('stages.1.attns.1.rpe_table', [4, 27, 27])).toBe(true);
    expect(isNoWeightDecay('layers.0.blocks.0.attn.relative_position_bias_table', [169, 4])).toBe(true);
    expect(isNoWeightDecay('pos_embed', [1, 196, 64])).toBe(true);
    expect(isNoWeightDecay('stages.0.0.pos_embed1.weight', [16, 1, 3, 3])).toBe(false); // BiFormer: exact names only
    expect(isNoWeightDecay('head.weight', [10, 128])).toBe(false);
    expect(isNoWeightDecay('stages.2.attns.0.rpb', [4, 13, 13])).toBe(false); // DAT decays the NA bias table
  });

  it('clips the global gradient norm as clip_grad_norm_', async () => {
    const g = new Map<string, tf.Tensor>([
      ['a', tf.tensor1d([3, 4])],
      ['b', tf.tensor1d([12])],
    ]);
    const { grads, norm } = await clipGradNorm(g, 6.5);
    expect(norm).toBeCloseTo(13, 5);
    const c = 6.5 / (13 + 1e-6);
    expect(Array.from(grads.get('a')!.dataSync())).toEqual([3, 4].map((v) => Math.fround(v * Math.fround(c))));
    tf.dispose([...grads.values()]);
  });
});

describe('cosine schedule (timm CosineLRScheduler)', () => {
  it('warms up linearly, then follows the half cosine to lr_min, then stays there', () => {
    const s = { lr: 1e-3, minLr: 1e-5, warmupLr: 1e-6, tInitial: 10, warmupT: 2 };
    // values of timm's formulas, computed independently in float64
    const want: Array<[number, number]> = [
      [0, 1e-6],
      [1, 0.0005005000000000001],
      [2, 0.000905463412215599],
      [5, 0.000505],
      [9, 3.4227024433899005e-5],
      [10, 1e-5],
      [12, 1e-5],
    ];
    for (const [t, v] of want) expect(cosineLr(t, s)).toBeCloseTo(v, 15);
  });
});

describe('label-smoothing cross-entropy', () => {
  it('matches the hand-computed value and plain cross-entropy at s = 0', async () => {
    const logits = tf.tensor2d([
      [1, 2, 3],
      [0.5, -1, 2],
    ]);
    const labels = tf.tensor1d([2, 0], 'int32');
    const l = labelSmoothingCrossEntropy(logits, labels, 0.1);
    expect(l.dataSync()[0]).toBeCloseTo(1.124458630550769, 6);
    const ce = labelSmoothingCrossEntropy(logits, labels, 0);
    const lse = (v: number[]) => Math.log(v.reduce((a, x) => a + Math.exp(x), 0));
    expect(ce.dataSync()[0]).toBeCloseTo((lse([1, 2, 3]) - 3 + lse([0.5, -1, 2]) - 0.5) / 2, 6);
    expect(await topkCorrect(logits as tf.Tensor2D, [2, 0], [1, 2, 5])).toEqual([1, 2, 2]);
    tf.dispose([logits, labels, l, ce]);
  });
});

describe('augmentation', () => {
  it('draws torchvision RandomResizedCrop boxes inside the image, the same for the same generator state', () => {
    const r = new Rng(7);
    for (let k = 0; k < 200; k++) {
      const state = r.state;
      const box = randomResizedCropBox(40, 30, r);
      expect(box.top >= 0 && box.left >= 0 && box.top + box.height <= 40 && box.left + box.width <= 30).toBe(true);
      expect(box.width * box.height).toBeGreaterThanOrEqual(Math.floor(0.08 * 1200 * 0.5));
      expect(randomResizedCropBox(40, 30, new Rng(state))).toEqual(box);
    }
    // no draw fits (scale > 1 of a very wide image): the central crop clamped to the ratio range
    expect(randomResizedCropBox(10, 100, new Rng(1), [1, 1], [1, 1])).toEqual({
      top: 0,
      left: 45,
      height: 10,
      width: 10,
    });
  });

  it('crops, resizes and flips to the target size without leaking tensors', () => {
    const img = tf.tensor3d(
      Float32Array.from({ length: 20 * 16 * 3 }, (_, i) => i / 960),
      [20, 16, 3],
    );
    const before = tf.memory().numTensors;
    const out = augmentImage(img, [8, 8], new Rng(3));
    expect(out.shape).toEqual([8, 8, 3]);
    const full = augmentImage(img, [20, 16], new Rng(3), { scale: [1, 1], ratio: [0.8, 0.8], hflip: 1 });
    const flipped = tf.reverse(img, 1);
    expect(full.dataSync()).toEqual(flipped.dataSync());
    tf.dispose([out, full, flipped]);
    expect(tf.memory().numTensors).toBe(before);
    img.dispose();
  });
});

function idx(dims: number[], data: number[]): Uint8Array {
  const b = new Uint8Array(4 + 4 * dims.length + data.length);
  b.set([0, 0, 8, dims.length]);
  const v = new DataView(b.buffer);
  for (const [i, d] of dims.entries()) v.setUint32(4 + 4 * i, d, false);
  b.set(data, 4 + 4 * dims.length);
  return b;
}

describe('IDX (MNIST format)', () => {
  it('parses images and labels, grey → RGB, resized on access', async () => {
    const images = idx([2, 2, 2], [0, 255, 128, 64, 10, 20, 30, 40]);
    const labels = idx([2], [3, 9]);
    expect(parseIdx(labels)).toEqual({ dims: [2], data: Uint8Array.of(3, 9) });
    const ds = idxDataset(images, labels);
    expect(ds.length).toBe(2);
    expect(ds.numClasses).toBe(10);
    const s = await ds.get!(0);
    expect(s.label).toBe(3);
    expect(s.image).toEqual({
      width: 2,
      height: 2,
      data: Uint8Array.of(0, 0, 0, 255, 255, 255, 128, 128, 128, 64, 64, 64),
    });
    const big = await idxDataset(images, labels, { size: 4 }).get!(1);
    expect('width' in big.image && big.image.width === 4 && big.image.data.length === 48).toBe(true);
    const all = [];
    for await (const x of ds) all.push(x.label);
    expect(all).toEqual([3, 9]);
    expect(() => parseIdx(Uint8Array.of(0x1f, 0x8b, 8, 0))).toThrow(/gzipped/);
    expect(() => parseIdx(idx([5], [1, 2]))).toThrow(/truncated/);
  });
});

describe('checkpoint store', () => {
  it('writes the state last and reads back what it wrote', async () => {
    const store = new MemoryCheckpointStore();
    expect(await loadCheckpoint(store)).toBeUndefined();
    const state: TrainingState = {
      format: 'dynavit-train',
      version: 1,
      epoch: 1,
      batchInEpoch: 0,
      step: 5,
      rng: 123,
      seed: 42,
      epochLossSum: 0,
      epochSamples: 0,
      lr: 1e-3,
      history: [],
      ema: false,
    };
    const writes: string[] = [];
    const spy = {
      write: async (n: string, b: Uint8Array) => {
        writes.push(n);
        await store.write(n, b);
      },
      read: (n: string) => store.read(n),
    };
    const t = { dtype: 'F32' as const, shape: [2], data: Float32Array.of(1, 2) };
    await saveCheckpoint(spy, { state, model: new Map([['w', t]]), optimizer: new Map([['exp_avg.w', t]]) });
    expect(writes).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json']);
    const back = await loadCheckpoint(store);
    expect(back?.state).toEqual(state);
    expect(back?.model.get('w')?.data).toEqual(Float32Array.of(1, 2));
  });
});
