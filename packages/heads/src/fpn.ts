/**
 * FPN neck (Lin et al., CVPR 2017) as mmdet 2.x / mmseg 0.x build it (`necks/fpn.py`): lateral 1×1
 * convs, nearest top-down pathway, 3×3 output convs, and extra levels either by stride-2 subsampling
 * of the last output (`add_extra_convs: false`) or by stride-2 3×3 convs on the input / lateral /
 * output (`'on_input' | 'on_lateral' | 'on_output'`). No norm, no activation (paper configs).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, Module, ModuleList, ShapeError, resizeNearest } from '@dynavit/core';
import { ConvModule } from './conv-module.js';

export type ExtraConvs = false | 'on_input' | 'on_lateral' | 'on_output';

export interface FPNConfig {
  /** channels of each backbone level, finest first */
  inChannels: readonly number[];
  outChannels: number;
  numOuts: number;
  /** first backbone level used (RetinaNet in DAT/BiFormer: 1) */
  startLevel?: number;
  addExtraConvs?: ExtraConvs;
}

export class FPN extends Module {
  readonly lateral_convs: ModuleList<ConvModule>;
  readonly fpn_convs: ModuleList<ConvModule>;
  readonly startLevel: number;
  readonly extra: ExtraConvs;
  constructor(readonly config: FPNConfig) {
    super();
    const { inChannels, outChannels: F, numOuts } = config;
    this.startLevel = config.startLevel ?? 0;
    this.extra = config.addExtraConvs ?? false;
    const used = inChannels.length - this.startLevel;
    if (used < 1 || numOuts < used)
      throw new InvalidArgumentError(
        `FPN: num_outs ${numOuts} must be ≥ the ${used} levels used (start_level ${this.startLevel})`,
      );
    this.lateral_convs = this.child(
      'lateral_convs',
      new ModuleList(inChannels.slice(this.startLevel).map((c) => new ConvModule(c, F, 1))),
    );
    const convs = inChannels.slice(this.startLevel).map(() => new ConvModule(F, F, 3, { padding: 1 }));
    if (this.extra)
      for (let j = 0; j < numOuts - used; j++) {
        const inC = j === 0 && this.extra === 'on_input' ? inChannels[inChannels.length - 1]! : F;
        convs.push(new ConvModule(inC, F, 3, { stride: 2, padding: 1 }));
      }
    this.fpn_convs = this.child('fpn_convs', new ModuleList(convs));
  }

  /** C_startLevel … C_last (NHWC) → numOuts maps [B, h_i, w_i, outChannels], finest first. */
  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D[] {
    const { inChannels, numOuts } = this.config;
    if (inputs.length !== inChannels.length)
      throw new ShapeError('FPN', 'inputs', `${inChannels.length} feature maps`, `${inputs.length}`);
    inputs.forEach((x, i) => {
      if (x.rank !== 4 || x.shape[3] !== inChannels[i])
        throw new ShapeError('FPN', `inputs[${i}]`, `[B,H,W,${inChannels[i]}]`, `[${x.shape.join(',')}]`);
    });
    return tf.tidy(() => {
      const s = this.startLevel;
      const lat = this.lateral_convs.items.map((conv, i) => conv.forward(inputs[s + i]!));
      for (let i = lat.length - 1; i > 0; i--) {
        const [, h, w] = lat[i - 1]!.shape;
        lat[i - 1] = tf.add(lat[i - 1]!, resizeNearest(lat[i]!, [h, w]));
      }
      const outs = lat.map((l, i) => this.fpn_convs.at(i).forward(l));
      if (numOuts > outs.length) {
        if (!this.extra) {
          // max_pool2d(kernel 1, stride 2) = every other pixel, size ⌈n/2⌉
          while (outs.length < numOuts) outs.push(tf.maxPool(outs[outs.length - 1]!, 1, 2, 'valid'));
        } else {
          const src =
            this.extra === 'on_input'
              ? inputs[inputs.length - 1]!
              : this.extra === 'on_lateral'
                ? lat[lat.length - 1]!
                : outs[outs.length - 1]!;
          outs.push(this.fpn_convs.at(outs.length).forward(src));
          while (outs.length < numOuts) outs.push(this.fpn_convs.at(outs.length).forward(outs[outs.length - 1]!));
        }
      }
      return outs;
    });
  }
}
