/**
 * DeBiFormer — Vision Transformer with Deformable Agent Bi-level Routing Attention.
 * Long, Chen, Wang, Xu, Quan, Hua, Yan: "DeBiFormer: Vision Transformer with Deformable Agent Bi-level
 * Routing Attention" (ACCV 2024; arXiv:2410.08582). Official code: maclong01/DeBiFormer@1ceb090
 * (`classification/debiformer.py`, dense backbones in `segmentation/debiformer.py` and
 * `detection/debiformer.py`); the bi-level routing attention is BiFormer's (Zhu et al., CVPR 2023),
 * rayleizhu/BiFormer `ops/bra_legacy.py`. Both repositories are MIT-licensed.
 *
 * Reading order (dbra.md): config → Block (two attentions from ./attention.ts, dbra.md §3.1) →
 * DeBiFormer (classifier and dense backbone) → official-config reader → variants.
 * Module and parameter names are the official state_dict keys, registered in the official order.
 * Tensors are NHWC; shape comments use N batch, H×W the map, C channels.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type Attention2d,
  type AttentionFactory,
  type AttentionMechanism,
  asBuiltModel,
  divisibleHeads,
  familyAttention,
  largestDivisor,
  BatchNorm2d,
  configReader,
  Conv2d,
  DropPath,
  dropPathRates,
  type FeatureInfo,
  GELU,
  type DenseEvalConfig,
  imagenetInput,
  type InputConfig,
  InvalidArgumentError,
  type Layer,
  LayerNorm,
  Linear,
  type ModelFamily,
  Module,
  ModuleList,
  NotImplementedError,
  type OfficialConfig,
  referenceJson,
  type ReferenceMetadata,
  Sequential,
  StagedModel,
  stageSizes,
  TransformerMLPWithConv,
  type Variant,
  WrappedLayerNorm,
} from '@dynavit/core';
import {
  type AttentionKind,
  type AttentionSpec,
  BiLevelRoutingAttention,
  type DeformSettings,
  DeBiLevelRoutingAttention,
} from './attention.js';
import { pretrained } from './zoo.js';

// ---------------------------------------------------------------------------------------------------
// Configuration

export interface DeBiStageConfig {
  dim: number;
  depth: number;
  numHeads: number;
  /** an attention swapped in for `attn1` and `attn2` of every block (0-based block j: 2j, 2j + 1) */
  swap?: AttentionFactory;
  /** block MLP hidden width = dim · mlpRatio */
  mlpRatio: number;
  /** `attn1`, `attn2` of every block of the stage (dbra.md §2.3) */
  attn: readonly [AttentionSpec, AttentionSpec];
  deform: DeformSettings;
}

/** The constructor arguments of the official `DeBiFormer` that released models use, in our names. */
export interface DeBiFormerConfig {
  stages: readonly DeBiStageConfig[];
  /** regions per side S of every attention module */
  nWin: number;
  /** LePE depthwise kernel (`side_dwconv`) */
  sideDwconv: number;
  /** the blocks' depthwise positional convs (`before_attn_dwconv`) */
  beforeAttnDwconv: number;
  numClasses: number;
  /** dense backbone (segmentation/detection): `extra_norms` on the four outputs, no norm/head */
  dense: boolean;
  /** stochastic depth in training: linspace(0, rate, Σ depth) over the blocks (identity at inference) */
  dropPathRate?: number;
}

// ---------------------------------------------------------------------------------------------------
// Block

/** A block's attention: BRA, DBRA, or any mechanism swapped in. */
type DeBiAttention = Module & Attention2d;

export interface BlockOptions {
  numHeads: number;
  mlpRatio: number;
  nWin: number;
  attn: readonly [AttentionSpec, AttentionSpec];
  deform: DeformSettings;
  sideDwconv?: number;
  beforeAttnDwconv?: number;
  /** builds attention `a` (0: attn1, 1: attn2) instead of BRA/DBRA (a swapped mechanism) */
  swap?: (a: 0 | 1) => Attention2d;
  /** the block's drop-path rate (training only) */
  dropPath?: number;
}

function makeAttention(dim: number, spec: AttentionSpec, o: BlockOptions): DeBiAttention {
  const common = { numHeads: o.numHeads, nWin: o.nWin, topk: spec.topk, sideDwconv: o.sideDwconv ?? 5 };
  return spec.kind === 'BRA'
    ? new BiLevelRoutingAttention(dim, common)
    : new DeBiLevelRoutingAttention(dim, { ...common, ...o.deform });
}

