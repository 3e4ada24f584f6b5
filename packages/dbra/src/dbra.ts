/**
 * DeBiFormer — Vision Transformer with Deformable Agent Bi-level Routing Attention (Long et al., 2024;
 * arXiv:2410.08582). Official code: maclong01/DeBiFormer@1ceb090; bi-level routing attention from
 * rayleizhu/BiFormer. Note: DeBiFormer-B has 95,501,926 parameters in the official code, not the 77M
 * its README states; the table below follows the code.
 *
 * This file currently declares the registered variants; the model itself lands with the DBRA issue.
 */
import { declaredFamily, type ModelFamily, type Variant } from '@dynavit/core';

/** Constructor arguments of the official builder, exactly as the official code receives them. */
export type DBRAOfficialConfig = Readonly<Record<string, unknown>>;

export const variants = {
  debi_base_det: {
    kind: 'backbone',
    params: 94_734_270,
    source: "maclong01/DeBiFormer@1ceb090 detection/debiformer.py:debi_base (mmdet BACKBONES)",
    config: {"num_classes": 80, "depth": [2, 2, 9, 2], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [3, 3, 3, 3], "param_size": "base", "n_win": 32, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [96, 192, 384, 768], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "resume": "", "norm_eval": true, "disable_bn_grad": false, "auto_pad": true, "use_checkpoint_stages": []},
  },
  debi_base: {
    kind: 'classifier',
    params: 95_501_926,
    source: "maclong01/DeBiFormer@1ceb090 classification/debiformer.py:DeBiFormer via @register_model debi_base()",
    config: {"depth": [2, 2, 9, 2], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [3, 3, 3, 3], "param_size": "base", "drop_path_rate": 0.4, "n_win": 7, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [96, 192, 384, 768], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "auto_pad": true},
  },
  debi_base_seg: {
    kind: 'backbone',
    params: 94_734_270,
    source: "maclong01/DeBiFormer@1ceb090 segmentation/debiformer.py:debi_base (mmseg BACKBONES)",
    config: {"num_classes": 80, "depth": [2, 2, 9, 2], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [3, 3, 3, 3], "param_size": "base", "n_win": 8, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [96, 192, 384, 768], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "resume": "", "norm_eval": true, "disable_bn_grad": false, "auto_pad": true, "use_checkpoint_stages": [], "drop_path_rate": 0.4},
  },
  debi_small_det: {
    kind: 'backbone',
    params: 43_495_924,
    source: "maclong01/DeBiFormer@1ceb090 detection/debiformer.py:debi_small (mmdet BACKBONES)",
    config: {"num_classes": 80, "depth": [2, 2, 9, 3], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 2], "param_size": "small", "n_win": 16, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [64, 128, 256, 512], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "resume": "", "norm_eval": true, "disable_bn_grad": false, "auto_pad": true, "use_checkpoint_stages": []},
  },
  debi_small: {
    kind: 'classifier',
    params: 44_008_028,
    source: "maclong01/DeBiFormer@1ceb090 classification/debiformer.py:DeBiFormer via @register_model debi_small()",
    config: {"depth": [2, 2, 9, 3], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 2], "param_size": "small", "drop_path_rate": 0.3, "n_win": 7, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [64, 128, 256, 512], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "auto_pad": true},
  },
  debi_small_seg: {
    kind: 'backbone',
    params: 43_495_924,
    source: "maclong01/DeBiFormer@1ceb090 segmentation/debiformer.py:debi_small (mmseg BACKBONES)",
    config: {"num_classes": 80, "depth": [2, 2, 9, 3], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 2], "param_size": "small", "n_win": 8, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [64, 128, 256, 512], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "resume": "", "norm_eval": true, "disable_bn_grad": false, "auto_pad": true, "use_checkpoint_stages": []},
  },
  debi_tiny_det: {
    kind: 'backbone',
    params: 20_983_494,
    source: "maclong01/DeBiFormer@1ceb090 detection/debiformer.py:debi_tiny (mmdet BACKBONES)",
    config: {"num_classes": 80, "depth": [1, 1, 4, 1], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 3], "param_size": "tiny", "n_win": 8, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [64, 128, 256, 512], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "resume": "", "norm_eval": true, "disable_bn_grad": false, "auto_pad": true, "use_checkpoint_stages": [], "drop_path_rate": 0.1},
  },
  debi_tiny: {
    kind: 'classifier',
    params: 21_495_598,
    source: "maclong01/DeBiFormer@1ceb090 classification/debiformer.py:DeBiFormer via @register_model debi_tiny()",
    config: {"depth": [1, 1, 4, 1], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 3], "param_size": "tiny", "drop_path_rate": 0.0, "n_win": 7, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [64, 128, 256, 512], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "auto_pad": true},
  },
  debi_tiny_seg: {
    kind: 'backbone',
    params: 20_983_494,
    source: "maclong01/DeBiFormer@1ceb090 segmentation/debiformer.py:debi_tiny (mmseg BACKBONES)",
    config: {"num_classes": 80, "depth": [1, 1, 4, 1], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 3], "param_size": "tiny", "n_win": 8, "kv_downsample_mode": "identity", "kv_per_wins": [-1, -1, -1, -1], "topks": [4, 8, 16, -2], "side_dwconv": 5, "before_attn_dwconv": 3, "layer_scale_init_value": -1, "qk_dims": [64, 128, 256, 512], "head_dim": 32, "param_routing": false, "diff_routing": false, "soft_routing": false, "pre_norm": true, "pe": null, "resume": "", "norm_eval": true, "disable_bn_grad": false, "auto_pad": true, "use_checkpoint_stages": [], "drop_path_rate": 0.1},
  },
} satisfies Record<string, Variant<DBRAOfficialConfig>>;

export type DBRAVariantName = keyof typeof variants;

export const dbra: ModelFamily<DBRAOfficialConfig, DBRAVariantName> = declaredFamily<DBRAOfficialConfig, DBRAVariantName>({
  name: 'dbra',
  packageName: '@dynavit/dbra',
  references: ["maclong01/DeBiFormer", "rayleizhu/BiFormer"],
  variants,
});
