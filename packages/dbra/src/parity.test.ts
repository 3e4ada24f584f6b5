import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  type Module,
  readSafetensors,
  Registry,
  routedAttentionFused,
  ShapeError,
  type StateDict,
  type TensorData,
  toFloat32,
} from '@dynavit/core';
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
  BiLevelRoutingAttention,
  type DBRAIntermediates,
  type DeBiFormer,
  DeBiLevelRoutingAttention,
  dbra,
  dbraFromReference,
  routedAttention,
  variants,
} from './index.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const readST = (p: string) => readSafetensors(new Uint8Array(readFileSync(fixtures + p)), p);
const weights = readST('golden/cls_tiny_reduced.weights.safetensors');
const io = readST('golden/cls_tiny_reduced.io.safetensors');
// debug tensors extracted by tools/extract-debug.mjs
const debug = readST('debug/cls_tiny_reduced.debug.safetensors').tensors;
const segFile = readST('debug/seg_small_reduced_pad.debug.safetensors');
const seg = segFile.tensors;

const tensor = (t: TensorData) => tf.tensor(toFloat32(t), t.shape);
const nchwToNhwc = (t: TensorData) => tf.tidy(() => tf.transpose(tensor(t), [0, 2, 3, 1])) as tf.Tensor4D;
const toNCHW = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
/** Debug tensors recorded channels-last (`.in`, `.out`, `.agents`) load as they are. */
const nhwc = (t: TensorData) => tensor(t) as tf.Tensor4D;

/** Compare with a golden tensor: max|d| ≤ tol·max(1, max|ref|). Returns the max error. */
function expectClose(got: tf.Tensor, ref: TensorData, name: string, tol = 1e-4): number {
  expect(got.shape, name).toEqual(ref.shape);
  const r = compareArrays(name, ref.shape, got.dataSync(), toFloat32(ref), tol);
  expect(r.maxAbs, `${name}: max|out-ref| ${r.maxAbs} (max|ref| ${r.maxRef})`).toBeLessThanOrEqual(
    tol * Math.max(1, r.maxRef),
  );
  return r.maxAbs;
}

/** The DBRA steps of dbra.md §4.3 against the golden `debug.<prefix>.*` tensors (all NCHW/NHWC as stored). */
function checkDBRASteps(
  im: DBRAIntermediates,
  d: ReadonlyMap<string, TensorData>,
  prefix: string,
  opts: { routeIdx: boolean; dense: boolean },
): void {
  const key = (k: string) => {
    const t = d.get(`${prefix}.${k}`);
    if (!t) throw new Error(`missing golden ${prefix}.${k}`);
    return t;
  };
  expectClose(toNCHW(im.offset), key('offset'), 'offset (step 7)');
  expectClose(im.sampleGridXY, key('sample_grid_xy'), 'sample_grid_xy (step 9)');
  expectClose(toNCHW(im.sampled), key('sampled'), 'sampled (steps 10–11)');
  expectClose(toNCHW(im.agentQ), key('agent_q'), 'agent_q (step 12)');
  if (opts.routeIdx)
    expect(Array.from(im.routeIdx.dataSync()), 'route_idx (step 13)').toEqual(Array.from(toFloat32(key('route_idx'))));
  expectClose(toNCHW(im.bilevelOut), key('bilevel_out'), 'bilevel_out (steps 14–16)');
  expectClose(im.agents, key('agents'), 'agents (steps 17–19)');
  if (!opts.dense) return;
  expectClose(im.rpeBias, key('rpe_bias'), 'rpe_bias (§4.4)');
  expectClose(toNCHW(im.preCrop), key('pre_crop'), 'pre_crop (steps 20–23)');
}

