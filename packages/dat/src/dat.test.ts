import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { InputSizeError, readSafetensors, Registry, ShapeError, type TensorData, toFloat32 } from '@dynavit/core';
import {
  compareArrays,
  dropPathPlacement,
  dropPathRatesOf,
  leakedTensors,
  runParity,
  seededTrainingForward,
} from '@dynavit/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ATTENTION_CHUNK_ELEMENTS,
  type DAT,
  DAttentionBaseline,
  dat,
  datFromReference,
  NeighborhoodAttention2D,
  variants,
} from './index.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const readST = (p: string) => readSafetensors(new Uint8Array(readFileSync(fixtures + p)), p);
const weights = readST('golden/dat_pp_reduced.weights.safetensors');
const io = readST('golden/dat_pp_reduced.io.safetensors');
const debug = readST('debug/dat_pp_reduced.io.safetensors').tensors;

const tensor = (t: TensorData) => tf.tensor(toFloat32(t), t.shape);
const nhwc = (t: TensorData) => tf.tidy(() => tf.transpose(tensor(t), [0, 2, 3, 1])) as tf.Tensor4D;

/** Compare a tensor with a golden one: max|d| ≤ tol·max(1, max|ref|). Returns the max error. */
function expectClose(got: tf.Tensor, ref: TensorData, name: string, tol = 1e-4): number {
  expect(got.shape, name).toEqual(ref.shape);
  const r = compareArrays(name, ref.shape, got.dataSync(), toFloat32(ref), tol);
  expect(r.maxAbs, `${name}: max|out-ref| ${r.maxAbs} (max|ref| ${r.maxRef})`).toBeLessThanOrEqual(
    tol * Math.max(1, r.maxRef),
  );
  return r.maxAbs;
}

describe('DAT variants match the official state_dict manifests', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  const dir = `${fixtures}manifests/`;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const name = file.slice('manifest.'.length, -'.json'.length) as keyof typeof variants;
    it(`${name}: keys, PyTorch shapes, order and parameter count`, () => {
      const m = JSON.parse(readFileSync(dir + file, 'utf8')) as { params: number; state_dict: [string, number[]][] };
      const model = new Registry().use(dat).createModel(name);
      try {
        expect(model.stateDictShapes()).toEqual(m.state_dict);
        expect(model.parameterCount()).toBe(m.params);
        expect(variants[name].params).toBe(m.params);
      } finally {
        model.dispose();
      }
    });
  }
});