/**
 * `Block` (pre-norm, no layer scale, dbra.md §3.1), NHWC throughout, with DP1/DP2 the block's two
 * drop paths (same rate; identities at inference; the positional convs have none):
 * x += PE1(x); x += DP1(attn1(LN1(x))); x += DP1(MLP1(LN2(x)));
 * x += PE2(x); x += DP2(attn2(LN3(x))); x += DP2(MLP2(LN4(x))).
 */
export class Block extends Module implements Layer {
  readonly pos_embed1: Conv2d;
  readonly pos_embed2: Conv2d;
  readonly norm1: LayerNorm;
  readonly attn1: DeBiAttention;
  readonly attn2: DeBiAttention;
  readonly norm2: LayerNorm;
  readonly mlp1: TransformerMLPWithConv;
  readonly norm3: LayerNorm;
  readonly norm4: LayerNorm;
  readonly mlp2: TransformerMLPWithConv;
  readonly drop_path1: DropPath;
  readonly drop_path2: DropPath;
  constructor(
    readonly dim: number,
    o: BlockOptions,
  ) {
    super();
    const pe = o.beforeAttnDwconv ?? 3;
    const hidden = dim * o.mlpRatio;
    // registration order = the official state_dict order
    this.pos_embed1 = this.child('pos_embed1', new Conv2d(dim, dim, pe, { padding: Math.floor(pe / 2), groups: dim }));
    this.pos_embed2 = this.child('pos_embed2', new Conv2d(dim, dim, pe, { padding: Math.floor(pe / 2), groups: dim }));
    this.norm1 = this.child('norm1', new LayerNorm(dim, 1e-6));
    this.attn1 = this.child('attn1', o.swap ? (o.swap(0) as DeBiAttention) : makeAttention(dim, o.attn[0], o));
    this.attn2 = this.child('attn2', o.swap ? (o.swap(1) as DeBiAttention) : makeAttention(dim, o.attn[1], o));
    this.norm2 = this.child('norm2', new LayerNorm(dim, 1e-6));
    this.mlp1 = this.child('mlp1', new TransformerMLPWithConv(dim, hidden));
    this.norm3 = this.child('norm3', new LayerNorm(dim, 1e-6));
    this.norm4 = this.child('norm4', new LayerNorm(dim, 1e-6));
    this.mlp2 = this.child('mlp2', new TransformerMLPWithConv(dim, hidden));
    this.drop_path1 = this.child('drop_path1', new DropPath(o.dropPath ?? 0));
    this.drop_path2 = this.child('drop_path2', new DropPath(o.dropPath ?? 0));
  }

  /** x [N,H,W,C] → [N,H,W,C]. */
  forward(x: tf.Tensor): tf.Tensor4D {
    return tf.tidy(() => {
      let h = x as tf.Tensor4D;
      const [dp1, dp2] = [this.drop_path1, this.drop_path2];
      h = tf.add(h, this.pos_embed1.forward(h));
      h = tf.add(h, dp1.forward(this.attn1.forward(this.norm1.forward(h) as tf.Tensor4D)));
      h = tf.add(h, dp1.forward(this.mlp1.forward(this.norm2.forward(h))));
      h = tf.add(h, this.pos_embed2.forward(h));
      h = tf.add(h, dp2.forward(this.attn2.forward(this.norm3.forward(h) as tf.Tensor4D)));
      return tf.add(h, dp2.forward(this.mlp2.forward(this.norm4.forward(h)))) as tf.Tensor4D;
    });
  }
}

/** `LayerNorm2d` of the dense backbones: channel LayerNorm, eps 1e-5, its parameters under `.ln`. */
export class ExtraNorm extends WrappedLayerNorm {
  constructor(dim: number) {
    super(dim, 'ln');
  }
}

// ---------------------------------------------------------------------------------------------------
// Model

/**
 * DeBiFormer. As a classifier: conv stem → 4 stages (stride-2 conv + BatchNorm between them) →
 * BatchNorm → global mean → linear head. As a dense backbone (segmentation/detection files): the
 * four stage outputs, each through `extra_norms.i`; the next stage consumes the un-normalised map.
 *
 * Parameter counts follow the official code: DeBiFormer-T 21,495,598, -S 44,008,028, and
 * **DeBiFormer-B 95,501,926 — not the 77M its README states** (dbra.md §2.1).
 */
