// `@tensorflow/tfjs-core`'s Node (CJS) bundle registers no gradient functions; importing the full
// `@tensorflow/tfjs` (a devDependency) registers them on the same global engine, for the gradient
// tests at the end. Must come first.
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import { need, readFixture } from './__fixtures__/read-fixture.js';
import {
  neighborhoodAggregate,
  neighborhoodAggregateReference,
  NEIGHBORHOOD_ATTENTION_KERNEL,
  NEIGHBORHOOD_ATTENTION_QKV_KERNEL,
  neighborhoodAttention2d,
  neighborhoodAttention2dFused,
  neighborhoodAttention2dReference,
  neighborhoodAttentionFromQKV,
  neighborhoodAxisTables,
  neighborhoodLogits,
  neighborhoodLogitsReference,
} from './neighborhood-attention.js';

const golden = readFixture('natten_unit.io.safetensors');
/** dat.md §9.3: (B, M, H, W, D, k) per group; logits = q·k + rpb (q not pre-scaled), out = softmax·V. */
const GROUPS: Array<[string, number]> = [
  ['a', 7],
  ['b', 7],
  ['c', 3],
  ['d', 5],
];

describe('neighborhoodAxisTables (hand-computed NATTEN windows)', () => {
  it('L=9 k=7: windows shift inward at the borders, bias = true offset + k − 1', () => {
    const { key, bias } = neighborhoodAxisTables(9, 7);
    // start(i) = clamp(i − 3, 0, 2) = 0,0,0,0,1,2,2,2,2
    const starts = [0, 0, 0, 0, 1, 2, 2, 2, 2];
    for (let i = 0; i < 9; i++) {
      expect(Array.from(key.subarray(i * 7, i * 7 + 7))).toEqual([0, 1, 2, 3, 4, 5, 6].map((a) => starts[i]! + a));
    }
    expect(Array.from(bias.subarray(0, 7))).toEqual([6, 7, 8, 9, 10, 11, 12]); // query 0 sees keys 0..6: offsets 0..6
    expect(Array.from(bias.subarray(4 * 7, 5 * 7))).toEqual([3, 4, 5, 6, 7, 8, 9]); // centred: offsets −3..3
    expect(Array.from(bias.subarray(8 * 7, 9 * 7))).toEqual([0, 1, 2, 3, 4, 5, 6]); // query 8 sees 2..8: offsets −6..0
  });

  it('L=7 k=3 dilation 2: interleaved sub-sequences 0,2,4,6 and 1,3,5', () => {
    const { key, bias } = neighborhoodAxisTables(7, 3, 2);
    expect(Array.from(key.subarray(0, 3))).toEqual([0, 2, 4]); // i=0: t=0, start clamp(−1,0,1)=0
    expect(Array.from(bias.subarray(0, 3))).toEqual([2, 3, 4]);
    expect(Array.from(key.subarray(3 * 3, 4 * 3))).toEqual([1, 3, 5]); // i=3: t=1 of (1,3,5), start 0
    expect(Array.from(bias.subarray(3 * 3, 4 * 3))).toEqual([1, 2, 3]);
    expect(Array.from(key.subarray(5 * 3, 6 * 3))).toEqual([1, 3, 5]); // i=5: t=2, start clamp(1,0,0)=0
    expect(Array.from(bias.subarray(5 * 3, 6 * 3))).toEqual([0, 1, 2]);
    expect(Array.from(key.subarray(6 * 3, 7 * 3))).toEqual([2, 4, 6]); // i=6: t=3 of (0,2,4,6), start 1
    expect(Array.from(bias.subarray(6 * 3, 7 * 3))).toEqual([0, 1, 2]);
  });
});

