/**
 * GLNet / GLMix — convolutions on the pixel grid, attention among soft-clustered semantic slots.
 * Zhu et al.: "Revisiting the Integration of Convolution and Attention for Vision Backbone"
 * (NeurIPS 2024). Official code: rayleizhu/GLMix@3c93dbf (`models/glnet.py` class `GLNet`,
 * `models/glnet_tklb.py` class `GLNet_tklb`). Apache-2.0. Porting spec: glmix.md.
 *
 * Reading order: config → down-sampling layers (stem / transitions) → GLNet (classifier, token-
 * labelling head, dense backbone) → official-config reader → parity builder → checkpoints → variants.
 * The blocks live in glmix.ts. Module and parameter names are the official state_dict keys.
 * Tensors are NHWC; the golden files' NCHW is converted only at the parity boundary.
 *
 * Checkpoints are `torch.save` dicts with the weights under `model`, except glnet_16g whose release
 * loader reads `model_ema` (see `readGLNetCheckpoint` and each variant's `checkpointKey`).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type AttentionFactories,
  type AttentionMechanism,
  asBuiltModel,
  divisibleHeads,
  familyAttention,
  BatchNorm2d,
  configReader,
  Conv2d,
  dropPathRates,
  type FeatureInfo,
  GELU,
  Identity,
  imagenetInput,
  type InputConfig,
  InvalidArgumentError,
  type Layer,
  LayerNorm2d,
  loadPthStateDict,
  type ModelFamily,
  type Module,
  ModuleList,
  NotImplementedError,
  type OfficialConfig,
  referenceJson,
  type ReferenceMetadata,
  Sequential,
  StagedModel,
  stageSizes,
  type StateDict,
  tidyObj,
  type Variant,
} from '@dynavit/core';
import {
  BasicLayer,
  FastLinear,
  fillParameter,
  GLMixAttention,
  MIXING_MODES,
  type MixingMode,
  type SlotInit,
} from './glmix.js';
import { pretrained } from './zoo.js';

// ---------------------------------------------------------------------------------------------------
// Configuration

/** The GLNet `norm_layer` (stem, transitions, pre-head norm): BatchNorm2d(eps 1e-5) or timm LayerNorm2d(eps 1e-6). */
export type NormLayer = 'BatchNorm2d' | 'LayerNorm2d';
/** The official class: `GLNet`, or `GLNet_tklb` (extra token-labelling head, glmix.md §6). */
export type ModelClass = 'GLNet' | 'GLNet_tklb';

/** The `GLNet(...)` constructor arguments (glmix.md §2), resolved, in our names. */
export interface GLNetConfig {
  inChans: number;
  numClasses: number;
  depth: readonly number[];
  embedDim: readonly number[];
  /** heads per stage = embedDim[i] // headDim */
  headDim: number;
  mlpRatios: readonly number[];
  normLayer: NormLayer;
  preHeadNormLayer: NormLayer;
  mixingModes: readonly MixingMode[];
  /** per stage; ≤ 0 = no local branch */
  localDwKs: readonly number[];
  slotInit: SlotInit;
  numSlots: number;
  /** conv position encoding kernel (0 = none), shared by all stages */
  cpeKs: number;
  /** `ovlp`: deep 3×3 stem and 3×3 s2 transitions; `non_ovlp`: 4×4 and 2×2 patchify */
  downsampleStyle: 'ovlp' | 'non_ovlp';
  transitionLayout: 'proj.norm' | 'norm.proj';
  /** LayerNorm2d(in_chans) at stem index 0 (ovlp only; no released model) */
  dualPatchNorm: boolean;
  mlpDw: boolean;
  /** LayerScale init value, ≤ 0 = none */
  layerscale: number;
  modelClass: ModelClass;
  /**
   * Dense-prediction backbone — OUR ASSUMPTION (glmix.md §8; the official repo has no dense code): no
   * `norm`/`head`, `extra_norms.{0..3}` = LayerNorm2d(C_i, eps 1e-6) on each stage output, as the same
   * author's BiFormer_mm does.
   */
  dense: boolean;
  /** per-stage attention overrides (0-based stage → factory): every block becomes a `SwappedMixerBlock` */
  attention?: AttentionFactories;
  /** stochastic depth in training: linspace(0, rate, Σ depth) over the blocks (identity at inference) */
  dropPathRate?: number;
}

