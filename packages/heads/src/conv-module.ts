/**
 * mmcv `ConvModule`: conv → optional BatchNorm (named `bn`) → optional ReLU. The conv has a bias iff
 * there is no norm (mmcv's `bias='auto'`). Keys `<m>.conv.weight`, `<m>.conv.bias`, `<m>.bn.*`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm2d, Conv2d, type Layer, Module } from '@dynavit/core';

export interface ConvModuleOptions {
  stride?: number;
  padding?: number;
  /** add BatchNorm (mmcv SyncBN/BN: same keys, eval semantics) */
  norm?: boolean;
  /** ReLU after conv (and norm) */
  act?: boolean;
}

export class ConvModule extends Module implements Layer {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d | null;
  readonly act: boolean;
  constructor(inChannels: number, outChannels: number, kernelSize: number, opts: ConvModuleOptions = {}) {
    super();
    const norm = opts.norm ?? false;
    this.conv = this.child(
      'conv',
      new Conv2d(inChannels, outChannels, kernelSize, {
        stride: opts.stride ?? 1,
        padding: opts.padding ?? 0,
        bias: !norm,
      }),
    );
    this.bn = norm ? this.child('bn', new BatchNorm2d(outChannels)) : null;
    this.act = opts.act ?? false;
  }
  forward(x: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => {
      let y = this.conv.forward(x);
      if (this.bn) y = this.bn.forward(y) as tf.Tensor4D;
      return this.act ? tf.relu(y) : y;
    });
  }
}