/** The sub-dict under `prefix`, keys relative to it. */
function subDict(sd: ReadonlyMap<string, TensorData>, prefix: string): StateDict {
  return new Map([...sd].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

describe('debi_fmnist, the small model to train', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('is the golden case cls_tiny_reduced: built by name, it loads those weights strictly and reproduces its outputs', () => {
    const start = tf.memory().numTensors;
    const report = runParity(new Registry([dbra]), weights, io, { variant: { name: 'debi_fmnist' } });
    expect(report.outputs.map((o) => o.name)).toContain('logits');
    for (const o of report.outputs) expect(o.ok, `${o.name}: ${o.maxAbs}`).toBe(true);
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('stochastic depth (training only), as the official Block', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  it('two drop paths per block (drop_path1, drop_path2) at its linspace(0, rate, Σ depth) rate; official rates', () => {
    const registry = new Registry([dbra]);
    const small = registry.createModel('debi_fmnist', { dropPathRate: 0.3 }) as DeBiFormer;
    const depths = small.stages.items.map((s) => s.items.length);
    const total = depths.reduce((a, d) => a + d, 0);
    const want = Array.from({ length: total }, (_, i) => (0.3 * i) / (total - 1)).flatMap((r) => [r, r]);
    expect(dropPathRatesOf(small).map((r) => r.toFixed(9))).toEqual(want.map((r) => r.toFixed(9)));
    small.dispose();
    // the register_model functions of classification/debiformer.py: tiny 0.0, small 0.3, base 0.4
    expect(
      (['debi_tiny', 'debi_small', 'debi_base'] as const).map(
        (n) => (variants[n].config as { drop_path_rate?: number }).drop_path_rate,
      ),
    ).toEqual([0, 0.3, 0.4]);
  });

  it('wraps attn1/mlp1 and attn2/mlp2 (not the positional convs): dropping them all is zeroing those branches', () => {
    const model = new Registry([dbra]).createModel('debi_fmnist', { dropPathRate: 0.3 }) as DeBiFormer;
    model.loadStateDict(weights.tensors, { strict: false });
    const x = tf.tidy(() => tf.randomUniform([2, 32, 32, 3], -1, 1, 'float32', 3)) as tf.Tensor4D;
    const start = tf.memory().numTensors;
    const blocks = model.stages.items.flatMap((s) => s.items);
    const r = dropPathPlacement(
      model,
      x,
      blocks.flatMap((b) => [b.attn1, b.mlp1, b.attn2, b.mlp2]),
    );
    expect(r.maxDiff).toBeLessThan(1e-5);
    expect(r.changed).toBeGreaterThan(1e-2);
    const wrong = dropPathPlacement(
      model,
      x,
      blocks.flatMap((b) => [b.attn1, b.mlp1]),
    );
    expect(wrong.maxDiff).toBeGreaterThan(1e-3);
    const run = (seed: number) => seededTrainingForward(model, x, seed);
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    expect(tf.memory().numTensors).toBe(start);
    tf.dispose(x);
    model.dispose();
  });
});

describe.each(['cpu', 'wasm'])('DeBiFormer on %s', (backend) => {
  let model: DeBiFormer;
  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    model = dbraFromReference(weights.metadata);
    model.loadStateDict(weights.tensors);
  });
  afterAll(() => model.dispose());

  it('reproduces the official outputs (golden cls_tiny_reduced) within 1e-4 relative', () => {
    const report = runParity(new Registry([dbra]), weights, io);
    expect(report.backend).toBe(backend);
    expect(report.outputs.map((o) => o.name).sort()).toEqual(['logits', 'stage.0', 'stage.1', 'stage.2', 'stage.3']);
    for (const o of report.outputs) expect(o.ok, `${o.name}: ${o.maxAbs}`).toBe(true);
  });

  it('stage 0 attn1 (BRA): route indices, attention + LePE, output', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const attn = model.stages.at(0).at(0).attn1 as BiLevelRoutingAttention;
      expect(attn).toBeInstanceOf(BiLevelRoutingAttention);
      const { out, intermediates: im } = attn.run(nhwc(debug.get('debug.stage0.block0.attn1.in')!), true);
      expect(Array.from(im!.routeIdx.dataSync())).toEqual(
        Array.from(toFloat32(debug.get('debug.stage0.block0.attn1.route_idx')!)),
      );
      expectClose(im!.preProj, debug.get('debug.stage0.block0.attn1.pre_proj')!, 'pre_proj');
      expectClose(out, debug.get('debug.stage0.block0.attn1.out')!, 'BRA out');
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  for (const [stage, attnName] of [
    [0, 'attn2'],
    [3, 'attn1'],
  ] as const) {
    it(`stage ${stage} ${attnName} (DBRA): every recorded step`, () => {
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const attn = model.stages.at(stage).at(0)[attnName] as DeBiLevelRoutingAttention;
        expect(attn).toBeInstanceOf(DeBiLevelRoutingAttention);
        const prefix = `debug.stage${stage}.block0.${attnName}`;
        const { out, intermediates } = attn.run(nhwc(debug.get(`${prefix}.in`)!), true);
        checkDBRASteps(intermediates!, debug, prefix, { routeIdx: true, dense: stage === 3 });
        expectClose(out, debug.get(`${prefix}.out`)!, 'DBRA out');
      });
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  for (const s of [1, 2, 3]) {
    it(`stage ${s}: down-sampling + block 0 from the golden stage ${s - 1} output`, () => {
      const x = nchwToNhwc(io.tensors.get(`stage.${s - 1}`)!);
      const y = tf.tidy(() => toNCHW(model.stages.at(s).at(0).forward(model.downsample_layers.at(s).forward(x))));
      expectClose(y, debug.get(`debug.stage${s}.block0.out`)!, `stage${s}.block0.out`);
      tf.dispose([x, y]);
    });
  }

  it('repeated forwards leak no tensor', () => {
    const x = tf.randomNormal([1, 24, 36, 3]) as tf.Tensor4D;
    expect(leakedTensors(() => tf.dispose([model.forward(x), ...model.forwardFeatures(x)]), 2)).toBe(0);
    x.dispose();
  });

  it('the fused kernel and the gathered (KVGather) and masked evaluations of routed attention agree', () => {
    // [N, P, tq, T, C, m, k]: odd sizes, one head, k = 1 and k = P, DeBiFormer's d = 32 (4 heads of 128)
    for (const [n, p, tq, t, c, m, topk] of [
      [2, 9, 3, 4, 16, 2, 4],
      [1, 4, 5, 7, 6, 1, 1],
      [1, 4, 2, 3, 10, 5, 4],
      [1, 16, 4, 9, 128, 4, 3],
    ] as const)
      tf.tidy(() => {
        const q = tf.randomNormal([n, p, tq, c], 0, 1, 'float32', 1) as tf.Tensor4D;
        const k = tf.randomNormal([n, p, t, c], 0, 1, 'float32', 2) as tf.Tensor4D;
        const v = tf.randomNormal([n, p, t, c], 0, 1, 'float32', 3) as tf.Tensor4D;
        const idx = tf.topk(tf.randomNormal([n, p, p], 0, 1, 'float32', 4), topk).indices as tf.Tensor3D;
        const scale = (c / m) ** -0.5;
        const a = routedAttention(q, k, v, idx, m, scale, 'gather');
        const b = routedAttention(q, k, v, idx, m, scale, 'mask');
        const f = routedAttention(q, k, v, idx, m, scale, 'fused');
        expect(a.shape).toEqual([n, p, tq, c]);
        expect(f.shape).toEqual([n, p, tq, c]);
        const shape = [n, p, tq, t, c, m, topk].join('x');
        expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], shape).toBeLessThan(1e-6);
        expect(tf.max(tf.abs(tf.sub(a, f))).dataSync()[0], shape).toBeLessThan(1e-6);
        // inference takes the fused kernel on cpu (the same values bit for bit), a composite on wasm
        const auto = routedAttention(q, k, v, idx, m, scale).dataSync();
        if (backend === 'cpu') expect(auto).toEqual(f.dataSync());
        else expect([a.dataSync(), b.dataSync()]).toContainEqual(auto);
      });
  });

  it('the fused routed attention: an index outside the regions and a wrong shape are typed errors', () => {
    tf.tidy(() => {
      const q = tf.zeros([1, 4, 2, 8]) as tf.Tensor4D;
      const kv = tf.zeros([1, 4, 3, 8]) as tf.Tensor4D;
      const bad = tf.tensor3d([0, 1, 2, 4, 0, 1, 2, 3], [1, 4, 2], 'int32');
      expect(() => routedAttentionFused(q, kv, kv, bad, 2, 1).dataSync()).toThrow(
        /routedAttention: region index 4 is out of range \[0, 4\) \(image 0, region 1\)/,
      );
      const idx = tf.zeros([1, 4, 2], 'int32') as tf.Tensor3D;
      expect(() => routedAttentionFused(q, tf.zeros([1, 4, 3, 6]) as tf.Tensor4D, kv, idx, 2, 1)).toThrow(ShapeError);
      expect(() => routedAttentionFused(q, kv, kv, idx, 3, 1)).toThrow(/numHeads must be a positive divisor of C = 8/);
      expect(() => routedAttentionFused(q, kv, kv, tf.cast(idx, 'float32') as tf.Tensor3D, 2, 1)).toThrow(
        /idx must be int32/,
      );
    });
  });
});

describe.each(['cpu', 'wasm'])('DBRA with token and agent padding (golden seg_small_reduced_pad) on %s', (backend) => {
  let model: DeBiFormer;
  beforeAll(async () => {
    await tf.setBackend(backend);
    await tf.ready();
    // the debug file carries the case's metadata and the weights of the recorded modules as weights.*
    const meta = Object.fromEntries(
      Object.entries(segFile.metadata)
        .filter(([k]) => k.startsWith('weights.'))
        .map(([k, v]) => [k.slice('weights.'.length), v]),
    );
    model = dbraFromReference(meta);
    const w = subDict(seg, 'weights.');
    const recorded: [string, Module][] = [
      ['stages.0.0.attn2.', model.stages.at(0).at(0).attn2],
      ['stages.3.0.attn1.', model.stages.at(3).at(0).attn1],
      ['extra_norms.3.', model.extra_norms!.at(3)],
    ];
    for (const [prefix, mod] of recorded)
      mod.loadStateDict(subDict(w, prefix), { source: `seg_small_reduced_pad ${prefix}` });
  });
  afterAll(() => model.dispose());

  it('stage 0 attn2: 50×58 map padded to 56×64, 7×8 agents padded to 8×8', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const attn = model.stages.at(0).at(0).attn2 as DeBiLevelRoutingAttention;
      const { intermediates: im } = attn.run(nhwc(seg.get('debug.stage0.block0.attn2.in')!), true);
      expect(im!.sampleGridXY.shape).toEqual([1, 7, 8, 2]);
      expect(im!.sampled.shape).toEqual([1, 8, 8, 16]);
      // padded agents are exact zeros before proj_q
      expect(tf.max(tf.abs(tf.slice(im!.sampled, [0, 7, 0, 0], [1, 1, 8, 16]))).dataSync()[0]).toBe(0);
      // routing among identical padded regions is a tie (dbra.md §5): route_idx is not compared
      checkDBRASteps(im!, seg, 'debug.stage0.block0.attn2', { routeIdx: false, dense: false });
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stage 3 attn1: 7×8 map padded to 8×8, dense attention with the sampled RPE, crop', () => {
    tf.tidy(() => {
      const attn = model.stages.at(3).at(0).attn1 as DeBiLevelRoutingAttention;
      const { out, intermediates: im } = attn.run(nhwc(seg.get('debug.stage3.block0.attn1.in')!), true);
      checkDBRASteps(im!, seg, 'debug.stage3.block0.attn1', { routeIdx: false, dense: true });
      expectClose(out, seg.get('debug.stage3.block0.attn1.out')!, 'DBRA out');
    });
  });

  it('extra_norms.3 turns the raw stage-3 map into the backbone output', () => {
    const x = nchwToNhwc(seg.get('debug.stage3.raw')!);
    const y = tf.tidy(() => toNCHW(model.extra_norms!.at(3).forward(x)));
    expectClose(y, seg.get('stage.3')!, 'stage.3');
    tf.dispose([x, y]);
  });
});