// ---------------------------------------------------------------------------------------------------
// Down-sampling layers (glmix.md §3.1)

const makeNorm = (kind: NormLayer, ch: number): Module & Layer =>
  kind === 'BatchNorm2d' ? new BatchNorm2d(ch, 1e-5) : new LayerNorm2d(ch, 1e-6);

/**
 * `downsample_layers`: the stem and three transitions, each an `nn.Sequential`.
 * ovlp (`OverlappedPacthEmbeddings`, deep stem): [Identity | LayerNorm2d(3), conv3×3 s2 p1 → C0/2, norm,
 * GELU, conv3×3 s2 p1 → C0, norm]; transitions conv3×3 s2 p1 and norm in `transitionLayout` order.
 * non_ovlp: [conv4×4 s4, norm]; transitions conv2×2 s2 (VALID: odd sizes floor) and norm.
 */
function downsampleLayers(c: GLNetConfig): ModuleList<Sequential> {
  const d = c.embedDim;
  const norm = (ch: number) => makeNorm(c.normLayer, ch);
  const ovlp = c.downsampleStyle === 'ovlp';
  const half = Math.floor(d[0]! / 2);
  const stem = ovlp
    ? new Sequential([
        c.dualPatchNorm ? new LayerNorm2d(c.inChans, 1e-6) : new Identity(),
        new Conv2d(c.inChans, half, 3, { stride: 2, padding: 1 }),
        norm(half),
        new GELU(),
        new Conv2d(half, d[0]!, 3, { stride: 2, padding: 1 }),
        norm(d[0]!),
      ])
    : new Sequential([new Conv2d(c.inChans, d[0]!, 4, { stride: 4 }), norm(d[0]!)]);
  const transitions = [0, 1, 2].map((i) => {
    const conv = ovlp
      ? new Conv2d(d[i]!, d[i + 1]!, 3, { stride: 2, padding: 1 })
      : new Conv2d(d[i]!, d[i + 1]!, 2, { stride: 2 });
    return new Sequential(c.transitionLayout === 'norm.proj' ? [norm(d[i]!), conv] : [conv, norm(d[i + 1]!)]);
  });
  return new ModuleList([stem, ...transitions]);
}

// ---------------------------------------------------------------------------------------------------
// Model

/** Intermediates of a full forward, named like the golden `debug.*` tensors (NHWC maps). */
export interface GLNetIntermediates {
  /** outputs of downsample_layers[i] (= stage inputs) */
  downsample: tf.Tensor4D[];
  /** pre-head norm output */
  finalNorm?: tf.Tensor4D;
  /** [B, C3] */
  pooled?: tf.Tensor2D;
  /** GLNet_tklb: head(pooled), [B, K] */
  clsLogits?: tf.Tensor2D;
  /** GLNet_tklb: tklb_aux_head on every token, [B, L, K] */
  auxLogits?: tf.Tensor3D;
}

export interface GLNetOutputs {
  /** raw stage outputs (before any norm), [B, H_i, W_i, C_i] */
  stages: tf.Tensor4D[];
  /** classifiers only */
  logits?: tf.Tensor2D;
  intermediates: GLNetIntermediates;
}

/**
 * GLNet (and GLNet_tklb). Classifier: for i in 0..3 x = stages[i](downsample_layers[i](x)); then
 * BatchNorm `norm`, global mean, `head`. GLNet_tklb adds `tklb_aux_head` on every token of the
 * normed final map: logits = head(mean) + 0.5·max over tokens of aux (glmix.md §6).
 * Dense backbone (`config.dense`, our assumption, glmix.md §8): no norm/head; `extra_norms[i]` on each
 * stage output; the next stage always consumes the un-normalised map.
 */
