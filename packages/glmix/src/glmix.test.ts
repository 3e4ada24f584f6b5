import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { adaptivePoolBins, ShapeError, type StateDict, type TensorData } from '@dynavit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fromOfficialConfig,
  GLMixAttention,
  GLMixBlock,
  GLNet,
  glnetFromReference,
  l2Normalize,
  MHSA_Block,
  MHSA_NCHW_Block,
  MultiheadAttention,
  slotCentres,
} from './index.js';
import { expectClose, nchw, nhwc, readFixture as readST, tensor } from './test-utils/golden.js';

// g_reduced_96x128: G layout (CPE, dwconv MLP, hybrid stage 2), every debug tensor
const weights = readST('golden/g_reduced_96x128.weights.safetensors');
const debug = readST('debug/g_reduced_96x128.io.safetensors').tensors;
// a few blocks' weights and debug tensors of three other cases (tools/extract-debug.mjs)
const extra = readST('debug/glmix_blocks.safetensors');

/** A case's tensors from the extract: `<case>/<key>`. */
function caseOf(name: string): { config: Record<string, unknown>; get: (k: string) => TensorData; weights: StateDict } {
  const prefix = `${name}/`;
  const w: StateDict = new Map();
  for (const [k, v] of extra.tensors)
    if (k.startsWith(prefix) && !k.startsWith(`${prefix}debug.`)) w.set(k.slice(prefix.length), v);
  return {
    config: JSON.parse(extra.metadata[name]!) as Record<string, unknown>,
    get: (k) => {
      const t = extra.tensors.get(prefix + k);
      if (!t) throw new Error(`fixture has no ${prefix}${k}`);
      return t;
    },
    weights: w,
  };
}

/** Build the case's GLNet and load only the extracted blocks (the rest stays zero). */
function partialModel(c: ReturnType<typeof caseOf>): GLNet {
  const m = new GLNet(fromOfficialConfig(c.config));
  const r = m.loadStateDict(c.weights, { strict: false });
  expect(r.unexpected).toEqual([]);
  expect(r.loaded).toBe(c.weights.size);
  return m;
}

describe('slot centres: torch adaptive-pooling bins', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('bins are [floor(i·n/P), ceil((i+1)·n/P)), including n < P', () => {
    expect(adaptivePoolBins(28, 8)).toEqual([
      [0, 4],
      [3, 7],
      [7, 11],
      [10, 14],
      [14, 18],
      [17, 21],
      [21, 25],
      [24, 28],
    ]);
    expect(adaptivePoolBins(6, 8)).toEqual([
      [0, 1],
      [0, 2],
      [1, 3],
      [2, 3],
      [3, 4],
      [3, 5],
      [4, 6],
      [5, 6],
    ]);
  });
});

