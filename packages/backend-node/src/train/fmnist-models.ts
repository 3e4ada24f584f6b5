/**
 * Small classifiers to train from scratch in minutes (`dynavit train --model dat_fmnist --data
 * fashion-mnist`): one per family, the reduced configurations of the public golden cases
 * (../shared/golden: DAT++ `dat_pp_reduced`, DeBiFormer `cls_tiny_reduced`, GLNet `g_reduced`; the same
 * as `@dynavit/train`'s test models) with 10 classes and a 64×64 input. They are registered beside each
 * family's official variants in the CLI's registry (`createRegistry`): the family object is extended
 * here, so the model packages' variant tables stay the official ones. No trained weights ship for them.
 */
import {
  asBuiltModel,
  type BuiltModel,
  type CreateModelOptions,
  familyAttention,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type InputConfig,
  type ModelFamily,
  type Variant,
} from '@dynavit/core';
import { DAT, type DATOfficialConfig, dat, datAttention, fromOfficialConfig as datConfig } from '@dynavit/dat';
import {
  type DBRADerived,
  type DBRAOfficialConfig,
  DeBiFormer,
  dbra,
  dbraAttention,
  fromOfficialConfig as dbraConfig,
} from '@dynavit/dbra';
import {
  GLNet,
  type GLNetOfficialConfig,
  glmix,
  glmixAttention,
  fromOfficialConfig as glnetConfig,
} from '@dynavit/glmix';

/** Input side of the small variants: Fashion-MNIST's 28×28 resized to 64×64 (DAT's reduced RPE tables are built for 64). */
export const FMNIST_SIZE = 64;

/** Their evaluation: resize straight to 64×64 (bilinear, no crop), ImageNet normalisation, as training does. */
const FMNIST_INPUT: InputConfig = {
  size: [FMNIST_SIZE, FMNIST_SIZE],
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  cropPct: 1,
  interpolation: 'bilinear',
  cropMode: 'squash',
};

const DAT_FMNIST = {
  img_size: 64,
  patch_size: 4,
  num_classes: 10,
  expansion: 4,
  dim_stem: 16,
  dims: [16, 32, 64, 128],
  depths: [2, 2, 2, 2],
  stage_spec: [
    ['N', 'D'],
    ['N', 'D'],
    ['N', 'D'],
    ['D', 'D'],
  ],
  heads: [2, 4, 4, 8],
  window_sizes: [7, 7, 7, 7],
  groups: [1, 2, 4, 2],
  use_pes: [true, true, true, true],
  dwc_pes: [false, false, false, false],
  strides: [8, 4, 2, 1],
  offset_range_factor: [-1, -1, -1, -1],
  no_offs: [false, false, false, false],
  fixed_pes: [false, false, false, false],
  use_dwc_mlps: [true, true, true, true],
  use_lpus: [true, true, true, true],
  use_conv_patches: true,
  ksizes: [9, 7, 5, 3],
  nat_ksizes: [7, 7, 7, 7],
  drop_rate: 0.0,
  attn_drop_rate: 0.0,
  drop_path_rate: 0.0,
} as unknown as DATOfficialConfig;

const DEBI_FMNIST = {
  auto_pad: true,
  before_attn_dwconv: 3,
  depth: [1, 1, 2, 1],
  diff_routing: false,
  drop_path_rate: 0.0,
  embed_dim: [16, 32, 64, 64],
  head_dim: 8,
  kv_downsample_mode: 'identity',
  kv_per_wins: [-1, -1, -1, -1],
  layer_scale_init_value: -1,
  mlp_ratios: [3, 3, 3, 3],
  n_win: 7,
  num_classes: 10,
  param_routing: false,
  param_size: 'tiny',
  pe: null,
  pre_norm: true,
  qk_dims: [16, 32, 64, 64],
  side_dwconv: 5,
  soft_routing: false,
  topks: [4, 8, 16, -2],
} as unknown as DBRAOfficialConfig;

/** One DeBiFormer attention entry of the golden case's `derived` metadata (what the reduced widths need). */
function bra(num_heads: number, topk: number, qk_dim: number) {
  return {
    name: 'attn1',
    type: 'BRA',
    num_heads,
    topk,
    qk_dim,
    scale: qk_dim ** -0.5,
    n_win: 7,
    auto_pad: true,
    lepe_kernel: 5,
  };
}
function dbraAttn(
  name: string,
  num_heads: number,
  topk: number,
  qk_dim: number,
  n_groups: number,
  offset_kernel: number,
  offset_stride: number,
  hidden: number,
  rpe: number,
) {
  return {
    name,
    type: 'DBRA',
    num_heads,
    topk,
    qk_dim,
    scale: qk_dim ** -0.5,
    n_win: 7,
    n_groups,
    group_channels: qk_dim / n_groups,
    heads_per_group: num_heads / n_groups,
    offset_kernel,
    offset_stride,
    agent_mlp_hidden: hidden,
    rpe_table_shape: [num_heads, rpe, rpe],
    auto_pad: true,
    lepe_kernel: 5,
  };
}
/** The golden case `cls_tiny_reduced`'s `derived` metadata, per stage. */
const DEBI_FMNIST_DERIVED = {
  stages: [
    { depth: 1, dim: 16, block_mlp_hidden: 48, attn: [bra(2, 1, 16), dbraAttn('attn2', 2, 4, 16, 1, 9, 8, 48, 111)] },
    { depth: 1, dim: 32, block_mlp_hidden: 96, attn: [bra(4, 4, 32), dbraAttn('attn2', 4, 8, 32, 2, 7, 4, 96, 55)] },
    {
      depth: 2,
      dim: 64,
      block_mlp_hidden: 192,
      attn: [bra(8, 16, 64), dbraAttn('attn2', 8, 16, 64, 4, 5, 2, 192, 27)],
    },
    {
      depth: 1,
      dim: 64,
      block_mlp_hidden: 192,
      attn: [dbraAttn('attn1', 8, 49, 64, 8, 3, 1, 192, 13), dbraAttn('attn2', 8, 49, 64, 8, 3, 1, 192, 13)],
    },
  ],
} as unknown as DBRADerived;

