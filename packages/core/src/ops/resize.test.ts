// the gradients of tfjs-core's ops (its Node bundle registers none)
import '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { maxAbsDiff, TEST_BACKENDS, useBackend, values } from '../test-utils/backends.js';
import {
  nearestAxisIndices,
  RESIZE_BILINEAR_KERNEL,
  RESIZE_NEAREST_KERNEL,
  resizeBilinear,
  resizeNearest,
} from './resize.js';

/** Map [1, H, W, 1] with value a·y + x. */
function ramp(h: number, w: number, a: number): tf.Tensor4D {
  return tf.tensor4d(
    Float32Array.from({ length: h * w }, (_, p) => a * Math.floor(p / w) + (p % w)),
    [1, h, w, 1],
  );
}

/** Expected a·sy + sx on the grid of effective (clamped) source coordinates. */
function rampExpected(sy: number[], sx: number[], a: number): Float32Array {
  return Float32Array.from(sy.flatMap((y) => sx.map((x) => a * y + x)));
}

/**
 * Independent reference: torch upsample_bilinear2d for one channel, written as loops with every
 * operation rounded to float32 (Math.fround) in torch's order.
 */
function torchBilinearRef(x: Float32Array, h: number, w: number, oh: number, ow: number, ac: boolean): Float32Array {
  const f = Math.fround;
  const scale = (i: number, o: number) => (ac ? (o > 1 ? f((i - 1) / (o - 1)) : 0) : f(i / o));
  const src = (d: number, s: number) => {
    const v = ac ? f(s * d) : f(f(s * f(d + 0.5)) - 0.5);
    return v < 0 ? 0 : v;
  };
  const sh = scale(h, oh);
  const sw = scale(w, ow);
  const out = new Float32Array(oh * ow);
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++) {
      const sy = src(i, sh);
      const sx = src(j, sw);
      const y0 = Math.min(Math.floor(sy), h - 1);
      const x0 = Math.min(Math.floor(sx), w - 1);
      const y1 = y0 + (y0 < h - 1 ? 1 : 0);
      const x1 = x0 + (x0 < w - 1 ? 1 : 0);
      const ly1 = f(sy - y0);
      const ly0 = f(1 - ly1);
      const lx1 = f(sx - x0);
      const lx0 = f(1 - lx1);
      const top = f(f(lx0 * x[y0 * w + x0]!) + f(lx1 * x[y0 * w + x1]!));
      const bot = f(f(lx0 * x[y1 * w + x0]!) + f(lx1 * x[y1 * w + x1]!));
      out[i * ow + j] = f(f(ly0 * top) + f(ly1 * bot));
    }
  return out;
}

describe('nearestAxisIndices (torch legacy nearest, float32 ratio)', () => {
  it('hand-computed source indices', () => {
    expect(Array.from(nearestAxisIndices(3, 5))).toEqual([0, 0, 1, 1, 2]); // ⌊d·0.6⌋
    expect(Array.from(nearestAxisIndices(4, 7))).toEqual([0, 0, 1, 1, 2, 2, 3]); // ⌊d·4/7⌋
    expect(Array.from(nearestAxisIndices(5, 3))).toEqual([0, 1, 3]); // ⌊d·5/3⌋
    expect(Array.from(nearestAxisIndices(7, 4))).toEqual([0, 1, 3, 5]); // ⌊d·1.75⌋
    expect(Array.from(nearestAxisIndices(2, 4))).toEqual([0, 0, 1, 1]); // exact 2×: d >> 1
    // float32 artefact torch has: 37·f32(6/74) = 2.9999998 → 2, although 37·6/74 = 3 exactly.
    expect(nearestAxisIndices(6, 74)[37]).toBe(2);
  });
});