export class GLNet extends StagedModel {
  readonly kind: 'classifier' | 'backbone';
  override readonly inChannels: number;
  readonly downsample_layers: ModuleList<Sequential>;
  readonly stages: ModuleList<BasicLayer>;
  readonly norm: (Module & Layer) | null = null;
  readonly head: (Module & Layer) | null = null;
  readonly tklb_aux_head: FastLinear | null = null;
  readonly extra_norms: ModuleList<LayerNorm2d> | null = null;
  readonly featureInfo: readonly FeatureInfo[];
  readonly numClasses: number;

  constructor(readonly config: GLNetConfig) {
    super('GLNet');
    const c = config;
    validateConfig(c);
    this.kind = c.dense ? 'backbone' : 'classifier';
    this.inChannels = c.inChans;
    this.downsample_layers = this.child('downsample_layers', downsampleLayers(c));
    const dpr = dropPathRates(c.dropPathRate ?? 0, c.depth);
    this.stages = this.child(
      'stages',
      new ModuleList(
        c.embedDim.map(
          (dim, i) =>
            new BasicLayer(
              dim,
              c.depth[i]!,
              c.mixingModes[i]!,
              {
                numHeads: Math.floor(dim / c.headDim),
                mlpRatio: c.mlpRatios[i]!,
                localDwKs: c.localDwKs[i]!,
                slotInit: c.slotInit,
                numSlots: c.numSlots,
                cpeKs: c.cpeKs,
                mlpDw: c.mlpDw,
                layerscale: c.layerscale,
              },
              c.attention?.[i]
                ? (j: number) =>
                    c.attention![i]!({
                      dim,
                      numHeads: Math.floor(dim / c.headDim),
                      stage: i,
                      numStages: c.embedDim.length,
                      block: j,
                      mapSize: [56 >> i, 56 >> i],
                      reduction: 4 << i,
                      ...(c.localDwKs[i]! > 0 ? { kernel: c.localDwKs[i]! } : {}),
                    })
                : undefined,
              dpr[i],
            ),
        ),
      ),
    );
    const c3 = c.embedDim[3]!;
    if (c.dense) {
      const norms = c.embedDim.map((d) => new LayerNorm2d(d, 1e-6));
      // not in any released checkpoint: start from torch's LayerNorm init (weight 1, bias 0)
      for (const n of norms) fillParameter(n.weight, 1);
      this.extra_norms = this.child('extra_norms', new ModuleList(norms));
    } else {
      this.norm = this.child('norm', makeNorm(c.preHeadNormLayer, c3));
      this.head = this.child('head', c.numClasses > 0 ? new FastLinear(c3, c.numClasses) : new Identity());
      if (c.modelClass === 'GLNet_tklb')
        this.tklb_aux_head = this.child('tklb_aux_head', new FastLinear(c3, c.numClasses));
    }
    this.numClasses = c.dense ? 0 : c.numClasses;
    this.featureInfo = c.embedDim.map((channels, i) => ({
      channels,
      reduction: 4 << i,
      module: c.dense ? `extra_norms.${i}` : `stages.${i}`,
    }));
  }

  /**
   * Spatial side of each stage map for an input side (ovlp: ⌈·/2⌉ per stride-2 conv; non_ovlp: floors,
   * so its smallest input is 32 px, where stage 3 is 1×1).
   */
  featureSizes(side: number): number[] {
    return stageSizes(side, this.config.downsampleStyle === 'ovlp');
  }

  protected override tooSmallReason(side: number): string {
    const i = this.featureSizes(side).findIndex((h) => h < 1);
    return `4×4 patchify and three 2×2 non-overlapping down-samplings floor the map, so stage ${i} would be empty`;
  }

  protected downsample(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return this.downsample_layers.at(i).forward(x) as tf.Tensor4D;
  }

  protected stage(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return this.stages.at(i).forward(x);
  }

  protected get outputNorms(): ModuleList<LayerNorm2d> | null {
    return this.extra_norms;
  }

  protected applyHead(last: tf.Tensor4D): tf.Tensor2D {
    return this.#head(last);
  }