describe('dat_fmnist, the small model to train', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('is the golden case dat_pp_reduced: built by name, it loads those weights strictly and reproduces its outputs', () => {
    const start = tf.memory().numTensors;
    const report = runParity(new Registry([dat]), weights, io, { variant: { name: 'dat_fmnist' } });
    expect(report.outputs.map((o) => o.name)).toContain('logits');
    for (const o of report.outputs) expect(o.ok, `${o.name}: ${o.maxAbs}`).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('stochastic depth (training only), as the official TransformerStage', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('one drop path per block at linspace(0, rate, Σ depths); the variants carry the official rates', () => {
    const registry = new Registry([dat]);
    const small = registry.createModel('dat_fmnist', { dropPathRate: 0.35 });
    const want = Array.from({ length: 8 }, (_, i) => (0.35 * i) / 7);
    expect(dropPathRatesOf(small).map((r) => r.toFixed(9))).toEqual(want.map((r) => r.toFixed(9)));
    small.dispose();
    // configs/dat_{tiny,small,base}.yaml: 0.2, 0.4, 0.7; dat_base_384 0.6; dat_p 0.2
    expect(
      (['dat_pp_tiny', 'dat_pp_small', 'dat_pp_base', 'dat_pp_base_384', 'dat_plus_tiny'] as const).map(
        (n) => (variants[n].config as { drop_path_rate?: number }).drop_path_rate,
      ),
    ).toEqual([0.2, 0.4, 0.7, 0.6, 0.2]);
    expect(() => registry.createModel('dat_fmnist', { dropPathRate: 1 })).toThrow(/drop_path_rate must be in \[0, 1\)/);
  });

  it('wraps the attention and MLP branches (not the LPU): dropping them all is zeroing those branches', () => {
    const model = new Registry([dat]).createModel('dat_fmnist', { dropPathRate: 0.3 }) as DAT;
    model.loadStateDict(weights.tensors, { strict: false });
    const x = tf.tidy(() => tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 3)) as tf.Tensor4D;
    const start = tf.memory().numTensors;
    const branches = model.stages.items.flatMap((s) => [...s.attns.items, ...s.mlps.items]);
    const r = dropPathPlacement(model, x, branches);
    expect(r.maxDiff).toBeLessThan(1e-5);
    expect(r.changed).toBeGreaterThan(1e-2);
    // the check can fail: leaving the MLPs out of the branches is caught
    const wrong = dropPathPlacement(
      model,
      x,
      model.stages.items.flatMap((s) => s.attns.items),
    );
    expect(wrong.maxDiff).toBeGreaterThan(1e-3);
    // seeded masks: the same seed gives the same training forward, eval mode ignores drop paths
    const run = (seed: number) => seededTrainingForward(model, x, seed);
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose(x);
    model.dispose();
  });
});

describe.each(['cpu', 'wasm'])('DAT++ on %s', (backend) => {
  let model: DAT;
  beforeAll(async () => {
    await tf.setBackend(backend);
    model = datFromReference(weights.metadata);
    model.loadStateDict(weights.tensors);
  });
  afterAll(() => model.dispose());

  it('reproduces the official outputs (golden dat_pp_reduced) within 1e-4 relative', () => {
    const report = runParity(new Registry([dat]), weights, io);
    expect(report.backend).toBe(backend);
    expect(report.outputs.map((o) => o.name).sort()).toEqual(['logits', 'stage.0', 'stage.1', 'stage.2', 'stage.3']);
    for (const o of report.outputs) expect(o.ok, `${o.name}: ${o.maxAbs}`).toBe(true);
  });

  it('stem matches debug.stem', () => {
    const x = nhwc(io.tensors.get('input')!);
    const y = tf.tidy(() => tf.transpose(model.patch_proj.forward(x), [0, 3, 1, 2]));
    expectClose(y, debug.get('debug.stem')!, 'stem');
    tf.dispose([x, y]);
  });

  for (const s of [0, 1, 2, 3]) {
    it(`stage ${s}: every step of its recorded N/D blocks matches the debug tensors`, () => {
      const stage = model.stages.at(s);
      const B = 1;
      const recorded = [0, 1].filter((d) => debug.has(`debug.stage${s}.block${d}.attn_in`));
      expect(recorded.length).toBeGreaterThan(0);
      for (const d of recorded) {
        const key = (k: string) => debug.get(`debug.stage${s}.block${d}.${k}`)!;
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const attn = stage.attns.at(d);
          const attnIn = nhwc(key('attn_in'));
          if (attn instanceof NeighborhoodAttention2D) {
            const { out, logits } = attn.run(attnIn, true);
            expectClose(tf.transpose(out, [0, 3, 1, 2]), key('attn_out'), 'N attn_out');
            expectClose(logits!, key('nat_logits'), 'nat_logits');
          } else {
            if (!(attn instanceof DAttentionBaseline))
              throw new Error(`stage ${s} block ${d}: not DAT's own attention`);
            const { out, intermediates: im } = attn.run(attnIn, true);
            const [BG, Hk, Wk] = im!.pos.shape;
            const G = BG / B;
            expectClose(tf.transpose(im!.offsetRaw, [0, 3, 1, 2]), key('offset_raw'), 'offset_raw');
            expectClose(tf.reshape(im!.reference, [B, G, Hk, Wk, 2]), key('reference'), 'reference', 1e-6);
            expectClose(tf.reshape(im!.pos, [B, G, Hk, Wk, 2]), key('pos'), 'pos');
            expectClose(tf.transpose(im!.xSampled, [0, 3, 1, 2]), key('x_sampled'), 'x_sampled', 5e-4);
            expectClose(im!.rpeBias!, key('rpe_bias'), 'rpe_bias', 5e-4);
            expectClose(im!.attnProb, key('attn_prob'), 'attn_prob', 5e-4);
            expectClose(tf.transpose(out, [0, 3, 1, 2]), key('attn_out'), 'D attn_out', 5e-4);
          }
          const ln2 = nhwc(key('ln2_in'));
          const mlpOut = tf.tidy(() =>
            tf.transpose(stage.mlps.at(d).forward(stage.layer_norms.at(2 * d + 1).forward(ln2)), [0, 3, 1, 2]),
          );
          expectClose(mlpOut, key('mlp_out'), 'mlp_out');
        });
        expect(tf.memory().numTensors).toBe(before);
      }
      // the whole second block from the first block's output (stage 3 records only its first block)
      if (!debug.has(`debug.stage${s}.block1.out`)) return;
      const x0 = nhwc(debug.get(`debug.stage${s}.block0.out`)!);
      const y = tf.tidy(() => tf.transpose(stage.block(1, x0), [0, 3, 1, 2]));
      expectClose(y, debug.get(`debug.stage${s}.block1.out`)!, 'block1.out');
      tf.dispose([x0, y]);
    });
  }

  it('the deformable attention in chunks of query rows gives the golden logits and the unchunked ones', () => {
    const x = nhwc(io.tensors.get('input')!);
    const whole = model.forward(x);
    const attns = [...model.namedModules()].map(([, m]) => m).filter((m) => m instanceof DAttentionBaseline);
    expect(attns.length).toBeGreaterThan(0);
    // one query row per pass (the threshold is below one row's logits)
    for (const a of attns) a.maxChunkElements = 1;
    try {
      const before = tf.memory().numTensors;
      const chunked = model.forward(x);
      expect(tf.memory().numTensors).toBe(before + 1);
      expectClose(chunked, io.tensors.get('logits')!, 'logits (chunked)');
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(chunked, whole))).dataSync()[0]!)).toBeLessThan(1e-6);
      chunked.dispose();
    } finally {
      for (const a of attns) a.maxChunkElements = ATTENTION_CHUNK_ELEMENTS;
    }
    tf.dispose([x, whole]);
  });

  it('repeated forwards leak no tensor', () => {
    const x = tf.randomNormal([1, 64, 64, 3]) as tf.Tensor4D;
    expect(leakedTensors(() => tf.dispose([model.forward(x), ...model.forwardFeatures(x)]))).toBe(0);
    x.dispose();
  });
});