describe.each(TEST_BACKENDS)('resize on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  // Bilinear of the linear map a·y + x is a·sy + sx at the clamped source coordinates, so these
  // expected values follow from torch's coordinate formula alone (see the comments).
  const BILINEAR_CASES: Array<{
    name: string;
    h: number;
    w: number;
    oh: number;
    ow: number;
    ac: boolean;
    a: number;
    sy: number[];
    sx: number[];
  }> = [
    {
      name: 'up 3x4→5x7 alignCorners=false',
      ...{ h: 3, w: 4, oh: 5, ow: 7, ac: false, a: 4 },
      // sy = (i+.5)·3/5 − .5 = −.2→0, .4, 1, 1.6, 2.2→2 (row 2 only); sx = (j+.5)·4/7 − .5, clamped to [0, 3]
      sy: [0, 0.4, 1, 1.6, 2],
      sx: [0, 5 / 14, 13 / 14, 1.5, 29 / 14, 37 / 14, 3],
    },
    {
      name: 'up 3x4→5x7 alignCorners=true',
      ...{ h: 3, w: 4, oh: 5, ow: 7, ac: true, a: 4 },
      sy: [0, 0.5, 1, 1.5, 2],
      sx: [0, 0.5, 1, 1.5, 2, 2.5, 3],
    },
    {
      name: 'down 5x7→3x4 alignCorners=false',
      ...{ h: 5, w: 7, oh: 3, ow: 4, ac: false, a: 7 },
      // sy = (i+.5)·5/3 − .5 = 1/3, 2, 11/3; sx = (j+.5)·7/4 − .5 = .375, 2.125, 3.875, 5.625
      sy: [1 / 3, 2, 11 / 3],
      sx: [0.375, 2.125, 3.875, 5.625],
    },
    {
      name: 'down 5x7→3x4 alignCorners=true',
      ...{ h: 5, w: 7, oh: 3, ow: 4, ac: true, a: 7 },
      sy: [0, 2, 4],
      sx: [0, 2, 4, 6],
    },
  ];

  const PATHS = ['fused', 'composite'] as const;

  for (const c of BILINEAR_CASES) {
    it.each(PATHS)(`resizeBilinear hand-computed ${c.name} (%s)`, (path) => {
      const x = ramp(c.h, c.w, c.a);
      const before = tf.memory().numTensors;
      const out = resizeBilinear(x, [c.oh, c.ow], { alignCorners: c.ac, path });
      expect(out.shape).toEqual([1, c.oh, c.ow, 1]);
      expect(maxAbsDiff(out.dataSync(), rampExpected(c.sy, c.sx, c.a))).toBeLessThan(2e-6);
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  }

  it.each(PATHS)('resizeBilinear hand-computed non-linear 2x2→3x3 (alignCorners=false, %s)', (path) => {
    // [[0,1],[2,4]]; sy = sx = (d+.5)·2/3 − .5 = 0 (clamped), .5, 7/6 (row/col 1 only)
    const x = tf.tensor4d([0, 1, 2, 4], [1, 2, 2, 1]);
    const out = resizeBilinear(x, [3, 3], { path });
    expect(maxAbsDiff(out.dataSync(), [0, 0.5, 1, 1, 1.75, 2.5, 2, 3, 4])).toBeLessThan(1e-6);
    tf.dispose([x, out]);
  });

  it.each(
    PATHS,
  )('resizeBilinear (%s) matches a float32 torch reference on random data; tf.image.resizeBilinear deviation is logged', (path) => {
    for (const [h, w, oh, ow] of [
      [21, 21, 42, 42],
      [42, 42, 63, 63],
      [13, 17, 6, 7],
      [4, 6, 13, 11],
      [1, 5, 3, 8],
    ] as const) {
      for (const ac of [false, true]) {
        const c = 3;
        const data = values(h * w * c, h * 1000 + w * 10 + oh);
        const x = tf.tensor4d(data, [1, h, w, c]);
        const out = resizeBilinear(x, [oh, ow], { alignCorners: ac, path });
        const got = out.dataSync();
        // reference per channel, interleaved back to NHWC
        let err = 0;
        for (let ch = 0; ch < c; ch++) {
          const plane = Float32Array.from({ length: h * w }, (_, p) => data[p * c + ch]!);
          const ref = torchBilinearRef(plane, h, w, oh, ow, ac);
          for (let p = 0; p < oh * ow; p++) err = Math.max(err, Math.abs(got[p * c + ch]! - ref[p]!));
        }
        expect(err).toBeLessThan(1e-6);
        const tfOut = tf.image.resizeBilinear(x, [oh, ow], ac, !ac);
        const tfErr = tf.tidy(() => tf.max(tf.abs(tf.sub(tfOut, out))).dataSync()[0]!);
        if (tfErr > 1e-6)
          console.log(
            `[resize ${backend}] ${h}x${w}→${oh}x${ow} ac=${ac}: ours vs torch-ref ${err.toExponential(2)}, tf.image.resizeBilinear vs ours ${tfErr.toExponential(2)}`,
          );
        tf.dispose([x, out, tfOut]);
      }
    }
  });

  it.each(PATHS)('resizeNearest (%s) hand-computed up 3x4→5x7 and down 5x7→3x4, plus the 6→74 float32 case', (path) => {
    for (const [h, w, oh, ow, rows, cols] of [
      [3, 4, 5, 7, [0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2, 3]],
      [5, 7, 3, 4, [0, 1, 3], [0, 1, 3, 5]],
      [6, 2, 74, 4, Array.from({ length: 74 }, (_, d) => (d === 37 ? 2 : Math.floor((d * 6) / 74))), [0, 0, 1, 1]],
    ] as const) {
      const x = ramp(h, w, 100);
      const before = tf.memory().numTensors;
      const out = resizeNearest(x, [oh, ow], { path });
      expect(out.shape).toEqual([1, oh, ow, 1]);
      expect(Array.from(out.dataSync())).toEqual(Array.from(rampExpected([...rows], [...cols], 100)));
      out.dispose();
      expect(tf.memory().numTensors).toBe(before);
      // Document the backend deviation this op avoids (see resize.ts): tfjs cpu differs at 6→74.
      const tfOut = tf.image.resizeNearestNeighbor(x, [oh, ow], false, false);
      const expected = rampExpected([...rows], [...cols], 100);
      const diff = Array.from(tfOut.dataSync()).filter((v, i) => v !== expected[i]).length;
      if (diff > 0)
        console.log(
          `[resize ${backend}] tf.image.resizeNearestNeighbor ${h}x${w}→${oh}x${ow}: ${diff} pixels differ from torch`,
        );
      tf.dispose([x, tfOut]);
    }
  });

  it.each(PATHS)('same size is the identity (%s)', (path) => {
    const x = tf.tensor4d(values(2 * 3 * 5 * 2, 9), [2, 3, 5, 2]);
    const a = resizeBilinear(x, [3, 5], { path });
    const b = resizeNearest(x, [3, 5], { path });
    expect(Array.from(a.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(Array.from(b.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, a, b]);
  });

  it('the fused same-size resize is a tensor of its own: writing its values leaves the input as it was', () => {
    const x = tf.tensor4d(values(1 * 3 * 4 * 2, 10), [1, 3, 4, 2]);
    const first = x.dataSync()[0]!;
    for (const y of [resizeBilinear(x, [3, 4], { path: 'fused' }), resizeNearest(x, [3, 4], { path: 'fused' })]) {
      // on cpu dataSync returns the backing array itself: an aliased input would change with it
      y.dataSync()[0] = first + 1;
      expect(x.dataSync()[0]).toBe(first);
      y.dispose();
    }
    x.dispose();
  });

  it('the fused kernels equal the composites bit for bit (batch 2, 5 channels, up, down, one axis only)', async () => {
    const x = tf.tensor4d(values(2 * 9 * 13 * 5, 77), [2, 9, 13, 5]);
    const before = tf.memory().numTensors;
    for (const size of [
      [17, 31],
      [4, 6],
      [9, 20],
      [20, 13],
      [1, 1],
      [3, 40],
    ] as const) {
      for (const alignCorners of [false, true]) {
        const fused = resizeBilinear(x, size, { alignCorners, path: 'fused' });
        const composite = resizeBilinear(x, size, { alignCorners, path: 'composite' });
        const auto = resizeBilinear(x, size, { alignCorners });
        expect(fused.shape).toEqual([2, size[0], size[1], 5]);
        expect(Array.from(fused.dataSync())).toEqual(Array.from(composite.dataSync()));
        expect(Array.from(auto.dataSync())).toEqual(Array.from(fused.dataSync()));
        tf.dispose([fused, composite, auto]);
      }
      const fused = resizeNearest(x, size, { path: 'fused' });
      const composite = resizeNearest(x, size, { path: 'composite' });
      expect(Array.from(fused.dataSync())).toEqual(Array.from(composite.dataSync()));
      tf.dispose([fused, composite]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // the default for inference on cpu and wasm is the fused kernel, nothing else
    expect((await tf.profile(() => resizeBilinear(x, [17, 31]))).kernelNames).toEqual([RESIZE_BILINEAR_KERNEL]);
    expect((await tf.profile(() => resizeNearest(x, [17, 31]))).kernelNames).toEqual([RESIZE_NEAREST_KERNEL]);
    x.dispose();
  });

  it('rejects bad inputs with typed errors', () => {
    const x = tf.zeros([1, 3, 4, 2]) as tf.Tensor4D;
    const r3 = tf.zeros([3, 4, 2]) as unknown as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => resizeBilinear(r3, [5, 7])).toThrow(ShapeError);
    expect(() => resizeNearest(r3, [5, 7])).toThrow(ShapeError);
    expect(() => resizeBilinear(x, [0, 7])).toThrow(InvalidArgumentError);
    expect(() => resizeNearest(x, [2.5, 7])).toThrow(InvalidArgumentError);
    expect(() => resizeNearest(x, [5] as unknown as [number, number])).toThrow(InvalidArgumentError);
    const badPath = { path: 'gpu' } as unknown as { path: 'fused' };
    expect(() => resizeBilinear(x, [5, 7], badPath)).toThrow(/path must be 'fused' or 'composite'/);
    expect(() => resizeNearest(x, [5, 7], badPath)).toThrow(InvalidArgumentError);
    const xi = tf.zeros([1, 3, 4, 2], 'int32') as tf.Tensor4D;
    expect(() => resizeNearest(xi, [5, 7], { path: 'fused' })).toThrow(/takes float32, got int32/);
    const ni = resizeNearest(xi, [5, 7]); // int32 maps take the composite
    expect(ni.dtype).toBe('int32');
    tf.dispose([xi, ni]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, r3]);
  });
});

// cpu only: on wasm the composite has no gradient either (tfjs-backend-wasm 4.22 lacks GatherV2's, see resize.ts)
describe('resize under a gradient (cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  it('under a gradient the composite runs (the fused kernels have none): d/dx of a resize is its adjoint', () => {
    // Σ_out g·resize(x) = Σ_in x·resizeᵀ(g): with g = 1, each input value's gradient is the total weight it
    // gets, and the weights of each output value sum to 1, so the gradients sum to the output count.
    const x = tf.tensor4d(values(1 * 4 * 5 * 2, 5), [1, 4, 5, 2]);
    const resizes = [
      (t: tf.Tensor) => resizeBilinear(t as tf.Tensor4D, [7, 9]),
      (t: tf.Tensor) => resizeNearest(t as tf.Tensor4D, [7, 9]),
    ];
    for (const f of resizes) {
      const total = tf.tidy(() => tf.sum(tf.grad((t: tf.Tensor) => tf.sum(f(t)))(x)).dataSync()[0]);
      expect(total).toBeCloseTo(7 * 9 * 2, 4);
    }
    x.dispose();
  });
});
