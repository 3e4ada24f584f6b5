/**
 * `@dynavit/core/testing` — the parity harness (golden vectors from the official PyTorch code):
 * `runParity`/`runParityAsync`, the generic `imageModelParity` adapter, array comparison. Kept out of
 * the main entry so that applications never load it.
 */
export * from './parity.js';
export * from './weights.js';
export * from './gradients.js';
export * from './stochastic-depth.js';
