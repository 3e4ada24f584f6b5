/**
 * Segmentation decode heads as mmseg 0.x builds them (Semantic FPN's `FPNHead`, UperNet's `UPerHead`
 * with its pyramid pooling module, and the `FCNHead` auxiliary head). All bilinear resizes are
 * align_corners=False (core's `resizeBilinear` reproduces torch exactly). Inputs and outputs NHWC.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  adaptiveAvgPool2d,
  Conv2d,
  InvalidArgumentError,
  type Layer,
  Module,
  ModuleList,
  ShapeError,
  resizeBilinear,
} from '@dynavit/core';
import { ConvModule } from './conv-module.js';

const sizeOf = (t: tf.Tensor4D): [number, number] => [t.shape[1], t.shape[2]];

function checkLevels(op: string, xs: readonly tf.Tensor4D[], channels: readonly number[]): void {
  if (xs.length !== channels.length)
    throw new ShapeError(op, 'inputs', `${channels.length} feature maps`, `${xs.length}`);
  xs.forEach((x, i) => {
    if (x.rank !== 4 || x.shape[3] !== channels[i])
      throw new ShapeError(op, `inputs[${i}]`, `[B,H,W,${channels[i]}]`, `[${x.shape.join(',')}]`);
  });
}

/** A parameter-free 2× bilinear upsample (mmseg `Upsample(scale_factor=2)`: size int(dim·2)). */
class Upsample2x extends Module implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    const t = x as tf.Tensor4D;
    return resizeBilinear(t, [t.shape[1] * 2, t.shape[2] * 2]);
  }
}

class SequentialLayers extends ModuleList<Module & Layer> implements Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.items.reduce((h, m) => m.forward(h), x));
  }
}

/** What every mmseg decode head has (`BaseDecodeHead`): `channels` wide features, `numClasses` logits. */
export interface DecodeHeadConfig {
  channels: number;
  numClasses: number;
}

/** mmseg `BaseDecodeHead`: the 1×1 `conv_seg` classifier (registered first, as in mmseg's state dicts). */
export abstract class DecodeHead extends Module {
  readonly conv_seg: Conv2d;
  constructor({ channels, numClasses }: DecodeHeadConfig) {
    super();
    this.conv_seg = this.child('conv_seg', new Conv2d(channels, numClasses, 1));
  }

  /** input levels (NHWC) → logits [B, h, w, numClasses] */
  abstract forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D;
}

export interface SemanticFPNHeadConfig extends DecodeHeadConfig {
  /** channels of each input level (the FPN's output channels) */
  inChannels: readonly number[];
  /** strides of the levels, e.g. [4, 8, 16, 32] */
  featureStrides: readonly number[];
}

/** Semantic FPN head (Kirillov et al., 2019; mmseg `FPNHead`). */
export class FPNHead extends DecodeHead {
  readonly scale_heads: ModuleList<SequentialLayers>;
  constructor(readonly config: SemanticFPNHeadConfig) {
    super(config);
    const { inChannels, featureStrides, channels } = config;
    this.scale_heads = this.child(
      'scale_heads',
      new ModuleList(
        featureStrides.map((s, i) => {
          const length = Math.max(1, Math.round(Math.log2(s) - Math.log2(featureStrides[0]!)));
          const layers: (Module & Layer)[] = [];
          for (let k = 0; k < length; k++) {
            layers.push(
              new ConvModule(k === 0 ? inChannels[i]! : channels, channels, 3, { padding: 1, norm: true, act: true }),
            );
            if (featureStrides[i] !== featureStrides[0]) layers.push(new Upsample2x());
          }
          return new SequentialLayers(layers);
        }),
      ),
    );
  }

  /** P2..P5 → { feats [B,H/4,W/4,channels], logits [B,H/4,W/4,numClasses] } */
  run(inputs: readonly tf.Tensor4D[]): { feats: tf.Tensor4D; logits: tf.Tensor4D; scaleHeads: tf.Tensor4D[] } {
    checkLevels('FPNHead', inputs, this.config.inChannels);
    return tf.tidy(() => {
      const first = this.scale_heads.at(0).forward(inputs[0]!) as tf.Tensor4D;
      const scaleHeads = [first];
      let out = first;
      for (let i = 1; i < inputs.length; i++) {
        const s = resizeBilinear(this.scale_heads.at(i).forward(inputs[i]!) as tf.Tensor4D, sizeOf(first));
        scaleHeads.push(s);
        out = tf.add(out, s);
      }
      return { feats: out, logits: this.conv_seg.forward(out), scaleHeads };
    }) as { feats: tf.Tensor4D; logits: tf.Tensor4D; scaleHeads: tf.Tensor4D[] };
  }

  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D {
    const r = this.run(inputs);
    tf.dispose([r.feats, ...r.scaleHeads]);
    return r.logits;
  }
}

export interface UPerHeadConfig extends DecodeHeadConfig {
  inChannels: readonly number[];
  poolScales?: readonly number[];
}

