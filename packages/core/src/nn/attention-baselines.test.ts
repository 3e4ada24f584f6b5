/**
 * The model-free attention baselines and the training initialisation, checked against hand-computed
 * attention on host values and against invariants: a window covering the map is global attention plus
 * its bias; with shifted windows a token influences exactly the tokens of its own (wrapped) window.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AttentionConstraintError,
  CORE_ATTENTION,
  checkedFactory,
  parseAttentionOverrides,
  resolveAttention,
} from '../attention.js';
import { InvalidArgumentError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { DWConvMixer, GlobalAttention, WindowAttention } from './attention-baselines.js';
import { countMacs } from './flops.js';
import { initializeWeights } from './init.js';
import { profileForward } from './profile.js';
import { Linear } from './layers.js';
import type { Module } from './module.js';

/** Host multi-head self-attention over tokens [L, C] with qkv [3C, C] + bias, proj [C, C] + bias. */
function hostMhsa(x: Float32Array, L: number, C: number, M: number, w: Record<string, Float32Array>): Float64Array {
  const lin = (inp: Float64Array | Float32Array, W: Float32Array, b: Float32Array, out: number, n: number) => {
    const y = new Float64Array(n * out);
    for (let i = 0; i < n; i++)
      for (let o = 0; o < out; o++) {
        let a = b[o]!;
        for (let k = 0; k < C; k++) a += inp[i * C + k]! * W[o * C + k]!;
        y[i * out + o] = a;
      }
    return y;
  };
  const qkv = lin(x, w['qkv.weight']!, w['qkv.bias']!, 3 * C, L);
  const d = C / M;
  const o = new Float64Array(L * C);
  for (let m = 0; m < M; m++)
    for (let i = 0; i < L; i++) {
      const logits = Array.from({ length: L }, (_, j) => {
        let a = 0;
        for (let k = 0; k < d; k++) a += qkv[i * 3 * C + m * d + k]! * qkv[j * 3 * C + C + m * d + k]!;
        return a / Math.sqrt(d);
      });
      const mx = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, v) => a + v, 0);
      for (let k = 0; k < d; k++) {
        let a = 0;
        for (let j = 0; j < L; j++) a += (e[j]! / z) * qkv[j * 3 * C + 2 * C + m * d + k]!;
        o[i * C + m * d + k] = a;
      }
    }
  return lin(o, w['proj.weight']!, w['proj.bias']!, C, L);
}

function randomize(m: Module, seed: number): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  const sd = new Map(
    m.stateDictShapes().map(([k, s], i) => {
      const data = values(
        s.reduce((a, b) => a * b, 1),
        seed + i,
      );
      out[k] = data;
      return [k, { dtype: 'F32' as const, shape: s, data }];
    }),
  );
  m.loadStateDict(sd);
  return out;
}