export class DeBiFormer extends StagedModel {
  readonly kind: 'classifier' | 'backbone';
  readonly downsample_layers: ModuleList<Sequential>;
  readonly stages: ModuleList<ModuleList<Block>>;
  readonly norm: BatchNorm2d | null = null;
  readonly head: Linear | null = null;
  readonly extra_norms: ModuleList<ExtraNorm> | null = null;
  readonly featureInfo: readonly FeatureInfo[];
  readonly numClasses: number;

  constructor(readonly config: DeBiFormerConfig) {
    super('DeBiFormer');
    validateConfig(config);
    this.kind = config.dense ? 'backbone' : 'classifier';
    const c = config;
    const dims = c.stages.map((s) => s.dim);
    const d0 = dims[0]!;
    const dpr = dropPathRates(
      c.dropPathRate ?? 0,
      c.stages.map((s) => s.depth),
    );
    this.downsample_layers = this.child(
      'downsample_layers',
      new ModuleList<Sequential>([
        new Sequential([
          new Conv2d(3, d0 / 2, 3, { stride: 2, padding: 1 }),
          new BatchNorm2d(d0 / 2),
          new GELU(),
          new Conv2d(d0 / 2, d0, 3, { stride: 2, padding: 1 }),
          new BatchNorm2d(d0),
        ]),
        ...dims
          .slice(1)
          .map((d, i) => new Sequential([new Conv2d(dims[i]!, d, 3, { stride: 2, padding: 1 }), new BatchNorm2d(d)])),
      ]),
    );
    this.stages = this.child(
      'stages',
      new ModuleList(
        c.stages.map(
          (s, i) =>
            new ModuleList(
              Array.from(
                { length: s.depth },
                (_, j) =>
                  new Block(s.dim, {
                    numHeads: s.numHeads,
                    mlpRatio: s.mlpRatio,
                    nWin: c.nWin,
                    attn: s.attn,
                    deform: s.deform,
                    sideDwconv: c.sideDwconv,
                    beforeAttnDwconv: c.beforeAttnDwconv,
                    dropPath: dpr[i]![j]!,
                    ...(s.swap
                      ? {
                          swap: (a: 0 | 1) =>
                            s.swap!({
                              dim: s.dim,
                              numHeads: s.numHeads,
                              stage: i,
                              numStages: c.stages.length,
                              block: 2 * j + a,
                              mapSize: [56 >> i, 56 >> i],
                              reduction: 4 << i,
                              window: c.nWin,
                              kernel: c.sideDwconv,
                            }),
                        }
                      : {}),
                  }),
              ),
            ),
        ),
      ),
    );
    if (c.dense) {
      this.extra_norms = this.child('extra_norms', new ModuleList(dims.map((d) => new ExtraNorm(d))));
    } else {
      this.norm = this.child('norm', new BatchNorm2d(dims[3]!));
      this.head = this.child('head', new Linear(dims[3]!, c.numClasses));
    }
    this.numClasses = c.dense ? 0 : c.numClasses;
    this.featureInfo = dims.map((channels, i) => ({
      channels,
      reduction: 4 << i,
      module: c.dense ? `extra_norms.${i}` : `stages.${i}`,
    }));
  }

  /** Spatial size of each stage map for an input side: ⌈·/2⌉ per stride-2 conv (two in the stem). */
  featureSizes(side: number): number[] {
    return stageSizes(side, true);
  }

  /** Any input of at least 1×1 px runs: every attention pads its map to multiples of n_win. */
  protected override tooSmallReason(): string {
    return 'the input is empty';
  }

  protected downsample(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return this.downsample_layers.at(i).forward(x) as tf.Tensor4D;
  }

  protected stage(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.stages.at(i).items.reduce((h, b) => b.forward(h), x));
  }

  protected get outputNorms(): ModuleList<ExtraNorm> | null {
    return this.extra_norms;
  }

  /** BatchNorm → mean over h·w → Linear, on the raw stage-3 map [N,h,w,C3]. */
  protected applyHead(last: tf.Tensor4D): tf.Tensor2D {
    return this.head!.forward(tf.mean(this.norm!.forward(last), [1, 2])) as tf.Tensor2D;
  }
}

