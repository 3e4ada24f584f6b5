/**
 * Blocks that more than one family's official code shares (DeBiFormer reuses DAT's): their parameters
 * carry the official key segments.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, gelu, type Layer, LayerNorm, Sequential } from './layers.js';
import { Module, type ModuleList } from './module.js';

/**
 * A channel LayerNorm (eps 1e-5) whose parameters sit one level down, under `key`: DAT's
 * `LayerNormProxy` (`.norm`) and the dense backbones' `LayerNorm2d` (DeBiFormer: `.ln`).
 */
export class WrappedLayerNorm extends Module implements Layer {
  readonly inner: LayerNorm;
  constructor(dim: number, key: string, eps = 1e-5) {
    super();
    this.inner = this.child(key, new LayerNorm(dim, eps));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.inner.forward(x);
  }
}

/** DAT's `LayerNormProxy`: nn.LayerNorm(C, eps 1e-5) over channels, its parameters under `.norm`. */
export class LayerNormProxy extends WrappedLayerNorm {
  constructor(dim: number) {
    super(dim, 'norm');
  }
}

/**
 * DAT's `TransformerMLPWithConv` (ConvFFN): 1×1 conv up to `hidden`, h + DWConv3×3(h), GELU after the
 * add, 1×1 conv down. Keys `linear1.0.*`, `linear2.0.*`, `dwc.*` (registered in that order).
 */
export class TransformerMLPWithConv extends Module implements Layer {
  readonly linear1: Sequential;
  readonly linear2: Sequential;
  readonly dwc: Conv2d;
  constructor(dim: number, hidden: number) {
    super();
    this.linear1 = this.child('linear1', new Sequential([new Conv2d(dim, hidden, 1)]));
    this.linear2 = this.child('linear2', new Sequential([new Conv2d(hidden, dim, 1)]));
    this.dwc = this.child('dwc', new Conv2d(hidden, hidden, 3, { padding: 1, groups: hidden }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = this.linear1.forward(x);
      return this.linear2.forward(gelu(tf.add(h, this.dwc.forward(h))));
    });
  }
}

/**
 * The output norms of a dense backbone (DAT's `norms.i`, the BiFormer-style `extra_norms.i`): norm i
 * on feature map i, or the maps unchanged when the model has none (a classifier's raw stage outputs).
 */
export function applyOutputNorms(features: tf.Tensor4D[], norms: ModuleList<Module & Layer> | null): tf.Tensor4D[] {
  return norms ? features.map((t, i) => norms.at(i).forward(t) as tf.Tensor4D) : features;
}