describe('DAT input checks and the Attention2d contract', () => {
  let model: DAT;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    model = datFromReference(weights.metadata);
    model.loadStateDict(weights.tensors);
  });
  afterAll(() => model.dispose());

  it('names wrong rank, channel count and too-small inputs', () => {
    const cases: [number[], RegExp, typeof ShapeError | typeof InputSizeError][] = [
      [[64, 64, 3], /rank 4 \[B,H,W,3\]/, ShapeError],
      [[1, 3, 64, 64], /3 channels \(RGB\) on the last axis/, ShapeError],
      [
        [1, 32, 64, 3],
        /input 32×64 is too small: the smallest side this model takes is 33 px.*stage 3/,
        InputSizeError,
      ],
    ];
    for (const [shape, msg, cls] of cases) {
      const x = tf.zeros<tf.Rank>(shape) as tf.Tensor4D; // deliberately wrong shapes
      expect(() => model.forward(x)).toThrow(cls);
      expect(() => model.forward(x)).toThrow(msg);
      x.dispose();
    }
    const ok = tf.zeros([1, 33, 64, 3]) as tf.Tensor4D;
    const y = model.forward(ok);
    expect(y.shape).toEqual([1, 10]);
    expect(Array.from(y.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([ok, y]);
  });

  it('DAttentionBaseline is a drop-in Attention2d: NHWC in, same shape out, checked input', () => {
    const attn = new DAttentionBaseline(32, { numHeads: 4, groups: 2, stride: 2, ksize: 3, qSize: [8, 8] });
    const x = tf.randomNormal([2, 9, 7, 32]) as tf.Tensor4D;
    const y = attn.forward(x);
    expect(y.shape).toEqual([2, 9, 7, 32]);
    expect(() => attn.forward(tf.zeros([1, 4, 4, 16]) as tf.Tensor4D)).toThrow(/32 channels on the last axis/);
    expect(() => attn.forward(tf.zeros([1, 1, 4, 32]) as tf.Tensor4D)).toThrow(InputSizeError);
    tf.dispose([x, y]);
    attn.dispose();
  });

  it('builds the classifier or the dense backbone the reference names', () => {
    const cls = datFromReference(weights.metadata);
    const dense = datFromReference({ ...weights.metadata, reference: 'LeapLabTHU/DAT-Segmentation@fdd2039' });
    expect([cls.kind, dense.kind]).toEqual(['classifier', 'backbone']);
    expect(dense.featureInfo.map((f) => f.module)).toEqual(['norms.0', 'norms.1', 'norms.2', 'norms.3']);
    cls.dispose();
    dense.dispose();
  });

  it('refuses official options no released model uses, by name', () => {
    const cfg = JSON.parse(weights.metadata['config']!) as Record<string, unknown>;
    expect(() =>
      datFromReference({
        ...weights.metadata,
        config: JSON.stringify({ ...cfg, no_offs: [true, false, false, false] }),
      }),
    ).toThrow(/no_offs=.*not supported/);
    expect(() =>
      datFromReference({
        ...weights.metadata,
        config: JSON.stringify({
          ...cfg,
          stage_spec: [
            ['L', 'D'],
            ['N', 'D'],
            ['N', 'D'],
            ['D', 'D'],
          ],
        }),
      }),
    ).toThrow(/block kind "L"/);
  });
});

