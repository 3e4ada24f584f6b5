/**
 * @dynavit/core — backend-agnostic building blocks shared by every dynavit package.
 *
 * Layout convention: every public API takes NHWC tensors ([batch, height, width, channels]).
 */
export * from './errors.js';
export * from './contracts.js';
export * from './io/tensor-data.js';
export * from './io/budget.js';
export * from './io/safetensors.js';
export * from './io/pth.js';
export * from './nn/module.js';
export * from './nn/layers.js';
export * from './nn/blocks.js';
export * from './nn/flops.js';
export * from './nn/init.js';
export * from './nn/profile.js';
export * from './nn/attention-baselines.js';
export * from './attention.js';
export * from './registry.js';
export * from './zoo.js';
export * from './config.js';
export * from './nn/staged-model.js';
export * from './ops/index.js';
export { assertRank, assertDim, assertShape } from './ops/assert.js';
export * from './image/resample.js';
