import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError, ShapeError } from '../errors.js';
import { TEST_BACKENDS, useBackend } from '../test-utils/backends.js';
import { gatherBatched, gatherRows, topKIndices } from './gather.js';

describe.each(TEST_BACKENDS)('top-k and gathers on %s', (backend) => {
  beforeAll(() => useBackend(backend));

  it('topKIndices: descending, ties resolved to the lower index', () => {
    const x = tf.tensor2d([
      [1, 3, 3, 2, 3, 0, 3],
      [5, 5, 5, 5, 5, 5, 5],
      [0.5, -1, 2, 0.25, -3, 7, 1],
    ]);
    const before = tf.memory().numTensors;
    const idx = topKIndices(x, 4);
    expect(idx.dtype).toBe('int32');
    expect(idx.arraySync()).toEqual([
      [1, 2, 4, 6], // four 3s, in index order
      [0, 1, 2, 3], // all equal
      [5, 2, 6, 0], // 7, 2, 1, 0.5
    ]);
    idx.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // A longer row, where tfjs's cpu kernel takes its select-then-sort path.
    const long = tf.tensor2d([Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? 1 : 0))]);
    const li = topKIndices(long, 10);
    expect(li.arraySync()).toEqual([[0, 7, 14, 21, 28, 35, 42, 49, 56, 63]]);
    tf.dispose([x, long, li]);
  });

  it('gatherRows [2, 4, 3] with idx [2, 5] (K ≠ B: the case wasm batchDims gets wrong)', () => {
    const x = tf.tensor3d(
      Array.from({ length: 24 }, (_, i) => i),
      [2, 4, 3],
    );
    const idx = tf.tensor2d(
      [
        [3, 0, 0, 2, 1],
        [1, 3, 2, 0, 3],
      ],
      [2, 5],
      'int32',
    );
    const before = tf.memory().numTensors;
    const out = gatherRows(x, idx);
    expect(out.shape).toEqual([2, 5, 3]);
    const row = (b: number, n: number) => [0, 1, 2].map((c) => 12 * b + 3 * n + c);
    expect(Array.from(out.dataSync())).toEqual([
      ...[3, 0, 0, 2, 1].flatMap((n) => row(0, n)),
      ...[1, 3, 2, 0, 3].flatMap((n) => row(1, n)),
    ]);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, idx]);
  });

  it('gatherBatched regions [2, 3, 2, 1] with routing idx [2, 3, 2] → [2, 3, 2, 2, 1]', () => {
    // x[b, p, t, 0] = 100·b + 10·p + t; out[b, s, j] = x[b, idx[b, s, j]]
    const x = tf.tensor4d(
      Array.from({ length: 12 }, (_, i) => 100 * Math.floor(i / 6) + 10 * (Math.floor(i / 2) % 3) + (i % 2)),
      [2, 3, 2, 1],
    );
    const routing = [
      [
        [2, 0],
        [1, 1],
        [0, 2],
      ],
      [
        [1, 2],
        [2, 1],
        [0, 0],
      ],
    ];
    const idx = tf.tensor3d(routing, [2, 3, 2], 'int32');
    const before = tf.memory().numTensors;
    const out = gatherBatched(x, idx);
    expect(out.shape).toEqual([2, 3, 2, 2, 1]);
    const expected = routing.flatMap((rb, b) =>
      rb.flatMap((rs) => rs.flatMap((p) => [100 * b + 10 * p, 100 * b + 10 * p + 1])),
    );
    expect(Array.from(out.dataSync())).toEqual(expected);
    out.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, idx]);
  });

  it('the fused row copy (float32 inference) equals tf.gather on a KV-gather shape; a bad index is a typed error', () => {
    // DBRA's KVGather: regions [B, P, T, 2C] with routing [B, P, topk]
    const [b, p, t, c, topk] = [2, 9, 16, 24, 4];
    const x = tf.randomUniform([b, p, t, 2 * c], -1, 1, 'float32', 7);
    const idx = tf.randomUniform([b, p, topk], 0, p, 'int32', 8) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    const fused = gatherBatched(x, idx);
    // the reference: tf.gather per batch
    const ref = tf.tidy(() =>
      tf.stack(
        [0, 1].map((i) =>
          tf.reshape(tf.gather(tf.gather(x, i), tf.reshape(tf.gather(idx, i), [p * topk])), [p, topk, t, 2 * c]),
        ),
      ),
    );
    expect(fused.shape).toEqual([b, p, topk, t, 2 * c]);
    expect(Array.from(fused.dataSync())).toEqual(Array.from(ref.dataSync()));
    tf.dispose([fused, ref]);
    expect(tf.memory().numTensors).toBe(before);
    const bad = tf.tensor2d([[0, 4]], [1, 2], 'int32');
    const x1 = tf.zeros([1, 4, 3]);
    expect(() => gatherRows(x1, bad)).toThrow(/^gather: index 4 is out of range \[0, 4\) \(batch 0\)$/);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([x, idx, bad, x1]);
  });

  it('rejects bad inputs with typed errors', () => {
    const x = tf.zeros([2, 4, 3]);
    const i1 = tf.tensor1d([0, 1], 'int32') as unknown as tf.Tensor2D;
    const iF = tf.zeros([2, 2]) as tf.Tensor2D;
    const iB = tf.zeros([3, 2], 'int32') as tf.Tensor2D;
    const i3 = tf.zeros([2, 2, 2], 'int32') as tf.Tensor3D;
    const x1 = tf.zeros([4]);
    const before = tf.memory().numTensors;
    expect(() => gatherRows(x, i1)).toThrow(ShapeError);
    expect(() => gatherRows(x, iF)).toThrow(InvalidArgumentError);
    expect(() => gatherRows(x, iB)).toThrow(ShapeError);
    expect(() => gatherBatched(x, iB as unknown as tf.Tensor3D)).toThrow(ShapeError);
    expect(() => gatherBatched(x1, i3)).toThrow(ShapeError);
    expect(() => topKIndices(x, 5)).toThrow(InvalidArgumentError);
    expect(() => topKIndices(tf.scalar(1), 1)).toThrow(ShapeError);
    expect(tf.memory().numTensors).toBe(before + 1); // the inline scalar
    tf.dispose([x, i1, iF, iB, i3, x1]);
  });
});
