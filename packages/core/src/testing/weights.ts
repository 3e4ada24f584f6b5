/**
 * Seeded weights for tests of whole pipelines: every float tensor of a state dict redrawn from a fixed
 * linear congruential sequence, uniform in ±scale/2 (0.1 by default; a 1000-way classifier ×40 wider, so
 * random features give well separated class scores), BatchNorm running variances in [1, 2).
 * Integer tensors (num_batches_tracked) are kept. The same seed gives the same weights in Node and in
 * the browser.
 */
import type { StateDict } from '../io/tensor-data.js';

export interface SeededWeightsOptions {
  /** width of the uniform draw (default 0.1) */
  scale?: number;
  /** width for [1000, C] classifier weights (default 4) */
  classifierScale?: number;
}

export function seededWeights(sd: StateDict, seed: number, opts: SeededWeightsOptions = {}): StateDict {
  const scale = opts.scale ?? 0.1;
  const classifierScale = opts.classifierScale ?? 4;
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const out: StateDict = new Map();
  for (const [k, t] of sd) {
    if (t.dtype !== 'F32') {
      out.set(k, t);
      continue;
    }
    const data = new Float32Array(t.data.length);
    const w = t.shape.length === 2 && t.shape[0] === 1000 ? classifierScale : scale;
    const variance = k.endsWith('running_var');
    for (let i = 0; i < data.length; i++) data[i] = variance ? 1 + next() : (next() - 0.5) * w;
    out.set(k, { ...t, data });
  }
  return out;
}