describe.each(TEST_BACKENDS)('neighborhood attention on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  const IMPLS = {
    shift: { na: neighborhoodAttention2d, logits: neighborhoodLogits, aggregate: neighborhoodAggregate },
    gather: {
      na: neighborhoodAttention2dReference,
      logits: neighborhoodLogitsReference,
      aggregate: neighborhoodAggregateReference,
    },
  };
  for (const [impl, f] of Object.entries(IMPLS)) {
    for (const [g, k] of GROUPS) {
      it(`${impl} path matches natten_unit group ${g} (k=${k}): logits and out`, () => {
        const t = (name: string) => {
          const fx = need(golden, `${g}.${name}`);
          return tf.tensor(fx.data, fx.shape);
        };
        const q = t('query') as tf.Tensor5D;
        const key = t('key') as tf.Tensor5D;
        const v = t('value') as tf.Tensor5D;
        const rpb = t('rpb') as tf.Tensor3D;
        const refLogits = t('logits');
        const refOut = t('out');
        const before = tf.memory().numTensors;
        const res = f.na(q, key, v, rpb, k, { returnLogits: true });
        expect(res.out.shape).toEqual(q.shape);
        expect(res.logits?.shape).toEqual(refLogits.shape);
        const eLogits = maxAbsDiff(res.logits!.dataSync(), refLogits.dataSync());
        const eOut = maxAbsDiff(res.out.dataSync(), refOut.dataSync());
        console.log(
          `[NA ${backend} ${impl}] group ${g} [${q.shape}] k=${k}: logits ${eLogits.toExponential(2)}, out ${eOut.toExponential(2)}`,
        );
        expect(eLogits).toBeLessThan(1e-5);
        expect(eOut).toBeLessThan(1e-5);
        tf.dispose([res.out, res.logits!]);
        expect(tf.memory().numTensors).toBe(before);

        // The two halves separately: QK+RPB, and AV applied to softmax(golden logits).
        const logits = f.logits(q, key, rpb, k);
        expect(maxAbsDiff(logits.dataSync(), refLogits.dataSync())).toBeLessThan(1e-5);
        const p = tf.softmax(refLogits) as tf.Tensor5D;
        const before2 = tf.memory().numTensors;
        const out = f.aggregate(p, v, k);
        expect(tf.memory().numTensors).toBe(before2 + 1);
        expect(maxAbsDiff(out.dataSync(), refOut.dataSync())).toBeLessThan(1e-5);
        tf.dispose([logits, p, out, q, key, v, rpb, refLogits, refOut]);
      });
    }
  }

  // (B, M, H, W, D, k): every axis regime of the shift path — L = k, k+1, 2k (all rows single
  // segments), 2k+1 (core of one row), > 2k+1 — square and not, batch 1 and 2, k = 1 … 9.
  const RANDOM: Array<[number, number, number, number, number, number]> = [
    [1, 1, 3, 3, 2, 3],
    [2, 2, 4, 5, 3, 3],
    [1, 2, 6, 7, 4, 3],
    [1, 2, 9, 12, 3, 3],
    [1, 3, 5, 5, 4, 5],
    [2, 2, 6, 11, 5, 5],
    [1, 2, 7, 7, 4, 7],
    [1, 2, 8, 15, 3, 7],
    [2, 1, 14, 16, 2, 7],
    [1, 2, 9, 10, 3, 9],
    [1, 1, 19, 9, 2, 9],
    [1, 2, 5, 6, 3, 1],
  ];
  it('shift path equals the gather path on random inputs (all axis regimes, k = 1 … 9, with and without rpb)', () => {
    let worst = 0;
    RANDOM.forEach(([B, M, H, W, D, k], idx) => {
      const shape: [number, number, number, number, number] = [B, M, H, W, D];
      const n = B * M * H * W * D;
      const q = tf.tensor5d(values(n, 100 + idx), shape);
      const key = tf.tensor5d(values(n, 200 + idx), shape);
      const v = tf.tensor5d(values(n, 300 + idx), shape);
      const rpb = tf.tensor3d(values(M * (2 * k - 1) ** 2, 400 + idx), [M, 2 * k - 1, 2 * k - 1]);
      const attn = tf.softmax(tf.tensor5d(values((n / D) * k * k, 500 + idx), [B, M, H, W, k * k])) as tf.Tensor5D;
      for (const bias of [rpb, null]) {
        const before = tf.memory().numTensors;
        const fast = neighborhoodAttention2d(q, key, v, bias, k, { returnLogits: true });
        const logits = neighborhoodLogits(q, key, bias, k);
        const agg = neighborhoodAggregate(attn, v, k);
        expect(tf.memory().numTensors).toBe(before + 4); // out, logits, logits, agg
        const ref = neighborhoodAttention2dReference(q, key, v, bias, k, { returnLogits: true });
        const refAgg = neighborhoodAggregateReference(attn, v, k);
        const e = Math.max(
          maxAbsDiff(fast.out.dataSync(), ref.out.dataSync()),
          maxAbsDiff(fast.logits!.dataSync(), ref.logits!.dataSync()),
          maxAbsDiff(logits.dataSync(), ref.logits!.dataSync()),
          maxAbsDiff(agg.dataSync(), refAgg.dataSync()),
        );
        if (e > 1e-5) console.log(`[NA ${backend}] shift vs gather [${shape}] k=${k} rpb=${bias !== null}: ${e}`);
        worst = Math.max(worst, e);
        tf.dispose([fast.out, fast.logits!, logits, agg, ref.out, ref.logits!, refAgg]);
        expect(tf.memory().numTensors).toBe(before);
      }
      tf.dispose([q, key, v, rpb, attn]);
    });
    console.log(
      `[NA ${backend}] shift vs gather, ${RANDOM.length} shapes × rpb/null: max |diff| ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-5);
  });

  it('the fused kernel matches natten_unit (every group) and both composite paths on random inputs, any dilation', () => {
    for (const [g, k] of GROUPS) {
      const t = (name: string) => {
        const fx = need(golden, `${g}.${name}`);
        return tf.tensor(fx.data, fx.shape);
      };
      const [q, key, v, refOut] = [t('query'), t('key'), t('value'), t('out')] as tf.Tensor5D[];
      const rpb = t('rpb') as tf.Tensor3D;
      const before = tf.memory().numTensors;
      const out = neighborhoodAttention2dFused(q!, key!, v!, rpb, k);
      expect(maxAbsDiff(out.dataSync(), refOut!.dataSync()), `group ${g}`).toBeLessThan(1e-5);
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([q!, key!, v!, refOut!, rpb]);
    }
    let worst = 0;
    const cases: Array<[number, number, number, number, number, number, number]> = [
      ...RANDOM.map(
        ([B, M, H, W, D, k]) => [B, M, H, W, D, k, 1] as [number, number, number, number, number, number, number],
      ),
      [1, 2, 11, 9, 3, 3, 2],
      [2, 1, 15, 16, 2, 5, 3],
    ];
    cases.forEach(([B, M, H, W, D, k, dilation], idx) => {
      const shape: [number, number, number, number, number] = [B, M, H, W, D];
      const n = B * M * H * W * D;
      const q = tf.tensor5d(values(n, 600 + idx), shape);
      const key = tf.tensor5d(values(n, 700 + idx), shape);
      const v = tf.tensor5d(values(n, 800 + idx), shape);
      const rpb = tf.tensor3d(values(M * (2 * k - 1) ** 2, 900 + idx), [M, 2 * k - 1, 2 * k - 1]);
      for (const bias of [rpb, null]) {
        const fused = neighborhoodAttention2dFused(q, key, v, bias, k, { dilation });
        const ref = neighborhoodAttention2dReference(q, key, v, bias, k, { dilation });
        worst = Math.max(worst, maxAbsDiff(fused.dataSync(), ref.out.dataSync()));
        if (dilation === 1) {
          const shift = neighborhoodAttention2d(q, key, v, bias, k, { returnLogits: true }); // the shift path
          worst = Math.max(worst, maxAbsDiff(fused.dataSync(), shift.out.dataSync()));
          tf.dispose([shift.out, shift.logits!]);
        }
        tf.dispose([fused, ref.out]);
      }
      tf.dispose([q, key, v, rpb]);
    });
    console.log(
      `[NA ${backend}] fused vs composite, ${cases.length} shapes × rpb/null: max |diff| ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-5);
  });

  it('neighborhoodAttention2d runs the fused kernel for inference, the differentiable shift path under tf.grad', async () => {
    const shape: [number, number, number, number, number] = [1, 2, 9, 10, 4];
    const x = tf.tensor5d(values(2 * 9 * 10 * 4, 17), shape);
    const rpb = tf.tensor3d(values(2 * 13 * 13, 18), [2, 13, 13]);
    const kernels = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernels.map((kk) => kk.name));
    const inference = await kernels(() => neighborhoodAttention2d(x, x, x, rpb, 7).out);
    expect([...inference]).toEqual([NEIGHBORHOOD_ATTENTION_KERNEL]);
    const withLogits = await kernels(() => neighborhoodAttention2d(x, x, x, rpb, 7, { returnLogits: true }).out);
    expect(withLogits.has(NEIGHBORHOOD_ATTENTION_KERNEL)).toBe(false);
    const training = await kernels(() => {
      const g = tf.grad((q: tf.Tensor) => tf.sum(neighborhoodAttention2d(q as tf.Tensor5D, x, x, rpb, 7).out))(x);
      return g;
    });
    expect(training.has(NEIGHBORHOOD_ATTENTION_KERNEL)).toBe(false);
    tf.dispose([x, rpb]);
  });

  it('from a fused qkv projection: the channels-last fused kernel equals the composite path (transpose, scale, NA, transpose)', async () => {
    // (B, H, W, M, D, k, dilation): DAT's N blocks (7×7 windows), a map equal to k, batch 2, dilation 2
    const cases: Array<[number, number, number, number, number, number, number]> = [
      [1, 14, 14, 2, 8, 7, 1],
      [2, 7, 9, 3, 4, 7, 1],
      [1, 10, 12, 2, 5, 3, 1],
      [1, 11, 9, 1, 6, 3, 2],
      // D a multiple of 4 takes the SIMD module: DAT-T++'s 32-channel heads, and a dilated window
      [1, 16, 13, 2, 32, 7, 1],
      [2, 11, 9, 2, 8, 3, 2],
      [1, 9, 9, 1, 12, 9, 1],
    ];
    let worst = 0;
    cases.forEach(([B, H, W, M, D, k, dilation], idx) => {
      const qkv = tf.tensor4d(values(B * H * W * 3 * M * D, 1000 + idx), [B, H, W, 3 * M * D]);
      const rpb = tf.tensor3d(values(M * (2 * k - 1) ** 2, 1100 + idx), [M, 2 * k - 1, 2 * k - 1]);
      for (const bias of [rpb, null]) {
        const before = tf.memory().numTensors;
        const fused = neighborhoodAttentionFromQKV(qkv, M, bias, k, D ** -0.5, { dilation, path: 'fused' });
        const composite = neighborhoodAttentionFromQKV(qkv, M, bias, k, D ** -0.5, { dilation, path: 'composite' });
        expect(fused.shape).toEqual([B, H, W, M * D]);
        expect(composite.shape).toEqual([B, H, W, M * D]);
        worst = Math.max(worst, maxAbsDiff(fused.dataSync(), composite.dataSync()));
        tf.dispose([fused, composite]);
        expect(tf.memory().numTensors).toBe(before);
      }
      tf.dispose([qkv, rpb]);
    });
    console.log(`[NA ${backend}] from qkv, fused vs composite: max |diff| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    // the default: the fused kernel for inference, the composite ops under tf.grad
    const qkv = tf.tensor4d(values(9 * 9 * 12, 5), [1, 9, 9, 12]);
    const kernels = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernels.map((kk) => kk.name));
    expect([...(await kernels(() => neighborhoodAttentionFromQKV(qkv, 2, null, 7, 0.5)))]).toEqual([
      NEIGHBORHOOD_ATTENTION_QKV_KERNEL,
    ]);
    const training = await kernels(() =>
      tf.grad((x: tf.Tensor) => tf.sum(neighborhoodAttentionFromQKV(x as tf.Tensor4D, 2, null, 7, 0.5)))(qkv),
    );
    expect(training.has(NEIGHBORHOOD_ATTENTION_QKV_KERNEL)).toBe(false);
    expect(() => neighborhoodAttentionFromQKV(qkv, 5, null, 7, 0.5)).toThrow(/not 3 × 5 heads/);
    expect(() => neighborhoodAttentionFromQKV(qkv, 2, null, 11, 0.5)).toThrow(InvalidArgumentError);
    // an unknown path is a typed error, not the automatic choice
    expect(() => neighborhoodAttentionFromQKV(qkv, 2, null, 7, 0.5, { path: 'fast' as 'fused' })).toThrow(
      /neighborhoodAttentionFromQKV: path must be 'fused' or 'composite', got "fast"/,
    );
    qkv.dispose();
  });

  it('the shift path runs no gather kernel (dilation 1); the gather path does', async () => {
    const shape: [number, number, number, number, number] = [1, 2, 9, 16, 4];
    const x = tf.tensor5d(values(2 * 9 * 16 * 4, 7), shape);
    const rpb = tf.tensor3d(values(2 * 13 * 13, 8), [2, 13, 13]);
    const kernels = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernels.map((kk) => kk.name));
    const fast = await kernels(() => neighborhoodAttention2d(x, x, x, rpb, 7, { returnLogits: true }).out);
    expect([...fast].filter((name) => /gather/i.test(name))).toEqual([]);
    expect(await kernels(() => neighborhoodAttention2dReference(x, x, x, rpb, 7).out)).toContain('GatherV2');
    tf.dispose([x, rpb]);
  });

  it('without rpb, logits are the plain window dot products (group b)', () => {
    const f = (name: string) => need(golden, `b.${name}`);
    const t = (name: string): tf.Tensor => tf.tensor(f(name).data, f(name).shape);
    const q = t('query') as tf.Tensor5D;
    const key = t('key') as tf.Tensor5D;
    const rpb = t('rpb') as tf.Tensor3D;
    const withBias = neighborhoodLogits(q, key, rpb, 7);
    const noBias = neighborhoodLogits(q, key, null, 7);
    // For a 7×7 map and k = 7 every query's window is the whole map, slot = key position, and the
    // bias index is (key − query) + 6: check logits − bias against that directly.
    const [B, M, H, W] = [2, 3, 7, 7];
    const nb = noBias.dataSync();
    const wb = withBias.dataSync();
    const r = f('rpb').data;
    let err = 0;
    for (let b = 0; b < B; b++)
      for (let m = 0; m < M; m++)
        for (let i = 0; i < H; i++)
          for (let j = 0; j < W; j++)
            for (let a = 0; a < 7; a++)
              for (let c = 0; c < 7; c++) {
                const o = ((((b * M + m) * H + i) * W + j) * 7 + a) * 7 + c;
                const bias = r[(m * 13 + (a - i + 6)) * 13 + (c - j + 6)]!;
                err = Math.max(err, Math.abs(wb[o]! - nb[o]! - bias));
              }
    expect(err).toBeLessThan(1e-5);
    tf.dispose([q, key, rpb, withBias, noBias]);
  });

  // dilation 2 runs the gather path, the dilation-1 sub-grid calls the shift path: a cross-check of both.
  it('dilation 2 equals dilation 1 on each interleaved sub-grid (11×9 map, k=3)', () => {
    const [B, M, H, W, D, k, d] = [1, 2, 11, 9, 4, 3, 2];
    const mk = (seed: number) => tf.tensor5d(values(B * M * H * W * D, seed), [B, M, H, W, D]);
    const q = mk(1);
    const key = mk(2);
    const v = mk(3);
    const rpb = tf.tensor3d(values(M * (2 * k - 1) ** 2, 4), [M, 2 * k - 1, 2 * k - 1]);
    const before = tf.memory().numTensors;
    const dil = neighborhoodAttention2d(q, key, v, rpb, k, { dilation: d, returnLogits: true });
    let err = 0;
    for (let gh = 0; gh < d; gh++)
      for (let gw = 0; gw < d; gw++) {
        tf.tidy(() => {
          const rows = tf.range(gh, H, d, 'int32');
          const cols = tf.range(gw, W, d, 'int32');
          const sub = (x: tf.Tensor) => tf.gather(tf.gather(x, rows, 2), cols, 3) as tf.Tensor5D;
          const ref = neighborhoodAttention2d(sub(q), sub(key), sub(v), rpb, k, { returnLogits: true });
          err = Math.max(err, maxAbsDiff(sub(dil.out).dataSync(), ref.out.dataSync()));
          err = Math.max(err, maxAbsDiff(sub(dil.logits!).dataSync(), ref.logits!.dataSync()));
        });
      }
    expect(err).toBeLessThan(1e-6);
    tf.dispose([dil.out, dil.logits!]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([q, key, v, rpb]);
  });

  it('rejects bad inputs with typed errors', () => {
    const x = tf.zeros([1, 2, 6, 8, 4]) as tf.Tensor5D;
    const big = tf.zeros([1, 2, 9, 9, 4]) as tf.Tensor5D;
    const rpb7 = tf.zeros([2, 13, 13]) as tf.Tensor3D;
    const rpbBad = tf.zeros([2, 11, 13]) as tf.Tensor3D;
    const rank4 = tf.zeros([2, 9, 9, 4]) as unknown as tf.Tensor5D;
    const before = tf.memory().numTensors;
    // H = 6 < k = 7: NATTEN would need padding; the error says so.
    expect(() => neighborhoodAttention2d(x, x, x, rpb7, 7)).toThrow(InvalidArgumentError);
    expect(() => neighborhoodAttention2d(x, x, x, rpb7, 7)).toThrow(/pad/i);
    expect(() => neighborhoodAttention2d(big, big, big, rpb7, 7, { dilation: 2 })).toThrow(InvalidArgumentError); // 9 < 14
    expect(() => neighborhoodAttention2d(big, big, big, rpbBad, 7)).toThrow(ShapeError);
    expect(() => neighborhoodAttention2d(big, big, big, null, 6)).toThrow(InvalidArgumentError); // even k
    expect(() => neighborhoodAttention2d(big, x, big, null, 3)).toThrow(ShapeError); // k shape ≠ q shape
    expect(() => neighborhoodLogits(rank4, rank4, null, 3)).toThrow(ShapeError);
    expect(() => neighborhoodAggregate(tf.zeros([1, 2, 9, 9, 8]) as tf.Tensor5D, big, 3)).toThrow(ShapeError); // k² = 9 ≠ 8
    expect(tf.memory().numTensors).toBe(before + 1); // the inline attn argument above
    tf.dispose([x, big, rpb7, rpbBad, rank4]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Gradients of the shift path (q, k, v and rpb). It is built from slices, concats, transposes, mul,
// sum, addN and matMul only, so unlike the gather path (whose gradient needs UnsortedSegmentSum,
// missing from tfjs-backend-wasm 4.22) it is differentiable on wasm as well.

/** Central finite differences of a scalar function of one tensor, at the listed flat positions. */
function finiteDiff(
  f: (x: tf.Tensor) => tf.Scalar,
  x: Float32Array,
  shape: number[],
  eps: number,
  at: number[],
): Map<number, number> {
  const out = new Map<number, number>();
  for (const i of at) {
    const eval1 = (d: number) =>
      tf.tidy(() => {
        const y = Float32Array.from(x);
        y[i] = y[i]! + d;
        return f(tf.tensor(y, shape)).dataSync()[0]!;
      });
    out.set(i, (eval1(eps) - eval1(-eps)) / (2 * eps));
  }
  return out;
}

/** (B, M, H, W, D, k) = (2, 2, 5, 8, 3, 3): H < 2k (single-row segments), W > 2k+1 (a core), batch 2. */
const G_SHAPE: [number, number, number, number, number] = [2, 2, 5, 8, 3];
const G_K = 3;
const G_N = 2 * 2 * 5 * 8 * 3;
const G_IN = [values(G_N, 12), values(G_N, 13), values(G_N, 14), values(2 * 25, 15)];
const G_SHAPES = [G_SHAPE, G_SHAPE, G_SHAPE, [2, 5, 5]];
/** corners, borders and interior of the map, both batches; for rpb: border and centre offsets */
const G_PROBE = [
  [0, 4, 31, 59, 88, 100, 179, 200, 239, 301, 477],
  [0, 4, 31, 59, 88, 100, 179, 200, 239, 301, 477],
  [0, 4, 31, 59, 88, 100, 179, 200, 239, 301, 477],
  [0, 6, 12, 18, 24, 30, 37, 49],
];

type NA = typeof neighborhoodAttention2d;
const gLoss = (na: NA, rT: tf.Tensor) => (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, rpb: tf.Tensor) =>
  tf.sum(
    tf.mul(na(q as tf.Tensor5D, k as tf.Tensor5D, v as tf.Tensor5D, rpb as tf.Tensor3D, G_K).out, rT),
  ) as tf.Scalar;

describe.each(TEST_BACKENDS)('neighbourhood attention gradients (shift path) on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('d/dq, d/dk, d/dv and d/drpb are finite and match finite differences', () => {
    const ins = G_IN.map((d, i) => tf.tensor(d, G_SHAPES[i]));
    const rT = tf.tensor(values(G_N, 16), G_SHAPE);
    const loss = gLoss(neighborhoodAttention2d, rT);
    const before = tf.memory().numTensors;
    const grads = tf.grads(loss)(ins);
    const gv = grads.map((g) => g.dataSync());
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBe(before);
    gv.forEach((g, i) => {
      expect(Array.from(g).every(Number.isFinite)).toBe(true);
      expect(Array.from(g).some((x) => x !== 0)).toBe(true);
      const fd = finiteDiff(
        (x) => loss(...(ins.map((t, j) => (j === i ? x : t)) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])),
        G_IN[i]!,
        G_SHAPES[i]!,
        1e-2,
        G_PROBE[i]!,
      );
      let e = 0;
      for (const [at, val] of fd) e = Math.max(e, Math.abs(g[at]! - val));
      console.log(
        `[grad ${backend}] NA shift path d/d${['q', 'k', 'v', 'rpb'][i]} vs FD (${fd.size} probes): ${e.toExponential(2)}`,
      );
      expect(e).toBeLessThan(2e-3);
    });
    tf.dispose([...ins, rT]);
  });
});

describe('neighbourhood attention gradients: shift path = gather path (cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  it('all four gradients agree elementwise', () => {
    const ins = G_IN.map((d, i) => tf.tensor(d, G_SHAPES[i]));
    const rT = tf.tensor(values(G_N, 16), G_SHAPE);
    const fast = tf.grads(gLoss(neighborhoodAttention2d, rT))(ins);
    const ref = tf.grads(gLoss(neighborhoodAttention2dReference, rT))(ins);
    const e = fast.map((g, i) => maxAbsDiff(g.dataSync(), ref[i]!.dataSync()));
    console.log(
      `[grad cpu] NA shift vs gather path, d/d(q, k, v, rpb): ${e.map((x) => x.toExponential(2)).join(', ')}`,
    );
    for (const x of e) expect(x).toBeLessThan(1e-5);
    tf.dispose([...fast, ...ref, ...ins, rT]);
  });
});
