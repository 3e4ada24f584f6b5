/**
 * Training initialisation of freshly built modules (their parameters start at zero), as timm and the
 * official repositories of the three families initialise theirs (`_init_weights`):
 *
 * | parameter | init |
 * |---|---|
 * | linear weight `[out, in]` | truncated normal, std 0.02 (cut at ±2 std) |
 * | linear bias | 0 |
 * | conv weight `[out, in/g, kh, kw]` and its bias | PyTorch's default: U(±1/√fan_in), fan_in = in/g·kh·kw |
 * | norm weight / bias, running mean / var | 1 / 0, 0 / 1 |
 * | `nn.MultiheadAttention`'s `in_proj_weight` / `in_proj_bias` | Xavier uniform / 0 (PyTorch's own init) |
 * | DAT's deformable `rpe_table` | truncated normal, std 0.01 (DAT's `trunc_normal_(…, std=0.01)`) |
 * | other position tables (`*table*`), learned slots and other tensors | truncated normal, std 0.02 |
 *
 * Scalars (0-d parameters, which constructors set themselves: GLMix's `slot_scale` = dim^−½) are kept.
 * Nothing is read back from the device, so it runs on every backend. Seeded: the same seed gives the
 * same weights everywhere.
 */
import { fromTorchLayout, type Module, Parameter } from './module.js';

/** A seeded generator (mulberry32; Box–Muller normals): the same numbers on every platform. */
export function seededRng(seed: number): { uniform(): number; normal(): number } {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform()),
  };
}

/** Initialise the parameters of a freshly built `m` for training (see the table above); returns how many. */
export function initializeWeights(m: Module, seed = 0): number {
  const r = seededRng(seed);
  const entries = [...m.namedEntries()];
  const weightShape = new Map(entries.map((e) => [e.key, e.torchShape] as const));
  let n = 0;
  for (const e of entries) {
    if (!(e.ref instanceof Parameter)) continue;
    const p = e.ref;
    if (p.size === 0 || e.torchShape.length === 0) continue;
    const name = e.key.split('.').pop()!;
    const shape = e.torchShape;
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    const truncNormal = (std: number) => {
      for (let i = 0; i < size; i++) {
        let v: number;
        do v = r.normal();
        while (Math.abs(v) > 2);
        data[i] = v * std;
      }
    };
    const uniform = (bound: number) => {
      for (let i = 0; i < size; i++) data[i] = (2 * r.uniform() - 1) * bound;
    };
    const sibling = weightShape.get(e.key.replace(/bias$/, 'weight'));
    if (name === 'running_var') data.fill(1);
    else if (name === 'in_proj_weight' && shape.length === 2) uniform(Math.sqrt(6 / (shape[0]! + shape[1]!)));
    else if (name === 'in_proj_bias') continue;
    else if (name === 'rpe_table') truncNormal(0.01);
    else if (name === 'running_mean') continue;
    else if (name === 'weight' && shape.length === 4) uniform(1 / Math.sqrt(shape[1]! * shape[2]! * shape[3]!));
    else if (name === 'bias' && sibling?.length === 4) uniform(1 / Math.sqrt(sibling[1]! * sibling[2]! * sibling[3]!));
    else if (name === 'weight' && shape.length === 2) truncNormal(0.02);
    else if (name === 'weight' && shape.length === 1) data.fill(1);
    else if (name === 'bias') continue;
    else truncNormal(0.02);
    const t = fromTorchLayout(data, shape, p.layout);
    p.variable.assign(t);
    t.dispose();
    n++;
  }
  return n;
}