function validateConfig(c: DeBiFormerConfig): void {
  if (c.stages.length !== 4)
    throw new InvalidArgumentError(`DeBiFormer config: 4 stages expected, got ${c.stages.length}`);
  c.stages.forEach((s, i) => {
    if (!Number.isInteger(s.depth) || s.depth < 1)
      throw new InvalidArgumentError(`DeBiFormer config: stage ${i} depth must be a positive integer, got ${s.depth}`);
    if (s.attn.length !== 2)
      throw new InvalidArgumentError(`DeBiFormer config: stage ${i} needs two attention specs (attn1, attn2)`);
  });
  if (c.stages[0]!.dim % 2)
    throw new InvalidArgumentError(
      `DeBiFormer config: embed_dim[0] must be even (the stem's first conv has embed_dim[0]/2 channels), got ${c.stages[0]!.dim}`,
    );
}

// ---------------------------------------------------------------------------------------------------
// Official configs

/** The official constructor kwargs (`DeBiFormer(**kwargs)`), as the builders pass them and the golden metadata stores them. */
export type DBRAOfficialConfig = OfficialConfig;

/** The per-width rows of `DeBiLevelRoutingAttention.__init__` (dbra.md §2.2), by `param_size`. */
type Row = readonly [
  groups: number,
  offsetKernel: number,
  offsetStride: number,
  agentMlpRatio: number,
  rpeSize: number,
];
const ROWS_TS: Record<number, Row> = {
  64: [1, 9, 8, 3, 56],
  128: [2, 7, 4, 3, 28],
  256: [4, 5, 2, 3, 14],
  512: [8, 3, 1, 3, 7],
};
export const PARAM_SIZE_TABLE: Readonly<Record<'tiny' | 'small' | 'base', Readonly<Record<number, Row>>>> = {
  tiny: ROWS_TS,
  small: { ...ROWS_TS, 512: [8, 3, 1, 1, 7] },
  base: { 96: [1, 9, 8, 3, 56], 192: [2, 7, 4, 3, 28], 384: [3, 5, 2, 3, 14], 768: [6, 3, 1, 3, 7] },
};

/** `Block`'s choice of attention modules by the stage's `topks[i]` (dbra.md §2.3). */
const ATTN_BY_TOPK: Record<number, readonly [AttentionSpec, AttentionSpec]> = {
  4: [
    { kind: 'BRA', topk: 1 },
    { kind: 'DBRA', topk: 4 },
  ],
  8: [
    { kind: 'BRA', topk: 4 },
    { kind: 'DBRA', topk: 8 },
  ],
  16: [
    { kind: 'BRA', topk: 16 },
    { kind: 'DBRA', topk: 16 },
  ],
  [-2]: [
    { kind: 'DBRA', topk: 49 },
    { kind: 'DBRA', topk: 49 },
  ],
};

/** One attention module as the golden `derived` metadata spells it out. */
interface DerivedAttention {
  name: string;
  type: AttentionKind;
  num_heads: number;
  topk: number;
  n_win: number;
  n_groups?: number;
  offset_kernel?: number;
  offset_stride?: number;
  agent_mlp_hidden?: number;
  rpe_table_shape?: number[];
}
/** The golden `derived` metadata: the settings each attention module was actually built with. */
export interface DBRADerived {
  stages: { depth: number; dim: number; block_mlp_hidden: number; attn: DerivedAttention[] }[];
}

function deformFromDerived(stage: number, dim: number, attn: DerivedAttention[]): DeformSettings {
  const rows = attn.filter((a) => a.type === 'DBRA');
  if (rows.length === 0)
    throw new InvalidArgumentError(`DeBiFormer derived metadata: stage ${stage} has no DBRA module`);
  const settings = rows.map((a) => {
    const [, th] = a.rpe_table_shape ?? [];
    if (
      a.n_groups === undefined ||
      a.offset_kernel === undefined ||
      a.offset_stride === undefined ||
      a.agent_mlp_hidden === undefined ||
      th === undefined
    )
      throw new InvalidArgumentError(
        `DeBiFormer derived metadata: stage ${stage} ${a.name} lacks its deformable settings`,
      );
    return {
      groups: a.n_groups,
      offsetKernel: a.offset_kernel,
      offsetStride: a.offset_stride,
      agentMlpRatio: a.agent_mlp_hidden / dim,
      rpeSize: (th + 1) / 2,
    };
  });
  if (settings.some((s) => JSON.stringify(s) !== JSON.stringify(settings[0])))
    throw new NotImplementedError(
      `DeBiFormer derived metadata: the DBRA modules of stage ${stage} differ in their settings (the official code shares them per width)`,
    );
  return settings[0]!;
}

