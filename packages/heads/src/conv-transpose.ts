/**
 * torch `nn.ConvTranspose2d` for the non-overlapping case kernel = stride, padding 0 (the FCN mask
 * head's 2×2 stride-2 deconv). The weight keeps PyTorch's layout [in, out, kh, kw] (so the state
 * dict round-trips) and the op is one matmul: out[b, k·i + a, k·j + c, o] =
 * Σ_in x[b, i, j, in] · W[in, o, a, c] + bias[o].
 * candidate for core: a generic layer (core's Conv2d covers only forward convolutions).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type Layer, Module, type Parameter, ShapeError } from '@dynavit/core';

export class ConvTranspose2d extends Module implements Layer {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: { stride?: number; bias?: boolean } = {},
  ) {
    super();
    const stride = opts.stride ?? kernelSize;
    if (stride !== kernelSize)
      throw new InvalidArgumentError(
        `ConvTranspose2d: only kernel = stride (non-overlapping) is supported, got kernel ${kernelSize}, stride ${stride}`,
      );
    this.weight = this.param('weight', [inChannels, outChannels, kernelSize, kernelSize], 'identity');
    this.bias = (opts.bias ?? true) ? this.param('bias', [outChannels]) : null;
  }

  /** x [B,H,W,in] → [B, k·H, k·W, out] */
  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels)
      throw new ShapeError('ConvTranspose2d', 'x', `[B,H,W,${this.inChannels}]`, `[${x.shape.join(',')}]`);
    const [B, H, W] = x.shape as [number, number, number, number];
    const k = this.kernelSize;
    const O = this.outChannels;
    return tf.tidy(() => {
      // [in, out, a, c] → [in, a, c, out] → [in, a·c·out]
      const w = tf.reshape(tf.transpose(this.weight.value, [0, 2, 3, 1]), [this.inChannels, k * k * O]) as tf.Tensor2D;
      let y: tf.Tensor = tf.matMul(tf.reshape(x, [B * H * W, this.inChannels]) as tf.Tensor2D, w); // [(b,i,j), (a,c,o)]
      y = tf.reshape(y, [B * H, W, k, k * O]); // [(b,i), j, a, (c,o)]
      y = tf.transpose(y, [0, 2, 1, 3]); // [(b,i), a, j, (c,o)]
      y = tf.reshape(y, [B, H * k, W * k, O]);
      return (this.bias ? tf.add(y, this.bias.value) : y) as tf.Tensor4D;
    });
  }
}