  /** Pre-head norm, pooling and head(s) on the last stage map [B,h,w,C3] → logits [B, K]. */
  #head(last: tf.Tensor4D, im?: GLNetIntermediates): tf.Tensor2D {
    const [B, h, w, C3] = last.shape;
    const f = this.norm!.forward(last) as tf.Tensor4D;
    if (im) im.finalNorm = f;
    if (this.tklb_aux_head) {
      const tok = tf.reshape(f, [B, h * w, C3]) as tf.Tensor3D;
      const pooled = tf.mean(tok, 1) as tf.Tensor2D;
      const cls = this.head!.forward(pooled) as tf.Tensor2D;
      const aux = this.tklb_aux_head.forward(tok) as tf.Tensor3D; // [B, L, K]
      if (im) Object.assign(im, { pooled, clsLogits: cls, auxLogits: aux });
      return tf.add(cls, tf.mul(0.5, tf.max(aux, 1))) as tf.Tensor2D; // per-class max over tokens
    }
    const pooled = tf.mean(f, [1, 2]) as tf.Tensor2D;
    if (im) im.pooled = pooled;
    return this.head!.forward(pooled) as tf.Tensor2D;
  }

  /**
   * One pass that also returns what the golden `debug.*` tensors record outside the blocks: raw stage
   * outputs, each stage's input (the down-sampling outputs) and, for classifiers, the head's steps and
   * the logits.
   */
  forwardIntermediates(x: tf.Tensor4D): GLNetOutputs {
    this.checkInput(x);
    return tidyObj(() => {
      const im: GLNetIntermediates = { downsample: [] };
      const stages = this.runStages(x, im.downsample);
      const logits = this.kind === 'classifier' ? this.#head(stages[3]!, im) : undefined;
      return { stages, ...(logits ? { logits } : {}), intermediates: im };
    });
  }
}

function validateConfig(c: GLNetConfig): void {
  const perStage = ['depth', 'embedDim', 'mlpRatios', 'mixingModes', 'localDwKs'] as const;
  for (const k of perStage)
    if (c[k].length !== 4)
      throw new InvalidArgumentError(`GLNet config: ${k} must have 4 entries (one per stage), got ${c[k].length}`);
  c.depth.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 1)
      throw new InvalidArgumentError(`GLNet config: depth[${i}] must be a positive integer, got ${d}`);
  });
  c.mixingModes.forEach((m, i) => {
    if (!MIXING_MODES.includes(m))
      throw new InvalidArgumentError(
        `GLNet config: mixing_modes[${i}] ${JSON.stringify(m)} is not one of ${MIXING_MODES.join(', ')}`,
      );
  });
  c.embedDim.forEach((d, i) => {
    const nh = Math.floor(d / c.headDim);
    if (nh < 1 || d % nh)
      throw new InvalidArgumentError(
        `GLNet config: embed_dim[${i}] = ${d} with head_dim ${c.headDim} gives ${nh} heads; need ≥ 1 head dividing the channels`,
      );
  });
  if (c.modelClass === 'GLNet_tklb' && !c.dense && !(c.numClasses >= 1))
    throw new InvalidArgumentError(
      `GLNet_tklb needs num_classes ≥ 1 (its token-labelling head is Linear(C3, num_classes)), got ${c.numClasses}`,
    );
}

// ---------------------------------------------------------------------------------------------------
// Official configs

/** The official constructor kwargs (`GLNet(**kwargs)`), as in the registered builders and golden metadata. */
export type GLNetOfficialConfig = OfficialConfig;

/** norm_layer is a class in Python; configs name it ("BatchNorm2d", "nn.BatchNorm2d", "LayerNorm2d"). */
function normLayer(cfg: GLNetOfficialConfig, key: string, fallback: NormLayer): NormLayer {
  const v = cfg[key] ?? fallback;
  const name = typeof v === 'string' ? v.slice(v.lastIndexOf('.') + 1) : '';
  if (name !== 'BatchNorm2d' && name !== 'LayerNorm2d')
    throw new NotImplementedError(
      `GLNet config: ${key}=${JSON.stringify(v)} is not supported (BatchNorm2d or LayerNorm2d)`,
    );
  return name;
}

/**
 * Read official kwargs with the constructor defaults of glmix.md §2 (note the defaults slot_init
 * 'param' and norm_layer LayerNorm2d differ from every registered variant). `drop_path_rate` sets
 * stochastic depth (training only); drop_rate, use_checkpoint_stages, qk_scale and unknown kwargs are
 * ignored, as the official constructor does.
 */