/** A pyramid pooling branch: index 0 is the parameter-free adaptive pool, index 1 the 1×1 ConvModule. */
class PPMBranch extends ModuleList<Module> {
  constructor(
    readonly scale: number,
    inChannels: number,
    channels: number,
  ) {
    super([new Module(), new ConvModule(inChannels, channels, 1, { norm: true, act: true })]);
  }
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() =>
      resizeBilinear((this.at(1) as ConvModule).forward(adaptiveAvgPool2d(x, this.scale)), sizeOf(x)),
    );
  }
}

/** UperNet head (Xiao et al., ECCV 2018; mmseg `UPerHead` with `PPM`). */
export class UPerHead extends DecodeHead {
  readonly psp_modules: ModuleList<PPMBranch>;
  readonly bottleneck: ConvModule;
  readonly lateral_convs: ModuleList<ConvModule>;
  readonly fpn_convs: ModuleList<ConvModule>;
  readonly fpn_bottleneck: ConvModule;
  constructor(readonly config: UPerHeadConfig) {
    super(config);
    const { inChannels, channels: ch } = config;
    const scales = config.poolScales ?? [1, 2, 3, 6];
    const c5 = inChannels[inChannels.length - 1]!;
    const cm = (i: number, o: number, k: number) =>
      new ConvModule(i, o, k, { padding: k === 3 ? 1 : 0, norm: true, act: true });
    this.psp_modules = this.child('psp_modules', new ModuleList(scales.map((s) => new PPMBranch(s, c5, ch))));
    this.bottleneck = this.child('bottleneck', cm(c5 + scales.length * ch, ch, 3));
    this.lateral_convs = this.child('lateral_convs', new ModuleList(inChannels.slice(0, -1).map((c) => cm(c, ch, 1))));
    this.fpn_convs = this.child('fpn_convs', new ModuleList(inChannels.slice(0, -1).map(() => cm(ch, ch, 3))));
    this.fpn_bottleneck = this.child('fpn_bottleneck', cm(inChannels.length * ch, ch, 3));
  }

  /** C2..C5 → logits [B,H/4,W/4,numClasses] with the intermediates the goldens record. */
  run(inputs: readonly tf.Tensor4D[]): {
    pspOut: tf.Tensor4D;
    laterals: tf.Tensor4D[];
    feats: tf.Tensor4D;
    logits: tf.Tensor4D;
  } {
    checkLevels('UPerHead', inputs, this.config.inChannels);
    return tf.tidy(() => {
      const x = inputs[inputs.length - 1]!;
      const pspOut = this.bottleneck.forward(tf.concat([x, ...this.psp_modules.items.map((b) => b.forward(x))], 3));
      const lat: tf.Tensor4D[] = [...this.lateral_convs.items.map((c, i) => c.forward(inputs[i]!)), pspOut];
      for (let i = lat.length - 1; i > 0; i--)
        lat[i - 1] = tf.add(lat[i - 1]!, resizeBilinear(lat[i]!, sizeOf(lat[i - 1]!)));
      const outs = [...lat.slice(0, -1).map((l, i) => this.fpn_convs.at(i).forward(l)), lat[lat.length - 1]!];
      const size = sizeOf(outs[0]!);
      const feats = this.fpn_bottleneck.forward(
        tf.concat(
          outs.map((o, i) => (i === 0 ? o : resizeBilinear(o, size))),
          3,
        ),
      );
      return { pspOut, laterals: lat, feats, logits: this.conv_seg.forward(feats) };
    }) as { pspOut: tf.Tensor4D; laterals: tf.Tensor4D[]; feats: tf.Tensor4D; logits: tf.Tensor4D };
  }

  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D {
    const r = this.run(inputs);
    tf.dispose([r.pspOut, ...r.laterals, r.feats]);
    return r.logits;
  }
}

export interface FCNHeadConfig extends DecodeHeadConfig {
  inChannels: number;
  /** which backbone level it reads (UperNet configs: 2) */
  inIndex: number;
}

/** mmseg `FCNHead` with one conv, no input concat — UperNet's auxiliary head (training only). */
export class FCNHead extends DecodeHead {
  readonly convs: ModuleList<ConvModule>;
  constructor(readonly config: FCNHeadConfig) {
    if (config.inIndex < 0) throw new InvalidArgumentError('FCNHead: inIndex must be ≥ 0');
    super(config);
    this.convs = this.child(
      'convs',
      new ModuleList([new ConvModule(config.inChannels, config.channels, 3, { padding: 1, norm: true, act: true })]),
    );
  }
  forward(inputs: readonly tf.Tensor4D[]): tf.Tensor4D {
    const x = inputs[this.config.inIndex];
    if (!x || x.shape[3] !== this.config.inChannels)
      throw new ShapeError(
        'FCNHead',
        `inputs[${this.config.inIndex}]`,
        `[B,H,W,${this.config.inChannels}]`,
        x ? `[${x.shape.join(',')}]` : 'missing',
      );
    return tf.tidy(() => this.conv_seg.forward(this.convs.at(0).forward(x)));
  }
}
