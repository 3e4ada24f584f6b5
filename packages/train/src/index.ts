/**
 * @dynavit/train — training and fine-tuning of dynavit classifiers, runtime-neutral: AdamW (PyTorch
 * semantics) with the official weight-decay exclusions, timm's cosine schedule with warm-up, label
 * smoothing, gradient clipping and accumulation, weight EMA, random-resized-crop and flip augmentation,
 * per-epoch top-1/top-5 evaluation, progress events, and checkpoints that resume exactly.
 */
export * from './augment.js';
export * from './checkpoint.js';
export * from './data.js';
export * from './ema.js';
export * from './gradients.js';
export * from './loss.js';
export * from './optimizer.js';
export * from './rng.js';
export * from './schedule.js';
export * from './train.js';