export function fromOfficialConfig(
  cfg: GLNetOfficialConfig,
  opts: { modelClass?: ModelClass; dense?: boolean } = {},
): GLNetConfig {
  const { list: arr, num, bool, oneOf } = configReader('GLNet config', cfg);
  const norm = normLayer(cfg, 'norm_layer', 'LayerNorm2d');
  const ks = cfg['local_dw_ks'] ?? 5;
  const localDwKs = typeof ks === 'number' ? [ks, ks, ks, ks] : arr<number>('local_dw_ks', []);
  return {
    inChans: num('in_chans', 3),
    numClasses: num('num_classes', 1000),
    depth: arr<number>('depth', [2, 2, 6, 2]),
    embedDim: arr<number>('embed_dim', [96, 192, 384, 768]),
    headDim: num('head_dim', 32),
    mlpRatios: arr<number>('mlp_ratios', [4, 4, 4, 4]),
    normLayer: norm,
    preHeadNormLayer: cfg['pre_head_norm_layer'] == null ? norm : normLayer(cfg, 'pre_head_norm_layer', norm),
    mixingModes: arr<MixingMode>('mixing_modes', ['glmix', 'glmix', 'glmix', 'mha']),
    localDwKs,
    slotInit: oneOf<SlotInit>('slot_init', 'param', ['param', 'ada_avgpool']),
    numSlots: num('num_slots', 64),
    cpeKs: num('cpe_ks', 0),
    downsampleStyle: oneOf('downsample_style', 'non_ovlp', ['non_ovlp', 'ovlp'] as const),
    transitionLayout: oneOf('transition_layout', 'proj.norm', ['proj.norm', 'norm.proj'] as const),
    dualPatchNorm: bool('dual_patch_norm', false),
    mlpDw: bool('mlp_dw', false),
    layerscale: num('layerscale', -1),
    modelClass: opts.modelClass ?? 'GLNet',
    dense: opts.dense ?? false,
    dropPathRate: num('drop_path_rate', 0),
  };
}

/** The model golden/official metadata describes: `config` (the kwargs as JSON) and `model_class` (GLNet or GLNet_tklb). */
export function glnetFromReference(metadata: ReferenceMetadata): GLNet {
  const modelClass = metadata['model_class'] ?? 'GLNet';
  if (modelClass !== 'GLNet' && modelClass !== 'GLNet_tklb')
    throw new NotImplementedError(`GLNet: model_class "${modelClass}" is not supported (GLNet or GLNet_tklb)`);
  return new GLNet(fromOfficialConfig(referenceJson<GLNetOfficialConfig>(metadata, 'config', 'GLNet'), { modelClass }));
}

// ---------------------------------------------------------------------------------------------------
// Variants

/** A registered GLNet: the official kwargs plus which class builds it and where its checkpoint keeps the weights. */
export interface GLNetVariant extends Variant<GLNetOfficialConfig> {
  modelClass: ModelClass;
  /**
   * Top-level key of the released `torch.save` dict holding the weights: `model`, except glnet_16g
   * (`model_ema`, the EMA weights its release loader reads). For dense backbones: the key of the
   * classification checkpoint they start from.
   */
  checkpointKey: 'model' | 'model_ema';
}

const CLS_INPUT = imagenetInput(0.875);
/** token-labelling models are evaluated with timm's loader at crop_pct 0.96 */
const TKLB_INPUT: InputConfig = { ...CLS_INPUT, cropPct: 0.96 };
const SRC = 'rayleizhu/GLMix@3c93dbf';
// drop_path_rate (training only) of the classifiers: the README's 0.15 / 0.3 / 0.4 for 4G / 9G / 16G;
// the STL models keep the constructor's 0 (their rate is not published).
const DENSE_SRC = `our assumption (glmix.md §8; no dense code in ${SRC}): classification backbone without norm/head + extra_norms LayerNorm2d per stage, as rayleizhu/BiFormer BiFormer_mm`;

