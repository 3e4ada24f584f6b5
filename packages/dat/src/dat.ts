/**
 * DAT / DAT++ — Vision Transformer with Deformable Attention (Xia et al., CVPR 2022; DAT++ arXiv:2309.01430).
 * Official code: LeapLabTHU/DAT@32173fc (classification), LeapLabTHU/DAT-Segmentation@fdd2039 and
 * LeapLabTHU/DAT-Detection@4d4023d (dense backbones). Apache-2.0.
 *
 * This file currently declares the registered variants (official builder names, parameter counts
 * measured by instantiating the official code, config files); the model itself lands with the DAT issue.
 */
import { declaredFamily, type ModelFamily, type Variant } from '@dynavit/core';

/** Constructor arguments of the official builder, exactly as the official code receives them. */
export type DATOfficialConfig = Readonly<Record<string, unknown>>;

export const variants = {
  dat_plus_tiny: {
    kind: 'classifier',
    params: 22_772_796,
    source: "LeapLabTHU/DAT@32173fc configs/dat_p.yaml",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "dim_stem": 64, "dims": [64, 128, 256, 512], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [2, 4, 8, 16], "window_sizes": [7, 7, 7, 7], "groups": [1, 2, 4, 8], "use_pes": [true, true, true, true], "dwc_pes": [false, false, false, false], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "no_offs": [false, false, false, false], "fixed_pes": [false, false, false, false], "use_dwc_mlps": [false, false, false, false], "use_lpus": [false, false, false, false], "use_conv_patches": false, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.2},
  },
  dat_pp_base: {
    kind: 'classifier',
    params: 93_690_640,
    source: "LeapLabTHU/DAT@32173fc configs/dat_base.yaml",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "dim_stem": 128, "dims": [128, 256, 512, 1024], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [4, 8, 16, 32], "window_sizes": [7, 7, 7, 7], "groups": [2, 4, 8, 16], "use_pes": [true, true, true, true], "dwc_pes": [false, false, false, false], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "no_offs": [false, false, false, false], "fixed_pes": [false, false, false, false], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.7},
  },
  dat_pp_base_384: {
    kind: 'classifier',
    params: 93_690_640,
    source: "LeapLabTHU/DAT@32173fc configs/dat_base_384.yaml",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "dim_stem": 128, "dims": [128, 256, 512, 1024], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [4, 8, 16, 32], "window_sizes": [7, 7, 7, 7], "groups": [2, 4, 8, 16], "use_pes": [true, true, true, true], "dwc_pes": [false, false, false, false], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "no_offs": [false, false, false, false], "fixed_pes": [false, false, false, false], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.6},
  },
  dat_pp_base_dense: {
    kind: 'backbone',
    params: 92_667_432,
    source: "LeapLabTHU/DAT-Segmentation@fdd2039 configs/dat/upn_*/fpn_* backbone (same in LeapLabTHU/DAT-Detection)",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "heads_q": [6, 12, 24, 48], "window_sizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "local_orf": [-1, -1, -1, -1], "local_kv_sizes": [-1, -1, -1, -1], "offset_pes": [false, false, false, false], "dwc_pes": [false, false, false, false], "sr_ratios": [8, 4, 2, 1], "fixed_pes": [false, false, false, false], "no_offs": [false, false, false, false], "ns_per_pts": [4, 4, 4, 4], "ksize_qnas": [3, 3, 3, 3], "nqs": [2, 2, 2, 2], "qna_activation": "exp", "deform_groups": [0, 0, 0, 0], "layer_scale_values": [-1, -1, -1, -1], "use_cmt_mlps": [false, false, false, false], "out_indices": [0, 1, 2, 3], "use_checkpoint": false, "dim_stem": 128, "dims": [128, 256, 512, 1024], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [4, 8, 16, 32], "groups": [2, 4, 8, 16], "use_pes": [true, true, true, true], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_path_rate": 0.7},
  },
  dat_pp_small: {
    kind: 'classifier',
    params: 53_127_366,
    source: "LeapLabTHU/DAT@32173fc configs/dat_small.yaml",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "dim_stem": 96, "dims": [96, 192, 384, 768], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [3, 6, 12, 24], "window_sizes": [7, 7, 7, 7], "groups": [1, 2, 3, 6], "use_pes": [true, true, true, true], "dwc_pes": [false, false, false, false], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "no_offs": [false, false, false, false], "fixed_pes": [false, false, false, false], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.4},
  },
  dat_pp_small_dense: {
    kind: 'backbone',
    params: 52_359_710,
    source: "LeapLabTHU/DAT-Segmentation@fdd2039 configs/dat/upn_*/fpn_* backbone (same in LeapLabTHU/DAT-Detection)",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "heads_q": [6, 12, 24, 48], "window_sizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "local_orf": [-1, -1, -1, -1], "local_kv_sizes": [-1, -1, -1, -1], "offset_pes": [false, false, false, false], "dwc_pes": [false, false, false, false], "sr_ratios": [8, 4, 2, 1], "fixed_pes": [false, false, false, false], "no_offs": [false, false, false, false], "ns_per_pts": [4, 4, 4, 4], "ksize_qnas": [3, 3, 3, 3], "nqs": [2, 2, 2, 2], "qna_activation": "exp", "deform_groups": [0, 0, 0, 0], "layer_scale_values": [-1, -1, -1, -1], "use_cmt_mlps": [false, false, false, false], "out_indices": [0, 1, 2, 3], "use_checkpoint": false, "dim_stem": 96, "dims": [96, 192, 384, 768], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [3, 6, 12, 24], "groups": [1, 2, 3, 6], "use_pes": [true, true, true, true], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_path_rate": 0.4},
  },
  dat_pp_tiny: {
    kind: 'classifier',
    params: 23_962_876,
    source: "LeapLabTHU/DAT@32173fc configs/dat_tiny.yaml",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "dim_stem": 64, "dims": [64, 128, 256, 512], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [2, 4, 8, 16], "window_sizes": [7, 7, 7, 7], "groups": [1, 2, 4, 8], "use_pes": [true, true, true, true], "dwc_pes": [false, false, false, false], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "no_offs": [false, false, false, false], "fixed_pes": [false, false, false, false], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "drop_path_rate": 0.2},
  },
  dat_pp_tiny_dense: {
    kind: 'backbone',
    params: 23_450_772,
    source: "LeapLabTHU/DAT-Segmentation@fdd2039 configs/dat/upn_*/fpn_* backbone (same in LeapLabTHU/DAT-Detection)",
    config: {"img_size": 224, "patch_size": 4, "num_classes": 1000, "expansion": 4, "heads_q": [6, 12, 24, 48], "window_sizes": [7, 7, 7, 7], "drop_rate": 0.0, "attn_drop_rate": 0.0, "local_orf": [-1, -1, -1, -1], "local_kv_sizes": [-1, -1, -1, -1], "offset_pes": [false, false, false, false], "dwc_pes": [false, false, false, false], "sr_ratios": [8, 4, 2, 1], "fixed_pes": [false, false, false, false], "no_offs": [false, false, false, false], "ns_per_pts": [4, 4, 4, 4], "ksize_qnas": [3, 3, 3, 3], "nqs": [2, 2, 2, 2], "qna_activation": "exp", "deform_groups": [0, 0, 0, 0], "layer_scale_values": [-1, -1, -1, -1], "use_cmt_mlps": [false, false, false, false], "out_indices": [0, 1, 2, 3], "use_checkpoint": false, "dim_stem": 64, "dims": [64, 128, 256, 512], "depths": [2, 4, 18, 2], "stage_spec": [["N", "D"], ["N", "D", "N", "D"], ["N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D", "N", "D"], ["D", "D"]], "heads": [2, 4, 8, 16], "groups": [1, 2, 4, 8], "use_pes": [true, true, true, true], "strides": [8, 4, 2, 1], "offset_range_factor": [-1, -1, -1, -1], "use_dwc_mlps": [true, true, true, true], "use_lpus": [true, true, true, true], "use_conv_patches": true, "ksizes": [9, 7, 5, 3], "nat_ksizes": [7, 7, 7, 7], "drop_path_rate": 0.2},
  },
} satisfies Record<string, Variant<DATOfficialConfig>>;

export type DATVariantName = keyof typeof variants;

export const dat: ModelFamily<DATOfficialConfig, DATVariantName> = declaredFamily({
  name: 'dat',
  packageName: '@dynavit/dat',
  references: ["LeapLabTHU/DAT", "LeapLabTHU/DAT-Segmentation", "LeapLabTHU/DAT-Detection"],
  variants,
});