const GLNET_FMNIST = {
  in_chans: 3,
  num_classes: 10,
  depth: [1, 1, 2, 1],
  embed_dim: [32, 64, 96, 128],
  head_dim: 16,
  qk_scale: null,
  drop_path_rate: 0,
  drop_rate: 0,
  use_checkpoint_stages: [],
  mlp_ratios: [3, 3, 3, 3],
  norm_layer: 'BatchNorm2d',
  pre_head_norm_layer: null,
  mixing_modes: ['glmix', 'glmix', 'glmix.mha_nchw', 'mha_nchw'],
  local_dw_ks: 5,
  slot_init: 'ada_avgpool',
  num_slots: 64,
  cpe_ks: 3,
  downsample_style: 'ovlp',
  transition_layout: 'proj.norm',
  dual_patch_norm: false,
  mlp_dw: true,
  layerscale: -1,
} as unknown as GLNetOfficialConfig;

const GOLDEN = '../shared/golden (reduced for the golden tests), 10 classes, 64×64: train with `dynavit train`';

export const FMNIST_VARIANTS = {
  dat_fmnist: {
    kind: 'classifier',
    params: 662_046,
    source: `dat_pp_reduced of ${GOLDEN}`,
    input: FMNIST_INPUT,
    config: DAT_FMNIST,
  } satisfies Variant<DATOfficialConfig>,
  debi_fmnist: {
    kind: 'classifier',
    params: 615_184,
    source: `cls_tiny_reduced of ${GOLDEN}`,
    input: FMNIST_INPUT,
    config: DEBI_FMNIST,
  } satisfies Variant<DBRAOfficialConfig>,
  glnet_fmnist: {
    kind: 'classifier',
    params: 646_957,
    source: `g_reduced of ${GOLDEN}`,
    input: FMNIST_INPUT,
    config: GLNET_FMNIST,
  } satisfies Variant<GLNetOfficialConfig>,
};

export type FmnistModel = keyof typeof FMNIST_VARIANTS;

const numClassesOf = (options: CreateModelOptions | undefined) =>
  options?.numClasses !== undefined ? { numClasses: options.numClasses } : {};

function buildDat(options?: CreateModelOptions): BuiltModel {
  const cfg = datConfig(DAT_FMNIST, false);
  const attention = familyAttention(options?.attention, datAttention, cfg.dims.length, 'dat_fmnist');
  return asBuiltModel(new DAT({ ...cfg, ...numClassesOf(options), ...(attention ? { attention } : {}) }));
}

function buildDebi(options?: CreateModelOptions): BuiltModel {
  const cfg = dbraConfig(DEBI_FMNIST, false, DEBI_FMNIST_DERIVED);
  const attention = familyAttention(options?.attention, dbraAttention, cfg.stages.length, 'debi_fmnist');
  const stages = attention
    ? cfg.stages.map((st, i) => (attention[i] ? { ...st, swap: attention[i] } : st))
    : cfg.stages;
  return asBuiltModel(new DeBiFormer({ ...cfg, ...numClassesOf(options), stages }));
}

function buildGlnet(options?: CreateModelOptions): BuiltModel {
  const cfg = glnetConfig(GLNET_FMNIST, { modelClass: 'GLNet' });
  const attention = familyAttention(options?.attention, glmixAttention, cfg.embedDim.length, 'glnet_fmnist');
  return asBuiltModel(new GLNet({ ...cfg, ...numClassesOf(options), ...(attention ? { attention } : {}) }));
}

/** `family` with `extra` variants, built by `build`; every other name goes to the family's own `create`. */
function extend(
  family: ModelFamily,
  extra: Record<string, Variant<unknown>>,
  build: (options?: CreateModelOptions) => BuiltModel,
): ModelFamily {
  return {
    ...family,
    variants: { ...family.variants, ...extra },
    create(name: string, options?: CreateModelOptions) {
      return Object.hasOwn(extra, name) ? build(options) : family.create(name, options);
    },
  };
}

/** DAT, DeBiFormer and GLNet, each with its `*_fmnist` variant. */
export const datWithFmnist = extend(dat as ModelFamily, { dat_fmnist: FMNIST_VARIANTS.dat_fmnist }, buildDat);
export const dbraWithFmnist = extend(dbra as ModelFamily, { debi_fmnist: FMNIST_VARIANTS.debi_fmnist }, buildDebi);
export const glmixWithFmnist = extend(glmix as ModelFamily, { glnet_fmnist: FMNIST_VARIANTS.glnet_fmnist }, buildGlnet);