const STL = {
  depth: [2, 2, 6, 2],
  embed_dim: [96, 192, 384, 768],
  mlp_ratios: [4, 4, 4, 4],
  head_dim: 32,
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix', 'mha'],
  local_dw_ks: 5,
  slot_init: 'ada_avgpool',
  num_slots: 64,
  transition_layout: 'norm.proj',
};
const G = {
  depth: [4, 4, 18, 4],
  mlp_ratios: [3, 3, 3, 3],
  head_dim: 32,
  norm_layer: 'BatchNorm2d',
  mixing_modes: ['glmix', 'glmix', 'glmix.mha_nchw', 'mha_nchw'],
  local_dw_ks: 5,
  slot_init: 'ada_avgpool',
  num_slots: 64,
  cpe_ks: 3,
  downsample_style: 'ovlp',
  transition_layout: 'proj.norm',
  mlp_dw: true,
};
const G4 = { ...G, embed_dim: [64, 128, 256, 512] };
const G9 = { ...G, embed_dim: [96, 192, 384, 768] };
const G16 = { ...G, embed_dim: [128, 256, 512, 1024], layerscale: 0.0001 };

/**
 * Small models to train from scratch (`dynavit train --model glnet_fmnist --data fashion-mnist`): the
 * reduced configuration of the public golden case `g_reduced_96x128` (0.65 M parameters) with 10
 * classes, resized straight to 64×64 (bilinear, no crop, ImageNet normalisation, as training resizes).
 */
const FMNIST_INPUT: InputConfig = { ...imagenetInput(1, 64), interpolation: 'bilinear', cropMode: 'squash' };
const FMNIST = {
  ...G,
  num_classes: 10,
  depth: [1, 1, 2, 1],
  embed_dim: [32, 64, 96, 128],
  head_dim: 16,
};

export const variants = {
  glnet_16g: {
    kind: 'classifier',
    params: 106_055_161,
    source: `${SRC} models/glnet.py glnet_16g; checkpoint key 'model_ema'`,
    input: CLS_INPUT,
    modelClass: 'GLNet',
    checkpointKey: 'model_ema',
    config: { ...G16, drop_path_rate: 0.4 },
  },
  glnet_4g: {
    kind: 'classifier',
    params: 27_001_593,
    source: `${SRC} models/glnet.py glnet_4g`,
    input: CLS_INPUT,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: { ...G4, drop_path_rate: 0.15 },
  },
  glnet_4g_tklb: {
    kind: 'classifier',
    params: 27_514_593,
    source: `${SRC} models/glnet_tklb.py glnet_4g_tklb (GLNet_tklb)`,
    input: TKLB_INPUT,
    modelClass: 'GLNet_tklb',
    checkpointKey: 'model',
    config: { ...G4, drop_path_rate: 0.15 },
  },
  glnet_9g: {
    kind: 'classifier',
    params: 60_010_617,
    source: `${SRC} models/glnet.py glnet_9g`,
    input: CLS_INPUT,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: { ...G9, drop_path_rate: 0.3 },
  },
  glnet_9g_tklb: {
    kind: 'classifier',
    params: 60_779_617,
    source: `${SRC} models/glnet_tklb.py glnet_9g_tklb (GLNet_tklb)`,
    input: TKLB_INPUT,
    modelClass: 'GLNet_tklb',
    checkpointKey: 'model',
    config: { ...G9, drop_path_rate: 0.3 },
  },
  glnet_stl: {
    kind: 'classifier',
    params: 30_296_786,
    source: `${SRC} models/glnet.py glnet_stl`,
    input: CLS_INPUT,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: STL,
  },
  glnet_stl_paramslot: {
    kind: 'classifier',
    params: 30_481_106,
    source: `${SRC} models/glnet.py glnet_stl_paramslot`,
    input: CLS_INPUT,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: { ...STL, slot_init: 'param' },
  },
  glnet_fmnist: {
    kind: 'classifier',
    params: 646_957,
    source: `${SRC}: golden case g_reduced_96x128, 10 classes, 64×64 (to train with dynavit train)`,
    input: FMNIST_INPUT,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: FMNIST,
  },
  // Dense-prediction backbones: OUR ASSUMPTION (glmix.md §8), not GLMix code; params computed by this port.
  glnet_stl_dense: {
    kind: 'backbone',
    params: 29_529_130,
    source: DENSE_SRC,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: STL,
  },
  glnet_4g_dense: {
    kind: 'backbone',
    params: 26_489_489,
    source: DENSE_SRC,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: G4,
  },
  glnet_9g_dense: {
    kind: 'backbone',
    params: 59_242_961,
    source: DENSE_SRC,
    modelClass: 'GLNet',
    checkpointKey: 'model',
    config: G9,
  },
  glnet_16g_dense: {
    kind: 'backbone',
    params: 105_031_953,
    source: DENSE_SRC,
    modelClass: 'GLNet',
    checkpointKey: 'model_ema',
    config: G16,
  },
} satisfies Record<string, GLNetVariant>;

