/** Backend-agnostic tensor building blocks (NHWC): ops tfjs-core lacks or gets subtly different from torch. */
export * from './gather.js';
export * from './grid-sample.js';
export * from './neighborhood-attention.js';
export * from './pooling.js';
export * from './resize.js';
export * from './routed-attention.js';
export * from './stop-gradient.js';
export * from './windows.js';
export * from './broadcast-check.js';
export * from './separable-grid-sample.js';
export * from './soft-dispatch.js';
export * from './layout.js';
export * from './fast-kernels.js';
export * from './gradient-kernels.js';
export * from './webgpu-compile.js';
export * from './winograd.js';
export { LAYER_NORM_KERNEL } from './layer-norm.js';
export { SELF_ATTENTION_QKV_KERNEL, type SelfAttentionOptions, selfAttentionFromQKV } from './self-attention.js';
