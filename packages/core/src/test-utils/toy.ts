/** Test-only: a toy staged classifier/backbone (two stride-2 conv stages), enough to exercise the contracts. */
import * as tf from '@tensorflow/tfjs-core';
import type { FeatureInfo } from '../contracts.js';
import { LayerNormProxy } from '../nn/blocks.js';
import { Conv2d, type Layer, Linear } from '../nn/layers.js';
import { type Module, ModuleList } from '../nn/module.js';
import { StagedModel, stageSizes } from '../nn/staged-model.js';

export class Toy extends StagedModel {
  readonly kind: 'classifier' | 'backbone';
  readonly convs: ModuleList<Conv2d>;
  readonly norms: ModuleList<Module & Layer> | null = null;
  readonly head_fc: Linear | null = null;
  readonly featureInfo: readonly FeatureInfo[];
  readonly numClasses: number;
  constructor(
    readonly width: number,
    numClasses: number,
    dense = false,
  ) {
    super('Toy');
    this.kind = dense ? 'backbone' : 'classifier';
    this.convs = this.child(
      'convs',
      new ModuleList([
        new Conv2d(3, width, 3, { stride: 4, padding: 1 }),
        new Conv2d(width, width, 3, { stride: 2, padding: 1 }),
      ]),
    );
    if (dense)
      this.norms = this.child(
        'norms',
        new ModuleList<Module & Layer>([new LayerNormProxy(width), new LayerNormProxy(width)]),
      );
    else this.head_fc = this.child('head_fc', new Linear(width, numClasses));
    this.numClasses = dense ? 0 : numClasses;
    this.featureInfo = [4, 8].map((reduction, i) => ({ channels: width, reduction, module: `convs.${i}` }));
  }
  featureSizes(side: number): number[] {
    return stageSizes(side, true, 2);
  }
  protected downsample(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return this.convs.at(i).forward(x) as tf.Tensor4D;
  }
  protected stage(_i: number, x: tf.Tensor4D): tf.Tensor4D {
    return tf.relu(x);
  }
  protected get outputNorms(): ModuleList<Module & Layer> | null {
    return this.norms;
  }
  protected applyHead(last: tf.Tensor4D): tf.Tensor2D {
    return this.head_fc!.forward(tf.mean(last, [1, 2])) as tf.Tensor2D;
  }
}