describe.each(TEST_BACKENDS)('attention baselines on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it('GlobalAttention is multi-head self-attention over every token (hand-computed), and counts its MACs', async () => {
    const [H, W, C, M] = [3, 4, 8, 2];
    const a = new GlobalAttention(C, M);
    const w = randomize(a, 1);
    const xv = values(H * W * C, 9);
    const x = tf.tensor4d(xv, [1, H, W, C]);
    const { result, macs } = countMacs(() => a.forward(x));
    const want = hostMhsa(xv, H * W, C, M, w);
    expect(maxAbsDiff(await result.data(), want)).toBeLessThan(1e-5);
    // qkv 3LC², products 2L²C, proj LC²
    expect(macs).toBe(3 * 12 * C * C + 2 * 12 * 12 * C + 12 * C * C);
    tf.dispose([x, result]);
    a.dispose();
  });

  it('WindowAttention with a window covering the map is global attention (zero bias table)', async () => {
    const [H, W, C, M] = [4, 4, 8, 2];
    const win = new WindowAttention(C, M, 4);
    const glob = new GlobalAttention(C, M);
    const w = randomize(glob, 3);
    win.loadStateDict(
      new Map([
        ...Object.entries(w).map(
          ([k, d]) =>
            [
              k,
              {
                dtype: 'F32' as const,
                shape: k.endsWith('weight') ? (k.startsWith('qkv') ? [3 * C, C] : [C, C]) : [d.length],
                data: d,
              },
            ] as const,
        ),
        ['relative_position_bias_table', { dtype: 'F32' as const, shape: [49, M], data: new Float32Array(49 * M) }],
      ]),
    );
    const x = tf.tensor4d(values(H * W * C, 5), [1, H, W, C]);
    const [a, b] = [win.forward(x), glob.forward(x)];
    expect(maxAbsDiff(await a.data(), await b.data())).toBeLessThan(1e-5);
    tf.dispose([x, a, b]);
    win.dispose();
    glob.dispose();
  });

  it('shifted windows: a token influences exactly the tokens of its own shifted window (Swin’s mask), padded maps too', async () => {
    const [H, W, C, M, w, s] = [8, 7, 4, 1, 4, 2];
    const a = new WindowAttention(C, M, w, s);
    randomize(a, 7);
    const base = values(H * W * C, 11);
    const x0 = tf.tensor4d(base, [1, H, W, C]);
    const y0 = await a.forward(x0).data();
    // the window of (r, c) after the cyclic shift by −s on the 8×8 padded map, and its pre-shift region
    const Hp = 8;
    const Wp = 8;
    const band = (p: number, n: number) => (p < n - w ? 0 : p < n - s ? 1 : 2);
    const group = (r: number, c: number) => {
      const [sr, sc] = [(r - s + Hp) % Hp, (c - s + Wp) % Wp]; // position in the shifted map
      return `${Math.floor(sr / w)},${Math.floor(sc / w)}|${band(sr, Hp)},${band(sc, Wp)}`;
    };
    const [pr, pc] = [1, 6]; // a token that wraps around in the shift
    const bumped = Float32Array.from(base);
    for (let k = 0; k < C; k++) bumped[(pr * W + pc) * C + k]! += 1;
    const y1 = await a.forward(tf.tensor4d(bumped, [1, H, W, C])).data();
    for (let r = 0; r < H; r++)
      for (let c = 0; c < W; c++) {
        let d = 0;
        for (let k = 0; k < C; k++) d = Math.max(d, Math.abs(y1[(r * W + c) * C + k]! - y0[(r * W + c) * C + k]!));
        const same = group(r, c) === group(pr, pc);
        expect(d > 1e-6, `(${r}, ${c}) ${same ? 'in' : 'outside'} the bumped token's window`).toBe(same);
      }
    x0.dispose();
    a.dispose();
  });

  it('DWConvMixer is a depthwise conv then a projection; keys as timm names them', async () => {
    const m = new DWConvMixer(4, 3);
    expect(m.stateDictShapes()).toEqual([
      ['dwconv.weight', [4, 1, 3, 3]],
      ['dwconv.bias', [4]],
      ['proj.weight', [4, 4]],
      ['proj.bias', [4]],
    ]);
    const w = randomize(m, 2);
    const [H, W, C] = [3, 3, 4];
    const xv = values(H * W * C, 4);
    const y = await m.forward(tf.tensor4d(xv, [1, H, W, C])).data();
    // centre pixel: the full 3×3 window, no padding
    const dw = Array.from({ length: C }, (_, ch) => {
      let a = w['dwconv.bias']![ch]!;
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 3; j++) a += xv[(i * W + j) * C + ch]! * w['dwconv.weight']![ch * 9 + i * 3 + j]!;
      return a;
    });
    for (let o = 0; o < C; o++) {
      let a = w['proj.bias']![o]!;
      for (let k = 0; k < C; k++) a += dw[k]! * w['proj.weight']![o * C + k]!;
      expect(Math.abs(y[(1 * W + 1) * C + o]! - a)).toBeLessThan(1e-5);
    }
    m.dispose();
  });
});