describe('gradients through the deformable attention', () => {
  it('reach the offset network weights, finite and non-zero (cpu)', async () => {
    // tfjs-core's Node bundle registers no gradients; @tensorflow/tfjs registers them on the same engine.
    // cpu only: tfjs-backend-wasm lacks UnsortedSegmentSum, the gather gradient.
    await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const attn = new DAttentionBaseline(16, { numHeads: 2, groups: 2, stride: 2, ksize: 3, qSize: [6, 6] });
    const sd = new Map(
      attn.stateDictShapes().map(([k, s]) => {
        const n = s.reduce((a, b) => a * b, 1);
        return [
          k,
          {
            dtype: 'F32' as const,
            shape: s,
            data: Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(i * 1.7 + k.length)),
          },
        ];
      }),
    );
    attn.loadStateDict(sd);
    const x = tf.randomNormal([1, 6, 6, 16], 0, 1, 'float32', 7) as tf.Tensor4D;
    const offsetVars = [...attn.conv_offset.namedParameters()].map(([, p]) => p.variable);
    const { grads } = tf.variableGrads(() => tf.sum(tf.square(attn.forward(x))) as tf.Scalar, offsetVars);
    expect(Object.keys(grads)).toHaveLength(offsetVars.length);
    for (const g of Object.values(grads)) {
      const v = g.dataSync();
      expect(v.every(Number.isFinite)).toBe(true);
      expect(v.some((e) => e !== 0)).toBe(true);
    }
    tf.dispose([x, ...Object.values(grads)]);
    attn.dispose();
  });
});