/**
 * Read official kwargs. Per-stage deformable settings come from `derived` (the golden metadata: what
 * each module was really built with — reduced widths reuse the rows of the official widths) or else
 * from the official per-width table of `param_size`. Options no released model uses are refused by name.
 */
export function fromOfficialConfig(cfg: DBRAOfficialConfig, dense: boolean, derived?: DBRADerived): DeBiFormerConfig {
  const r = configReader('DeBiFormer config', cfg);
  const refuse = r.refuse;
  refuse('kv_downsample_mode', (v) => v === 'identity');
  refuse('param_routing', (v) => v === false);
  refuse('soft_routing', (v) => v === false);
  refuse('pre_norm', (v) => v === true);
  refuse('pe', (v) => v === null);
  refuse('layer_scale_init_value', (v) => typeof v === 'number' && v <= 0);
  refuse(
    'auto_pad',
    (v) => v === true,
    'the official DBRA forward cannot run without auto_pad, dbra.md §1.2; only the auto-pad path exists',
  );
  const depth = r.numbers('depth');
  const embed = r.numbers('embed_dim');
  const qk = r.numbers('qk_dims', embed);
  const mlpRatios = r.numbers('mlp_ratios', [4, 4, 4, 4]);
  const topks = r.numbers('topks', [4, 8, 16, -2]);
  const headDim = r.num('head_dim', 32);
  const nWin = r.num('n_win', 7);
  for (const [k, v] of [
    ['depth', depth],
    ['embed_dim', embed],
    ['qk_dims', qk],
    ['mlp_ratios', mlpRatios],
    ['topks', topks],
  ] as const)
    if (v.length !== 4)
      throw new InvalidArgumentError(`DeBiFormer config: ${k} must have 4 entries (one per stage), got ${v.length}`);
  qk.forEach((q, i) => {
    if (q !== embed[i])
      throw new NotImplementedError(
        `DeBiFormer config: qk_dims (${qk.join(',')}) must equal embed_dim (${embed.join(',')}) as in every released model`,
      );
  });
  const paramSize = (cfg['param_size'] ?? 'tiny') as string;
  const table = (PARAM_SIZE_TABLE as Record<string, Record<number, Row> | undefined>)[paramSize];
  if (!table && !derived)
    throw new InvalidArgumentError(
      `DeBiFormer config: param_size must be tiny, small or base, got ${JSON.stringify(paramSize)}`,
    );
  if (derived && derived.stages.length !== 4)
    throw new InvalidArgumentError(`DeBiFormer derived metadata: 4 stages expected, got ${derived.stages.length}`);
  const stages = embed.map((dim, i): DeBiStageConfig => {
    const numHeads = qk[i]! / headDim;
    const base = { dim, depth: depth[i]!, numHeads, mlpRatio: mlpRatios[i]! };
    const dv = derived?.stages[i];
    if (dv) {
      const [a1, a2] = dv.attn;
      if (!a1 || !a2) throw new InvalidArgumentError(`DeBiFormer derived metadata: stage ${i} needs attn1 and attn2`);
      if (dv.dim !== dim || dv.depth !== depth[i] || a1.num_heads !== numHeads || a1.n_win !== nWin)
        throw new InvalidArgumentError(
          `DeBiFormer derived metadata: stage ${i} (dim ${dv.dim}, depth ${dv.depth}, heads ${a1.num_heads}) contradicts the config`,
        );
      return {
        ...base,
        attn: [
          { kind: a1.type, topk: a1.topk },
          { kind: a2.type, topk: a2.topk },
        ],
        deform: deformFromDerived(i, dim, dv.attn),
      };
    }
    const attn = ATTN_BY_TOPK[topks[i]!];
    if (!attn)
      throw new NotImplementedError(
        `DeBiFormer config: topks[${i}]=${topks[i]} is not supported (released models use 4, 8, 16, -2)`,
      );
    const row = table?.[dim];
    if (!row)
      throw new InvalidArgumentError(
        `DeBiFormer config: param_size "${paramSize}" has no deformable settings for width ${dim} (rows: ${Object.keys(table ?? {}).join(', ')}); give DeBiFormerConfig.stages[${i}].deform explicitly`,
      );
    const [groups, offsetKernel, offsetStride, agentMlpRatio, rpeSize] = row;
    return { ...base, attn, deform: { groups, offsetKernel, offsetStride, agentMlpRatio, rpeSize } };
  });
  return {
    stages,
    nWin,
    sideDwconv: r.num('side_dwconv', 5),
    beforeAttnDwconv: r.num('before_attn_dwconv', 3),
    numClasses: dense ? 0 : r.num('num_classes', 1000),
    dense,
    dropPathRate: r.num('drop_path_rate', 0),
  };
}