describe('the attention registry', () => {
  it('core registers its three baselines; overrides resolve, bad stages and names are typed errors', () => {
    const known = new Map(CORE_ATTENTION.map((m) => [m.name, m] as const));
    expect([...known.keys()]).toEqual(['core.global', 'core.window', 'core.dwconv']);
    const f = resolveAttention({ 1: 'core.window' }, known, 4, 'm')!;
    const a = f[1]!({ dim: 8, numHeads: 2, stage: 1, numStages: 4, block: 1, mapSize: [14, 14], reduction: 8 });
    expect(a).toBeInstanceOf(WindowAttention);
    expect((a as WindowAttention).shift).toBe(3); // odd block: shifted by ⌊7/2⌋
    a.dispose();
    expect(() => resolveAttention({ 4: 'core.window' }, known, 4, 'm')).toThrow(
      'attention: m has stages 0–3, got stage "4"',
    );
    expect(() => resolveAttention({ 0: 'nope' }, known, 4, 'm')).toThrow(InvalidArgumentError);
    expect(parseAttentionOverrides('2=dbra.dbra, 3=core.window')).toEqual({ 2: 'dbra.dbra', 3: 'core.window' });
    expect(() => parseAttentionOverrides('2=a,2=b')).toThrow('--attention names stage 2 twice');
    const broken = checkedFactory({ ...CORE_ATTENTION[0]!, name: 'x.y', check: () => 'needs more' });
    expect(() =>
      broken({ dim: 8, numHeads: 3, stage: 2, numStages: 4, block: 0, mapSize: [7, 5], reduction: 16 }),
    ).toThrow(new AttentionConstraintError('x.y cannot go in stage 2 (7×5 map, 8 channels, 3 heads): needs more'));
  });

  it('initializeWeights: truncated normal 0.02 for linears, PyTorch’s uniform for convs, 1/0 for norms, seeded', async () => {
    const m = new DWConvMixer(16, 7);
    const l = new Linear(64, 64);
    expect(initializeWeights(m, 1)).toBe(3); // dwconv weight and bias (uniform), proj weight; proj bias stays 0
    expect(initializeWeights(l, 1)).toBe(1); // the bias stays 0
    const lw = await l.weight.value.data();
    const std = Math.sqrt(Array.from(lw).reduce((a, v) => a + v * v, 0) / lw.length);
    expect(std).toBeGreaterThan(0.016);
    expect(std).toBeLessThan(0.02);
    expect(Math.max(...Array.from(lw, Math.abs))).toBeLessThanOrEqual(0.04);
    const cw = await m.dwconv.weight.value.data();
    expect(Math.max(...Array.from(cw, Math.abs))).toBeLessThanOrEqual(1 / 7);
    const again = new Linear(64, 64);
    initializeWeights(again, 1);
    expect(Array.from(await again.weight.value.data())).toEqual(Array.from(lw));
    m.dispose();
    l.dispose();
    again.dispose();
  });

  it('initializeWeights: MultiheadAttention’s in_proj as PyTorch (Xavier uniform, bias 0), DAT’s rpe_table std 0.01', async () => {
    class Toy extends Linear {
      readonly in_proj_weight = this.param('in_proj_weight', [48, 16]);
      readonly in_proj_bias = this.param('in_proj_bias', [48]);
      readonly rpe_table = this.param('rpe_table', [2, 15, 15]);
    }
    const t = new Toy(4, 4);
    initializeWeights(t, 3);
    const ip = await t.in_proj_weight.value.data();
    const bound = Math.sqrt(6 / (48 + 16));
    expect(Math.max(...Array.from(ip, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(ip, Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(Array.from(await t.in_proj_bias.value.data()).every((v) => v === 0)).toBe(true);
    const rpe = Array.from(await t.rpe_table.value.data());
    const std = Math.sqrt(rpe.reduce((a, v) => a + v * v, 0) / rpe.length);
    expect(std).toBeGreaterThan(0.007);
    expect(std).toBeLessThan(0.011);
    t.dispose();
  });
});

describe('profileForward', () => {
  it('times kernels and modules of one pass, self times adding up to the pass, and restores the model', async () => {
    await useBackend('cpu');
    const m = new DWConvMixer(8, 3);
    const x = tf.tensor4d(values(2 * 16 * 16 * 8, 1), [2, 16, 16, 8]);
    const p = await profileForward(m, () => m.forward(x));
    // the layers add their bias inside the product (tf.fused.*); tf.profile records such an op twice, as
    // the kernel and as the op around it (`fusedDepthwiseConv2d__op`), and only the kernel counts
    expect(p.kernels.map((k) => k.name).sort()).toEqual(['FusedDepthwiseConv2D', 'Reshape', '_FusedMatMul']);
    expect(p.modules.map((e) => e.name).sort()).toEqual(['Conv2d', 'DWConvMixer', 'Linear']);
    expect(p.modules.find((e) => e.name === 'Conv2d')!.calls).toBe(1);
    const self = p.modules.reduce((a, e) => a + e.ms, 0);
    expect(self).toBeLessThanOrEqual(p.totalMs + 1e-6);
    expect(self).toBeGreaterThan(0);
    // the instance methods are the prototype's again
    expect(Object.hasOwn(m, 'forward')).toBe(false);
    expect(Object.hasOwn(m.dwconv, 'forward')).toBe(false);
    // a tf.fused op is recorded around its kernel: the kernel counts, its wrapper (`fusedMatMul__op`) not
    const [a, b, bias] = [tf.ones([4, 8]), tf.ones([8, 3]), tf.ones([3])];
    const fused = await profileForward(m, () => tf.fused.matMul({ a, b, bias }));
    expect(fused.kernels.map((k) => k.name).filter((n) => n !== 'Reshape')).toEqual(['_FusedMatMul']);
    tf.dispose([a, b, bias]);
    x.dispose();
    m.dispose();
  });
});
