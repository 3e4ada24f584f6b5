/** Host-side feature maps: NHWC data read back from the device, and NCHW conversions for goldens. */
import type * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@dynavit/core';
import type { HostFeatureMap } from './roi-align.js';
import type { Steps } from './steps.js';

/** Wrap NHWC data [B, H, W, C] read back from a tensor. */
export function hostMap(data: Float32Array, shape: readonly number[]): HostFeatureMap {
  if (shape.length !== 4) throw new ShapeError('hostMap', 'shape', 'rank 4 [B,H,W,C]', `[${shape.join(',')}]`);
  const [batch, height, width, channels] = shape as [number, number, number, number];
  if (data.length !== batch * height * width * channels)
    throw new ShapeError('hostMap', 'data', `${batch * height * width * channels} numbers`, `${data.length}`);
  return { data, batch, height, width, channels };
}

/** A pipeline step that reads NHWC maps back to the host (the driver disposes the tensors). */
export function* readMaps(maps: readonly tf.Tensor4D[]): Steps<HostFeatureMap[]> {
  const shapes = maps.map((t) => t.shape);
  const host = yield [...maps];
  return host.map((d, i) => hostMap(d, shapes[i]!));
}

/** NCHW data [B, C, H, W] (golden layout) → host map (NHWC). */
export function hostMapFromNchw(data: ArrayLike<number>, shape: readonly number[]): HostFeatureMap {
  if (shape.length !== 4) throw new ShapeError('hostMapFromNchw', 'shape', 'rank 4 [B,C,H,W]', `[${shape.join(',')}]`);
  const [B, C, H, W] = shape as [number, number, number, number];
  const out = new Float32Array(B * H * W * C);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++) {
      const src = (b * C + c) * H * W;
      for (let p = 0; p < H * W; p++) out[(b * H * W + p) * C + c] = data[src + p]!;
    }
  return { data: out, batch: B, height: H, width: W, channels: C };
}

/** Host map → NCHW data and shape. */
export function toNchw(m: HostFeatureMap): { data: Float32Array; shape: [number, number, number, number] } {
  const { batch: B, height: H, width: W, channels: C } = m;
  const out = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++)
    for (let p = 0; p < H * W; p++) {
      const src = (b * H * W + p) * C;
      for (let c = 0; c < C; c++) out[(b * C + c) * H * W + p] = m.data[src + c]!;
    }
  return { data: out, shape: [B, C, H, W] };
}
