/**
 * Small classifiers of each family for training tests: the reduced configurations of the golden cases
 * (../shared/golden: dat_pp_reduced, dbra cls_tiny_reduced, glmix g_reduced), with few classes, and
 * a hybrid through core's attention overrides; initialised for training with core's `initializeWeights`.
 */
import { type AttentionOverrides, type Classifier, initializeWeights, Registry, resolveAttention } from '@dynavit/core';
import { DAT, dat, fromOfficialConfig as datConfig } from '@dynavit/dat';
import { dbra, dbraFromReference } from '@dynavit/dbra';
import { glmix, glnetFromReference } from '@dynavit/glmix';

export const DAT_PP_REDUCED = {
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
};

export const DBRA_CLS_TINY_REDUCED = {
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
};

export const GLNET_G_REDUCED = {
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
};

/** The golden case's per-stage attention settings (its `derived` metadata), which the reduced widths need. */
export const DBRA_CLS_TINY_REDUCED_DERIVED = {
  stages: [
    {
      depth: 1,
      dim: 16,
      block_mlp_hidden: 48,
      attn: [
        {
          name: 'attn1',
          type: 'BRA',
          num_heads: 2,
          topk: 1,
          qk_dim: 16,
          scale: 0.25,
          n_win: 7,
          auto_pad: true,
          lepe_kernel: 5,
        },
        {
          name: 'attn2',
          type: 'DBRA',
          num_heads: 2,
          topk: 4,
          qk_dim: 16,
          scale: 0.25,
          n_win: 7,
          n_groups: 1,
          group_channels: 16,
          heads_per_group: 2,
          offset_kernel: 9,
          offset_stride: 8,
          agent_mlp_hidden: 48,
          rpe_table_shape: [2, 111, 111],
          auto_pad: true,
          lepe_kernel: 5,
        },
      ],
    },
    {
      depth: 1,
      dim: 32,
      block_mlp_hidden: 96,
      attn: [
        {
          name: 'attn1',
          type: 'BRA',
          num_heads: 4,
          topk: 4,
          qk_dim: 32,
          scale: 0.1767766952966369,
          n_win: 7,
          auto_pad: true,
          lepe_kernel: 5,
        },
        {
          name: 'attn2',
          type: 'DBRA',
          num_heads: 4,
          topk: 8,
          qk_dim: 32,
          scale: 0.1767766952966369,
          n_win: 7,
          n_groups: 2,
          group_channels: 16,
          heads_per_group: 2,
          offset_kernel: 7,
          offset_stride: 4,
          agent_mlp_hidden: 96,
          rpe_table_shape: [4, 55, 55],
          auto_pad: true,
          lepe_kernel: 5,
        },
      ],
    },
    {
      depth: 2,
      dim: 64,
      block_mlp_hidden: 192,
      attn: [
        {
          name: 'attn1',
          type: 'BRA',
          num_heads: 8,
          topk: 16,
          qk_dim: 64,
          scale: 0.125,
          n_win: 7,
          auto_pad: true,
          lepe_kernel: 5,
        },
        {
          name: 'attn2',
          type: 'DBRA',
          num_heads: 8,
          topk: 16,
          qk_dim: 64,
          scale: 0.125,
          n_win: 7,
          n_groups: 4,
          group_channels: 16,
          heads_per_group: 2,
          offset_kernel: 5,
          offset_stride: 2,
          agent_mlp_hidden: 192,
          rpe_table_shape: [8, 27, 27],
          auto_pad: true,
          lepe_kernel: 5,
        },
      ],
    },
    {
      depth: 1,
      dim: 64,
      block_mlp_hidden: 192,
      attn: [
        {
          name: 'attn1',
          type: 'DBRA',
          num_heads: 8,
          topk: 49,
          qk_dim: 64,
          scale: 0.125,
          n_win: 7,
          n_groups: 8,
          group_channels: 8,
          heads_per_group: 1,
          offset_kernel: 3,
          offset_stride: 1,
          agent_mlp_hidden: 192,
          rpe_table_shape: [8, 13, 13],
          auto_pad: true,
          lepe_kernel: 5,
        },
        {
          name: 'attn2',
          type: 'DBRA',
          num_heads: 8,
          topk: 49,
          qk_dim: 64,
          scale: 0.125,
          n_win: 7,
          n_groups: 8,
          group_channels: 8,
          heads_per_group: 1,
          offset_kernel: 3,
          offset_stride: 1,
          agent_mlp_hidden: 192,
          rpe_table_shape: [8, 13, 13],
          auto_pad: true,
          lepe_kernel: 5,
        },
      ],
    },
  ],
};

export type TinyFamily = 'dat' | 'dbra' | 'glmix';

/** A reduced classifier of `family` with `numClasses` classes, initialised for training (seeded). */
export function tinyClassifier(family: TinyFamily, numClasses = 10, seed = 0): Classifier {
  let m: Classifier;
  if (family === 'dat') {
    m = new DAT(datConfig({ ...DAT_PP_REDUCED, num_classes: numClasses } as never, false)) as unknown as Classifier;
  } else if (family === 'dbra') {
    m = dbraFromReference({
      reference: 'maclong01/DeBiFormer@1ceb090',
      config: JSON.stringify({ ...DBRA_CLS_TINY_REDUCED, num_classes: numClasses }),
      derived: JSON.stringify(DBRA_CLS_TINY_REDUCED_DERIVED),
    }) as unknown as Classifier;
  } else {
    m = glnetFromReference({
      reference: 'rayleizhu/GLMix@3c93dbf',
      config: JSON.stringify({ ...GLNET_G_REDUCED, num_classes: numClasses }),
    }) as unknown as Classifier;
  }
  initializeWeights(m, seed);
  return m;
}

/** The reduced DAT++ with stage overrides (e.g. `{ 2: 'glmix.glmix' }`), resolved against every family's mechanisms. */
export function tinyHybrid(overrides: AttentionOverrides, numClasses = 10, seed = 0): Classifier {
  const mechanisms = new Registry([dat, dbra, glmix]).attentionMechanisms();
  const attention = resolveAttention(overrides, mechanisms, 4, 'dat_pp_reduced')!;
  const m = new DAT({ ...datConfig({ ...DAT_PP_REDUCED, num_classes: numClasses } as never, false), attention });
  initializeWeights(m, seed);
  return m as unknown as Classifier;
}