/** Whether golden/official metadata describes a dense backbone (the `entry` file is segmentation/ or detection/). */
export function isDenseEntry(metadata: ReferenceMetadata): boolean {
  const entry = metadata['entry'] ?? '';
  return entry.startsWith('segmentation/') || entry.startsWith('detection/');
}

/**
 * The model official metadata describes: `config` (the constructor kwargs as JSON), `entry` (a
 * segmentation/ or detection/ file builds the dense backbone) and optionally `derived` (the settings
 * each attention module was built with).
 */
export function dbraFromReference(metadata: ReferenceMetadata): DeBiFormer {
  const cfg = referenceJson<DBRAOfficialConfig>(metadata, 'config', 'DeBiFormer');
  const derived =
    metadata['derived'] !== undefined ? referenceJson<DBRADerived>(metadata, 'derived', 'DeBiFormer') : undefined;
  return new DeBiFormer(fromOfficialConfig(cfg, isDenseEntry(metadata), derived));
}

// ---------------------------------------------------------------------------------------------------
// Variants

const CLS_INPUT = imagenetInput(224 / 256);
/** segmentation/configs: AlignResize(keep_ratio, size_divisor=32) at (2048, 512), no padding */
const SEG_EVAL: DenseEvalConfig = { segmentation: { scale: [2048, 512], alignTo: 32 } };
/** detection/configs: the mmdet COCO test pipeline, (1333, 800), Pad(size_divisor=32) */
const DET_EVAL: DenseEvalConfig = { detection: { scale: [1333, 800], padTo: 32 } };
/** Shared by every official builder (dbra.md §2.1). */
const common = {
  kv_downsample_mode: 'identity',
  kv_per_wins: [-1, -1, -1, -1],
  topks: [4, 8, 16, -2],
  side_dwconv: 5,
  before_attn_dwconv: 3,
  layer_scale_init_value: -1,
  head_dim: 32,
  param_routing: false,
  diff_routing: false,
  soft_routing: false,
  pre_norm: true,
  pe: null,
};
/** mm-framework backbone kwargs (segmentation/detection files); `num_classes` is passed but unused. */
const mm = { resume: '', norm_eval: true, disable_bn_grad: false, auto_pad: true, use_checkpoint_stages: [] };
const T = {
  depth: [1, 1, 4, 1],
  embed_dim: [64, 128, 256, 512],
  mlp_ratios: [3, 3, 3, 3],
  param_size: 'tiny',
  qk_dims: [64, 128, 256, 512],
};
const Sm = {
  depth: [2, 2, 9, 3],
  embed_dim: [64, 128, 256, 512],
  mlp_ratios: [3, 3, 3, 2],
  param_size: 'small',
  qk_dims: [64, 128, 256, 512],
};
const B = {
  depth: [2, 2, 9, 2],
  embed_dim: [96, 192, 384, 768],
  mlp_ratios: [3, 3, 3, 3],
  param_size: 'base',
  qk_dims: [96, 192, 384, 768],
};
const SRC = 'maclong01/DeBiFormer@1ceb090';

/** A variant whose per-stage attention settings are given as the golden `derived` metadata (reduced widths). */
export interface DBRAVariant extends Variant<DBRAOfficialConfig> {
  derived?: DBRADerived;
}

/**
 * Small models to train from scratch (`dynavit train --model debi_fmnist --data fashion-mnist`): the
 * reduced configuration of the public golden case `cls_tiny_reduced` (0.62 M parameters) with 10
 * classes, resized straight to 64×64 (bilinear, no crop, ImageNet normalisation, as training resizes).
 * Its widths are not in the official per-width table, so the settings each attention module was built
 * with come from the golden case's `derived` metadata.
 */