export type GLNetVariantName = keyof typeof variants;

// ---------------------------------------------------------------------------------------------------
// Checkpoints

/**
 * The state dict of a released GLNet checkpoint (`torch.save` dict) for `variant`, taken from the
 * variant's `checkpointKey` (`model`; `model_ema` for glnet_16g) unless `key` overrides it. For a dense
 * backbone the classifier's `norm.*`, `head.*` and `tklb_aux_head.*` are dropped (BiFormer_mm deletes
 * those modules); its `extra_norms` are not in any checkpoint, so load that one with `{ strict: false }`.
 *
 * ```ts
 * const model = new Registry().use(glmix).createModel('glnet_16g') as GLNet;
 * model.loadStateDict(readGLNetCheckpoint(bytes, 'glnet_16g')); // checkpoint['model_ema'], strict
 * ```
 * (equivalently `loadPthStateDict(bytes, { key: variants.glnet_16g.checkpointKey })` from core)
 */
export function readGLNetCheckpoint(
  bytes: Uint8Array,
  variant: GLNetVariantName,
  opts: { key?: string } = {},
): StateDict {
  const v: GLNetVariant = variants[variant];
  const sd = loadPthStateDict(bytes, { key: opts.key ?? v.checkpointKey });
  if (v.kind === 'backbone') for (const k of [...sd.keys()]) if (/^(norm|head|tklb_aux_head)\./.test(k)) sd.delete(k);
  return sd;
}

/**
 * GLMix for other families' stages, with GLNet's settings: 64 slots pooled from the map (8×8 adaptive
 * average pooling), a 5×5 depthwise local branch, the stage's heads for the slot relation MHSA.
 */
export const glmixAttention: readonly AttentionMechanism[] = [
  {
    name: 'glmix.glmix',
    packageName: '@dynavit/glmix',
    description: 'GLMix: a global branch over 64 soft-clustered slots (pooled 8×8) and a local 5×5 depthwise branch',
    constraints: 'channels divisible by the heads',
    check: divisibleHeads,
    create: (ctx) =>
      new GLMixAttention(ctx.dim, { numHeads: ctx.numHeads, numSlots: 64, slotInit: 'ada_avgpool', localDwKs: 5 }),
  },
];

export const glmix: ModelFamily<GLNetOfficialConfig, GLNetVariantName> = {
  name: 'glmix',
  packageName: '@dynavit/glmix',
  references: ['rayleizhu/GLMix'],
  variants,
  create(name, options) {
    const v: GLNetVariant = variants[name];
    const cfg = fromOfficialConfig(v.config, { modelClass: v.modelClass, dense: v.kind === 'backbone' });
    const attention = familyAttention(options?.attention, glmixAttention, cfg.embedDim.length, name);
    return asBuiltModel(
      new GLNet({
        ...cfg,
        ...(options?.numClasses !== undefined ? { numClasses: options.numClasses } : {}),
        ...(options?.dropPathRate !== undefined ? { dropPathRate: options.dropPathRate } : {}),
        ...(attention ? { attention } : {}),
      }),
    );
  },
  fromReference: (metadata) => asBuiltModel(glnetFromReference(metadata)),
  attention: glmixAttention,
  classifierKeys: ['norm.', 'head.'],
  pretrained,
};