describe.each(['cpu', 'wasm'])('GLNet blocks step by step on %s', (backend) => {
  let model: GLNet;
  beforeAll(async () => {
    await tf.setBackend(backend);
    model = glnetFromReference(weights.metadata);
    model.loadStateDict(weights.tensors);
  });
  afterAll(() => model.dispose());

  it('GLMixBlock (stage 0 block 0, CPE + dwconv MLP): every step matches debug.stage0.block0.*', () => {
    const block = model.stages.at(0).blocks.at(0) as GLMixBlock;
    const key = (k: string) => debug.get(`debug.stage0.block0.${k}`)!;
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const { out, intermediates: im } = block.run(nhwc(key('block_in')), true);
      // 1. centres pooled from the raw block input (24×32 → 8×8)
      expectClose(im!.initSlots, key('init_slots'), 'init_slots');
      // 2-3. CPE, norm1
      expectClose(nchw(im!.xAfterCpe!), key('x_after_cpe'), 'x_after_cpe');
      expectClose(nchw(im!.norm1), key('norm1'), 'norm1');
      // 4. logits = slot_scale · cos(c, t)  (|logits| ≤ slot_scale ≈ 30-50)
      expectClose(im!.logits, key('logits'), 'logits');
      // 5-7. clustering (softmax over pixels), slot MHA, dispatch (softmax over slots)
      expectClose(im!.slotsGrouped, key('slots_grouped'), 'slots_grouped');
      expectClose(im!.slotsUpdated, key('slots_updated'), 'slots_updated');
      expectClose(nchw(im!.globalOut), key('global_out'), 'global_out');
      // 8-9. local branch and fusion
      expectClose(nchw(im!.localOut), key('local_out'), 'local_out');
      expectClose(nchw(im!.mixed), key('mixed'), 'mixed');
      // 10-11. residual, norm2, MLP
      expectClose(nchw(im!.norm2), key('norm2'), 'norm2');
      expectClose(nchw(im!.mlpOut), key('mlp_out'), 'mlp_out');
      expectClose(nchw(out), key('block_out'), 'block_out');
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  for (const s of [1, 2]) {
    it(`GLMixBlock of stage ${s}: centres (uneven / output-larger-than-input bins) and output`, () => {
      tf.tidy(() => {
        const block = model.stages.at(s).blocks.at(0) as GLMixBlock;
        const x0 = nhwc(debug.get(`debug.downsample.${s}`)!);
        expectClose(
          slotCentres(x0, block.poolSize, block.init_slots),
          debug.get(`debug.stage${s}.block0.init_slots`)!,
          `stage${s} init_slots`,
        );
        expectClose(nchw(block.forward(x0)), debug.get(`debug.stage${s}.block0.block_out`)!, `stage${s} block_out`);
      });
    });
  }

  it('MHSA_NCHW_Block (stage 2 block 1): every step matches debug.stage2.block1.*', () => {
    const block = model.stages.at(2).blocks.at(1) as MHSA_NCHW_Block;
    expect(block).toBeInstanceOf(MHSA_NCHW_Block);
    const key = (k: string) => debug.get(`debug.stage2.block1.${k}`)!;
    tf.tidy(() => {
      const { out, intermediates: im } = block.run(nhwc(key('block_in')), true);
      expectClose(nchw(im!.xAfterCpe!), key('x_after_cpe'), 'x_after_cpe');
      expectClose(im!.norm1, key('norm1'), 'norm1 (tokens)');
      expectClose(im!.attnOut, key('attn_out'), 'attn_out (tokens)');
      expectClose(nchw(im!.norm2), key('norm2'), 'norm2');
      expectClose(nchw(im!.mlpOut), key('mlp_out'), 'mlp_out');
      expectClose(nchw(out), key('block_out'), 'block_out');
    });
  });

  it('learned slots broadcast over a batch of 2, GLMix without CPE/dwconv (stl_paramslot_reduced_b2)', () => {
    const c = caseOf('stl_paramslot_reduced_b2');
    const m = partialModel(c);
    const block = m.stages.at(0).blocks.at(0) as GLMixBlock;
    expect(block.pos_conv).toBeNull();
    tf.tidy(() => {
      const { out, intermediates: im } = block.run(nhwc(c.get('debug.stage0.block0.block_in')), true);
      expectClose(im!.initSlots, c.get('debug.stage0.block0.init_slots'), 'init_slots [1,S,C]');
      expectClose(im!.slotsGrouped, c.get('debug.stage0.block0.slots_grouped'), 'slots_grouped');
      expectClose(im!.slotsUpdated, c.get('debug.stage0.block0.slots_updated'), 'slots_updated');
      expectClose(nchw(out), c.get('debug.stage0.block0.block_out'), 'block_out');
    });
    m.dispose();
  });

  it('MHSA_Block on tokens (STL stage 3): every step matches debug.stage3.block0.*', () => {
    const c = caseOf('stl_paramslot_reduced_b2');
    const m = partialModel(c);
    const block = m.stages.at(3).blocks.at(0) as MHSA_Block;
    expect(block).toBeInstanceOf(MHSA_Block);
    const key = (k: string) => c.get(`debug.stage3.block0.${k}`);
    tf.tidy(() => {
      const { out, intermediates: im } = block.run(tensor(key('block_in')) as tf.Tensor3D, true);
      expectClose(im!.norm1, key('norm1'), 'norm1');
      expectClose(im!.attnOut, key('attn_out'), 'attn_out');
      expectClose(im!.norm2, key('norm2'), 'norm2');
      expectClose(im!.mlpOut, key('mlp_out'), 'mlp_out');
      expectClose(out, key('block_out'), 'block_out');
    });
    m.dispose();
  });

  it('layer scale (gamma [C] on ls1, [1,C,1,1] on ls2) in an MHSA_NCHW_Block (g_ls_reduced_256x192)', () => {
    const c = caseOf('g_ls_reduced_256x192');
    const m = partialModel(c);
    const block = m.stages.at(2).blocks.at(1) as MHSA_NCHW_Block;
    expect(m.stateDictShapes().filter(([k]) => k.startsWith('stages.2.blocks.1.ls'))).toEqual([
      ['stages.2.blocks.1.ls1.gamma', [96]],
      ['stages.2.blocks.1.ls2.gamma', [1, 96, 1, 1]],
    ]);
    tf.tidy(() => {
      const { out, intermediates: im } = block.run(nhwc(c.get('debug.stage2.block1.block_in')), true);
      expectClose(im!.attnOut, c.get('debug.stage2.block1.attn_out'), 'attn_out');
      expectClose(nchw(out), c.get('debug.stage2.block1.block_out'), 'block_out');
    });
    m.dispose();
  });

  it('slot centres with uneven overlapping bins: 16×12 → 8×8 and 14×14 → 6×6', () => {
    for (const [name, P] of [
      ['g_ls_reduced_256x192', 8],
      ['stl_reduced_224', 6],
    ] as const) {
      const c = caseOf(name);
      tf.tidy(
        () =>
          void expectClose(
            slotCentres(nhwc(c.get('debug.downsample.2')), P, null),
            c.get('debug.stage2.block0.init_slots'),
            `${name} init_slots`,
          ),
      );
    }
  });
});

/** Deterministic pseudo-random weights for every parameter (the zero default has no gradient signal). */
function randomize(m: GLMixBlock | GLMixAttention): void {
  const sd: StateDict = new Map(
    m.stateDictShapes().map(([k, s]) => {
      const n = s.reduce((a, b) => a * b, 1);
      const base = k === 'slot_scale' ? 20 : k.endsWith('norm1.weight') || k.endsWith('norm2.weight') ? 1 : 0;
      return [
        k,
        {
          dtype: 'F32' as const,
          shape: s,
          data: Float32Array.from({ length: n }, (_, i) => base + 0.3 * Math.sin(i * 1.7 + k.length)),
        },
      ];
    }),
  );
  m.loadStateDict(sd);
}

describe('the GLMix mixer as a drop-in Attention2d', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('NHWC in, same shape out; any size; checked input', () => {
    const attn = new GLMixAttention(32, { numHeads: 2, numSlots: 16 });
    randomize(attn);
    for (const shape of [
      [2, 9, 7, 32],
      [1, 2, 3, 32],
    ]) {
      const x = tf.randomNormal(shape, 0, 1, 'float32', 3) as tf.Tensor as tf.Tensor4D;
      const y = attn.forward(x);
      expect(y.shape).toEqual(shape);
      expect(y.dataSync().every(Number.isFinite)).toBe(true);
      tf.dispose([x, y]);
    }
    expect(attn.stateDictShapes().map(([k]) => k)).toEqual([
      'slot_scale',
      'relation_mha.in_proj_weight',
      'relation_mha.in_proj_bias',
      'relation_mha.out_proj.weight',
      'relation_mha.out_proj.bias',
      'feature_conv.0.weight',
      'feature_conv.0.bias',
      'feature_conv.1.weight',
      'feature_conv.1.bias',
      'feature_conv.2.weight',
      'feature_conv.2.bias',
    ]);
    const bad = tf.zeros([1, 4, 4, 16]) as tf.Tensor4D;
    expect(() => attn.forward(bad)).toThrow(ShapeError);
    expect(() => attn.forward(bad)).toThrow(/32 channels on the last axis/);
    expect(() => attn.forward(tf.zeros([4, 4, 32]) as unknown as tf.Tensor4D)).toThrow(/rank 4 \[B,H,W,C\]/);
    const u = tf.zeros([2, 3, 3, 32]) as tf.Tensor4D;
    expect(() => attn.mix(u, tf.zeros([3, 16, 32]) as tf.Tensor3D)).toThrow(/centres must be \[1 or 2, S, 32\]/);
    u.dispose();
    expect(() => new GLMixAttention(32, { numHeads: 2, numSlots: 10 })).toThrow(/perfect square/);
    expect(() => new MultiheadAttention(30, 4)).toThrow(/divisible/);
    bad.dispose();
    attn.dispose();
  });

  it('mix(u, slotCentres(x0)) reproduces the GLMix block step of the golden (same weights, same code)', () => {
    const model = glnetFromReference(weights.metadata);
    model.loadStateDict(weights.tensors);
    const block = model.stages.at(0).blocks.at(0) as GLMixBlock;
    const attn = new GLMixAttention(32, { numHeads: 2 });
    const sd = new Map(
      [...weights.tensors]
        .filter(([k]) => /^stages\.0\.blocks\.0\.(slot_scale|relation_mha|feature_conv)/.test(k))
        .map(([k, v]) => [k.slice('stages.0.blocks.0.'.length), v]),
    );
    attn.loadStateDict(sd);
    tf.tidy(() => {
      const u = nhwc(debug.get('debug.stage0.block0.norm1')!);
      const c = slotCentres(nhwc(debug.get('debug.stage0.block0.block_in')!), block.poolSize, null);
      expectClose(nchw(attn.mix(u, c).out), debug.get('debug.stage0.block0.mixed')!, 'mixed');
    });
    attn.dispose();
    model.dispose();
  });

  it('l2Normalize clamps the norm at 1e-12 (F.normalize), so zero vectors stay zero', () => {
    const v = l2Normalize(
      tf.tensor2d([
        [3, 4],
        [0, 0],
      ]),
    );
    expect(v.dataSync()).toEqual(Float32Array.from([0.6, 0.8, 0, 0]));
    v.dispose();
  });
});

describe('gradients through one GLMix block', () => {
  it('reach the slot scale, the learned slots, the clustering inputs and the slot attention, finite and non-zero (cpu)', async () => {
    // tfjs-core's Node bundle registers no gradients; @tensorflow/tfjs registers them on the same engine.
    await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    for (const slotInit of ['ada_avgpool', 'param'] as const) {
      const block = new GLMixBlock(16, {
        numHeads: 2,
        numSlots: 4,
        slotInit,
        localDwKs: 3,
        mlpRatio: 2,
        cpeKs: 3,
        mlpDw: true,
        layerscale: 0.5,
      });
      randomize(block);
      const x = tf.randomNormal([2, 6, 5, 16], 0, 1, 'float32', 7) as tf.Tensor4D;
      const wanted = [
        'slot_scale',
        'relation_mha.in_proj_weight',
        'relation_mha.in_proj_bias',
        'relation_mha.out_proj.weight',
        'norm1.weight',
        'pos_conv.weight',
        'feature_conv.1.weight',
      ];
      if (slotInit === 'param') wanted.push('init_slots');
      const named = new Map(block.namedParameters());
      const vars = wanted.map((k) => named.get(k)!.variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(block.forward(x))) as tf.Scalar, vars);
      expect(Number.isFinite(value.dataSync()[0])).toBe(true);
      expect(Object.keys(grads)).toHaveLength(vars.length);
      for (const [i, v] of vars.entries()) {
        const g = grads[v.name]!.dataSync();
        expect(g.every(Number.isFinite), `${slotInit} ${wanted[i]} finite`).toBe(true);
        expect(
          g.some((e) => e !== 0),
          `${slotInit} ${wanted[i]} non-zero`,
        ).toBe(true);
      }
      tf.dispose([x, value, ...Object.values(grads)]);
      block.dispose();
    }
  });
});