const FMNIST_INPUT: InputConfig = { ...imagenetInput(1, 64), interpolation: 'bilinear', cropMode: 'squash' };
const FMNIST = {
  ...common,
  depth: [1, 1, 2, 1],
  embed_dim: [16, 32, 64, 64],
  qk_dims: [16, 32, 64, 64],
  head_dim: 8,
  mlp_ratios: [3, 3, 3, 3],
  param_size: 'tiny',
  n_win: 7,
  auto_pad: true,
  drop_path_rate: 0.0,
  num_classes: 10,
};
/** One `derived` attention entry: BRA, or DBRA with its deformable settings (`[groups, kernel, stride, rpe]`). */
function derivedAttn(
  name: string,
  heads: number,
  topk: number,
  dim: number,
  dbra?: [number, number, number, number],
): DerivedAttention {
  if (!dbra) return { name, type: 'BRA', num_heads: heads, topk, n_win: 7 };
  const [n_groups, offset_kernel, offset_stride, rpe] = dbra;
  return {
    name,
    type: 'DBRA',
    num_heads: heads,
    topk,
    n_win: 7,
    n_groups,
    offset_kernel,
    offset_stride,
    agent_mlp_hidden: 3 * dim,
    rpe_table_shape: [heads, rpe, rpe],
  };
}
const stage = (depth: number, dim: number, attn: DerivedAttention[]) => ({
  depth,
  dim,
  block_mlp_hidden: 3 * dim,
  attn,
});
/** cls_tiny_reduced's `derived` metadata: the tiny rows of the official widths 64…512 reused at 16…64. */
const FMNIST_DERIVED: DBRADerived = {
  stages: [
    stage(1, 16, [derivedAttn('attn1', 2, 1, 16), derivedAttn('attn2', 2, 4, 16, [1, 9, 8, 111])]),
    stage(1, 32, [derivedAttn('attn1', 4, 4, 32), derivedAttn('attn2', 4, 8, 32, [2, 7, 4, 55])]),
    stage(2, 64, [derivedAttn('attn1', 8, 16, 64), derivedAttn('attn2', 8, 16, 64, [4, 5, 2, 27])]),
    stage(1, 64, [derivedAttn('attn1', 8, 49, 64, [8, 3, 1, 13]), derivedAttn('attn2', 8, 49, 64, [8, 3, 1, 13])]),
  ],
};
/** classification builders: auto_pad forced to true (their default False cannot run, dbra.md §1.2) */
const cls = (size: object, drop: number) => ({ ...size, drop_path_rate: drop, n_win: 7, ...common, auto_pad: true });
const backbone = (size: object, nWin: number, extra: object = {}) => ({
  num_classes: 80,
  ...size,
  n_win: nWin,
  ...common,
  ...mm,
  ...extra,
});

export const variants = {
  debi_tiny: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 21_495_598,
    source: `${SRC} classification/debiformer.py:DeBiFormer via @register_model debi_tiny()`,
    input: CLS_INPUT,
    config: cls(T, 0.0),
  },
  debi_small: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 44_008_028,
    source: `${SRC} classification/debiformer.py:DeBiFormer via @register_model debi_small()`,
    input: CLS_INPUT,
    config: cls(Sm, 0.3),
  },
  debi_base: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 95_501_926,
    source: `${SRC} classification/debiformer.py:DeBiFormer via @register_model debi_base() (README: 77M; the code has 95.5M)`,
    input: CLS_INPUT,
    config: cls(B, 0.4),
  },
  debi_fmnist: {
    kind: 'classifier',
    params: 615_184,
    source: `${SRC}: golden case cls_tiny_reduced, 10 classes, 64×64 (to train with dynavit train)`,
    input: FMNIST_INPUT,
    config: FMNIST,
    derived: FMNIST_DERIVED,
  },
  debi_tiny_seg: {
    kind: 'backbone',
    denseEval: SEG_EVAL,
    params: 20_983_494,
    source: `${SRC} segmentation/debiformer.py:debi_tiny (mmseg BACKBONES)`,
    config: backbone(T, 8, { drop_path_rate: 0.1 }),
  },
  debi_small_seg: {
    kind: 'backbone',
    denseEval: SEG_EVAL,
    params: 43_495_924,
    source: `${SRC} segmentation/debiformer.py:debi_small (mmseg BACKBONES)`,
    config: backbone(Sm, 8),
  },
  debi_base_seg: {
    kind: 'backbone',
    denseEval: SEG_EVAL,
    params: 94_734_270,
    source: `${SRC} segmentation/debiformer.py:debi_base (mmseg BACKBONES)`,
    config: backbone(B, 8, { drop_path_rate: 0.4 }),
  },
  debi_tiny_det: {
    kind: 'backbone',
    denseEval: DET_EVAL,
    params: 20_983_494,
    source: `${SRC} detection/debiformer.py:debi_tiny (mmdet BACKBONES)`,
    config: backbone(T, 8, { drop_path_rate: 0.1 }),
  },
  debi_small_det: {
    kind: 'backbone',
    denseEval: DET_EVAL,
    params: 43_495_924,
    source: `${SRC} detection/debiformer.py:debi_small (mmdet BACKBONES)`,
    config: backbone(Sm, 16),
  },
  debi_base_det: {
    kind: 'backbone',
    denseEval: DET_EVAL,
    params: 94_734_270,
    source: `${SRC} detection/debiformer.py:debi_base (mmdet BACKBONES)`,
    config: backbone(B, 32),
  },
} satisfies Record<string, DBRAVariant>;

