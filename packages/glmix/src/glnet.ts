/**
 * GLNet — Revisiting the integration of convolution and attention for vision backbone (GLMix;
 * Zhu et al., NeurIPS 2024). Official code: rayleizhu/GLMix@3c93dbf. Checkpoints of glnet_16g keep
 * their weights under `model_ema`.
 *
 * This file currently declares the registered variants; the model itself lands with the GLMix issue.
 */
import { declaredFamily, type ModelFamily, type Variant } from '@dynavit/core';

/** Constructor arguments of the official builder, exactly as the official code receives them. */
export type GLNetOfficialConfig = Readonly<Record<string, unknown>>;

export const variants = {
  glnet_16g: {
    kind: 'classifier',
    params: 106_055_161,
    source: "rayleizhu/GLMix@3c93dbf GLNet (glnet_16g); checkpoint key 'model_ema'",
    config: {"depth": [4, 4, 18, 4], "embed_dim": [128, 256, 512, 1024], "mlp_ratios": [3, 3, 3, 3], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix.mha_nchw", "mha_nchw"], "local_dw_ks": 5, "slot_init": "ada_avgpool", "num_slots": 64, "cpe_ks": 3, "downsample_style": "ovlp", "transition_layout": "proj.norm", "mlp_dw": true, "layerscale": 0.0001},
  },
  glnet_4g: {
    kind: 'classifier',
    params: 27_001_593,
    source: "rayleizhu/GLMix@3c93dbf GLNet (glnet_4g); checkpoint key 'model'",
    config: {"depth": [4, 4, 18, 4], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 3], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix.mha_nchw", "mha_nchw"], "local_dw_ks": 5, "slot_init": "ada_avgpool", "num_slots": 64, "cpe_ks": 3, "downsample_style": "ovlp", "transition_layout": "proj.norm", "mlp_dw": true},
  },
  glnet_4g_tklb: {
    kind: 'classifier',
    params: 27_514_593,
    source: "rayleizhu/GLMix@3c93dbf GLNet_tklb (glnet_4g_tklb); checkpoint key 'model'",
    config: {"depth": [4, 4, 18, 4], "embed_dim": [64, 128, 256, 512], "mlp_ratios": [3, 3, 3, 3], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix.mha_nchw", "mha_nchw"], "local_dw_ks": 5, "slot_init": "ada_avgpool", "num_slots": 64, "cpe_ks": 3, "downsample_style": "ovlp", "transition_layout": "proj.norm", "mlp_dw": true},
  },
  glnet_9g: {
    kind: 'classifier',
    params: 60_010_617,
    source: "rayleizhu/GLMix@3c93dbf GLNet (glnet_9g); checkpoint key 'model'",
    config: {"depth": [4, 4, 18, 4], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [3, 3, 3, 3], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix.mha_nchw", "mha_nchw"], "local_dw_ks": 5, "slot_init": "ada_avgpool", "num_slots": 64, "cpe_ks": 3, "downsample_style": "ovlp", "transition_layout": "proj.norm", "mlp_dw": true},
  },
  glnet_9g_tklb: {
    kind: 'classifier',
    params: 60_779_617,
    source: "rayleizhu/GLMix@3c93dbf GLNet_tklb (glnet_9g_tklb); checkpoint key 'model'",
    config: {"depth": [4, 4, 18, 4], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [3, 3, 3, 3], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix.mha_nchw", "mha_nchw"], "local_dw_ks": 5, "slot_init": "ada_avgpool", "num_slots": 64, "cpe_ks": 3, "downsample_style": "ovlp", "transition_layout": "proj.norm", "mlp_dw": true},
  },
  glnet_stl: {
    kind: 'classifier',
    params: 30_296_786,
    source: "rayleizhu/GLMix@3c93dbf GLNet (glnet_stl); checkpoint key 'model'",
    config: {"depth": [2, 2, 6, 2], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [4, 4, 4, 4], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix", "mha"], "local_dw_ks": 5, "slot_init": "ada_avgpool", "num_slots": 64, "transition_layout": "norm.proj"},
  },
  glnet_stl_paramslot: {
    kind: 'classifier',
    params: 30_481_106,
    source: "rayleizhu/GLMix@3c93dbf GLNet (glnet_stl_paramslot); checkpoint key 'model'",
    config: {"depth": [2, 2, 6, 2], "embed_dim": [96, 192, 384, 768], "mlp_ratios": [4, 4, 4, 4], "head_dim": 32, "norm_layer": "BatchNorm2d", "mixing_modes": ["glmix", "glmix", "glmix", "mha"], "local_dw_ks": 5, "slot_init": "param", "num_slots": 64, "transition_layout": "norm.proj"},
  },
} satisfies Record<string, Variant<GLNetOfficialConfig>>;

export type GLNetVariantName = keyof typeof variants;

export const glmix: ModelFamily<GLNetOfficialConfig, GLNetVariantName> = declaredFamily<GLNetOfficialConfig, GLNetVariantName>({
  name: 'glmix',
  packageName: '@dynavit/glmix',
  references: ["rayleizhu/GLMix"],
  variants,
});
