/** Test support (not published): the vendored fixtures and the tolerance check both GLMix test files use. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { readSafetensors, type TensorData, toFloat32 } from '@dynavit/core';
import { compareArrays } from '@dynavit/core/testing';
import { expect } from 'vitest';

export const fixtures = fileURLToPath(new URL('../__fixtures__/', import.meta.url));
/** A safetensors file under src/__fixtures__/ (path relative to it). */
export const readFixture = (p: string) => readSafetensors(new Uint8Array(readFileSync(fixtures + p)), p);

export const tensor = (t: TensorData) => tf.tensor(toFloat32(t), t.shape);
/** An NCHW reference tensor as NHWC. */
export const nhwc = (t: TensorData) => tf.tidy(() => tf.transpose(tensor(t), [0, 2, 3, 1])) as tf.Tensor4D;
export const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);

/**
 * max|got − ref| ≤ tol·max(1, max|ref|); returns the max error. The default 2e-5 is the spec's float32
 * bound: tight enough that a tanh GELU (1e-4…3e-4 relative) or a floor-ended pooling bin fails here, at the step.
 */
export function expectClose(got: tf.Tensor, ref: TensorData, name: string, tol = 2e-5): number {
  expect(got.shape, name).toEqual(ref.shape);
  const r = compareArrays(name, ref.shape, got.dataSync(), toFloat32(ref), tol);
  expect(r.maxAbs, `${name}: max|out-ref| ${r.maxAbs} (max|ref| ${r.maxRef})`).toBeLessThanOrEqual(
    tol * Math.max(1, r.maxRef),
  );
  return r.maxAbs;
}