export type DBRAVariantName = keyof typeof variants;

/** DeBiFormer-T's per-stage settings (`param_size` tiny; topks 4, 8, 16, −2 → BRA/DBRA top-k). */
const TINY = {
  braTopk: [1, 4, 16, 49],
  dbraTopk: [4, 8, 16, 49],
  rows: [ROWS_TS[64]!, ROWS_TS[128]!, ROWS_TS[256]!, ROWS_TS[512]!],
} as const;
const at = <T>(xs: readonly T[], i: number): T => xs[Math.min(i, xs.length - 1)]!;

/**
 * DeBiFormer's mechanisms for other families' stages, with DeBiFormer-T's settings per stage: 7×7 regions
 * (maps padded to multiples of 7, as DeBiFormer pads), top-k regions 1/4/16/49 (BRA) and 4/8/16/49
 * (DBRA), DBRA's offset groups, kernel, stride and agent MLP from the tiny rows, its RPE table built for
 * the stage's map.
 */
export const dbraAttention: readonly AttentionMechanism[] = [
  {
    name: 'dbra.bra',
    packageName: '@dynavit/dbra',
    description: 'BiFormer bi-level routing attention: 7×7 regions, each routed to its top-k regions, LePE',
    constraints: 'channels divisible by the heads; maps are padded to multiples of the 7×7 region grid',
    check: divisibleHeads,
    create: (ctx) =>
      new BiLevelRoutingAttention(ctx.dim, {
        numHeads: ctx.numHeads,
        nWin: 7,
        topk: at(TINY.braTopk, ctx.stage),
        sideDwconv: 5,
      }),
  },
  {
    name: 'dbra.dbra',
    packageName: '@dynavit/dbra',
    description: 'DeBiFormer deformable bi-level routing attention: deformable agents routed to top-k regions',
    constraints: 'channels divisible by the heads; maps are padded to multiples of the 7×7 region grid',
    check: divisibleHeads,
    create: (ctx) => {
      const [groups, offsetKernel, offsetStride, agentMlpRatio] = at(TINY.rows, ctx.stage);
      return new DeBiLevelRoutingAttention(ctx.dim, {
        numHeads: ctx.numHeads,
        nWin: 7,
        topk: at(TINY.dbraTopk, ctx.stage),
        sideDwconv: 5,
        groups: largestDivisor(groups, ctx.numHeads, ctx.dim),
        offsetKernel,
        offsetStride,
        agentMlpRatio,
        rpeSize: Math.max(ctx.mapSize[0], ctx.mapSize[1]),
      });
    },
  },
];

export const dbra: ModelFamily<DBRAOfficialConfig, DBRAVariantName> = {
  name: 'dbra',
  packageName: '@dynavit/dbra',
  references: ['maclong01/DeBiFormer', 'rayleizhu/BiFormer'],
  variants,
  create(name, options) {
    const v: DBRAVariant = variants[name];
    const cfg = fromOfficialConfig(v.config, v.kind === 'backbone', v.derived);
    const numClasses =
      options?.numClasses !== undefined && v.kind === 'classifier' ? options.numClasses : cfg.numClasses;
    const attention = familyAttention(options?.attention, dbraAttention, cfg.stages.length, name);
    const stages = attention
      ? cfg.stages.map((st, i) => (attention[i] ? { ...st, swap: attention[i] } : st))
      : cfg.stages;
    const dropPathRate = options?.dropPathRate ?? cfg.dropPathRate ?? 0;
    return asBuiltModel(new DeBiFormer({ ...cfg, numClasses, stages, dropPathRate }));
  },
  fromReference: (metadata) => asBuiltModel(dbraFromReference(metadata)),
  attention: dbraAttention,
  classifierKeys: ['norm.', 'head.'],
  pretrained,
};
