/**
 * Routed region attention as one fused kernel: the token-level step of BiFormer's bi-level routing
 * attention (BRA) and of DeBiFormer's DBRA (dbra.md §4, `KVGather` + the two attention products). The
 * queries of region p attend, per head, to the tokens of the k regions `idx[p, ·]` the routing chose,
 * softmax over those k·T keys.
 *
 * The composite form — gather the selected keys and values (or mask the others), two batched products
 * and a softmax between them — is `routedAttention` in `@dynavit/dbra`, the reference this kernel is
 * tested against (dbra's parity tests on cpu and wasm; backend-node's WebGPU suite on Dawn). The kernel
 * `DynavitRoutedAttention` reads the chosen regions where they are: nothing is gathered, no k·T logits
 * leave the kernel.
 * - cpu and wasm: a host loop per (region, query, head): logits over the k·T keys, softmax, the weighted
 *   sum of values, accumulated in float64.
 * - webgpu: one WGSL invocation per (image, region, query, head) with an online softmax (the running
 *   maximum rescales the running sums), float32 (`routed-attention-webgpu.ts`).
 *
 * Inference only, like the other fused kernels: no gradient is registered, so training takes the
 * composite (`useFusedRoutedAttention()` is false while a gradient is being recorded).
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '../errors.js';
import { assertDim, assertRank, assertShape } from './assert.js';
import { useFusedKernels, writeFloat32 } from './kernel-scope.js';
import { routedAttentionProgram } from './routed-attention-webgpu.js';
import { runWebGPUProgram } from './webgpu-program.js';

export const ROUTED_ATTENTION_KERNEL = 'DynavitRoutedAttention';

type KernelArgs = Parameters<tf.KernelFunc>[0];

interface RoutedAttrs {
  numHeads: number;
  scale: number;
}

/**
 * The host loop: q [N,P,tq,C], k/v [N,P,T,C], idx [N,P,K] → [N,P,tq,C]. An index outside [0, P)
 * throws (it would read another image's tokens).
 */
function routedLoop(
  qv: Float32Array,
  kv: Float32Array,
  vv: Float32Array,
  iv: Int32Array,
  [n, p, tq, c]: readonly number[],
  t: number,
  topk: number,
  m: number,
  scale: number,
): Float32Array {
  const d = c! / m;
  const d4 = d & ~3;
  const keys = topk * t;
  const out = new Float32Array(n! * p! * tq! * c!);
  const logits = new Float64Array(keys);
  const acc = new Float64Array(d);
  const qd = new Float64Array(d);
  // the token offsets (times C) of the keys of one query region, in routing order
  const keyRow = new Int32Array(keys);
  for (let ni = 0; ni < n!; ni++)
    for (let pi = 0; pi < p!; pi++) {
      for (let s = 0; s < topk; s++) {
        const r = iv[(ni * p! + pi) * topk + s]!;
        if (!(r >= 0 && r < p!))
          throw new InvalidArgumentError(
            `routedAttention: region index ${r} is out of range [0, ${p}) (image ${ni}, region ${pi})`,
          );
        for (let j = 0; j < t; j++) keyRow[s * t + j] = ((ni * p! + r) * t + j) * c!;
      }
      for (let i = 0; i < tq!; i++) {
        const qRow = ((ni * p! + pi) * tq! + i) * c!;
        for (let h = 0; h < m; h++) {
          const qo = qRow + h * d;
          for (let e = 0; e < d; e++) qd[e] = qv[qo + e]! * scale;
          let max = Number.NEGATIVE_INFINITY;
          for (let s = 0; s < keys; s++) {
            const ko = keyRow[s]! + h * d;
            // four independent sums (the additions need not wait on each other)
            let a0 = 0;
            let a1 = 0;
            let a2 = 0;
            let a3 = 0;
            let e = 0;
            for (; e < d4; e += 4) {
              a0 += qd[e]! * kv[ko + e]!;
              a1 += qd[e + 1]! * kv[ko + e + 1]!;
              a2 += qd[e + 2]! * kv[ko + e + 2]!;
              a3 += qd[e + 3]! * kv[ko + e + 3]!;
            }
            for (; e < d; e++) a0 += qd[e]! * kv[ko + e]!;
            const dot = a0 + a1 + (a2 + a3);
            logits[s] = dot;
            if (dot > max) max = dot;
          }
          let sum = 0;
          for (let s = 0; s < keys; s++) {
            const x = Math.exp(logits[s]! - max);
            logits[s] = x;
            sum += x;
          }
          acc.fill(0);
          for (let s = 0; s < keys; s++) {
            const w = logits[s]! / sum;
            const vo = keyRow[s]! + h * d;
            let e = 0;
            for (; e < d4; e += 4) {
              acc[e]! += w * vv[vo + e]!;
              acc[e + 1]! += w * vv[vo + e + 1]!;
              acc[e + 2]! += w * vv[vo + e + 2]!;
              acc[e + 3]! += w * vv[vo + e + 3]!;
            }
            for (; e < d; e++) acc[e]! += w * vv[vo + e]!;
          }
          for (let e = 0; e < d; e++) out[qo + e] = acc[e]!;
        }
      }
    }
  return out;
}

function routedAttentionHost({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as tf.KernelBackend;
  const { q, k, v, idx } = inputs as Record<string, tf.TensorInfo>;
  const { numHeads, scale } = attrs as unknown as RoutedAttrs;
  const host = (x: tf.TensorInfo) => be.readSync(x.dataId);
  const out = routedLoop(
    host(q!) as Float32Array,
    host(k!) as Float32Array,
    host(v!) as Float32Array,
    host(idx!) as Int32Array,
    q!.shape,
    k!.shape[2]!,
    idx!.shape[2]!,
    numHeads,
    scale,
  );
  return writeFloat32(be, out, [...q!.shape]);
}

function routedAttentionWebGPU({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { q, k, v, idx } = inputs as Record<string, tf.TensorInfo>;
  const { numHeads, scale } = attrs as unknown as RoutedAttrs;
  const program = routedAttentionProgram(
    q!.shape as [number, number, number, number],
    k!.shape[2]!,
    idx!.shape[2]!,
    numHeads,
    scale,
  );
  return runWebGPUProgram(backend, program, [q!, k!, v!, idx!]);
}

const FUSED_BY_BACKEND: Record<string, Record<string, tf.KernelFunc>> = {
  cpu: { [ROUTED_ATTENTION_KERNEL]: routedAttentionHost },
  wasm: { [ROUTED_ATTENTION_KERNEL]: routedAttentionHost },
  webgpu: { [ROUTED_ATTENTION_KERNEL]: routedAttentionWebGPU },
};

/**
 * Where inference should take the fused kernel (measured, DeBiFormer-T's 14 routed attentions at 224²,
 * 2-core AMD EPYC VM): on cpu 129 ms fused against 17–18 s for either composite; on WebGPU (Dawn on
 * SwiftShader, 112²) 0.20 s against 5.6 s. Not on wasm: its composites run their products in the SIMD
 * module, and the cheaper of the two per call (the cost model of dbra's `routedAttention`) took ~95 ms
 * against 174 ms for this host loop.
 */
const AUTO_BY_BACKEND = { cpu: FUSED_BY_BACKEND.cpu!, webgpu: FUSED_BY_BACKEND.webgpu! };

/**
 * Whether inference should run {@link routedAttentionFused} here: a cpu or webgpu backend (where it was
 * measured faster than the composites; it also runs on wasm when asked for) and no gradient being
 * recorded (the kernel has none). Registers the backend's kernel on first use.
 */
export const useFusedRoutedAttention = (): boolean => useFusedKernels(AUTO_BY_BACKEND);

/**
 * Routed region attention, fused (cpu, wasm, webgpu; not differentiable). q [N,P,tq,C] region-partitioned
 * queries (not yet scaled), k and v [N,P,T,C] the tokens of each region, idx int32 [N,P,K] the K regions
 * each query region attends to (values in [0, P); the host kernels throw on one outside, the shader
 * clamps), `numHeads` m dividing C → [N,P,tq,C]: per head, softmax over the K·T keys of
 * (scale·q)·k, times v. The same function as `routedAttention` of `@dynavit/dbra`.
 */
export function routedAttentionFused(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  idx: tf.Tensor3D,
  numHeads: number,
  scale: number,
): tf.Tensor4D {
  const op = 'routedAttentionFused';
  assertRank(op, 'q', q, 4);
  assertRank(op, 'k', k, 4);
  const [n, p, , c] = q.shape;
  assertShape(op, 'k', k, [n, p, null, c]);
  assertShape(op, 'v', v, k.shape);
  assertRank(op, 'idx', idx, 3);
  assertDim(op, 'idx', idx, 0, n, `batch ${n}`);
  assertDim(op, 'idx', idx, 1, p, `${p} regions`);
  if (idx.dtype !== 'int32') throw new InvalidArgumentError(`${op}: idx must be int32, got ${idx.dtype}`);
  if (!Number.isInteger(numHeads) || numHeads < 1 || c % numHeads)
    throw new InvalidArgumentError(`${op}: numHeads must be a positive divisor of C = ${c}, got ${numHeads}`);
  if (!Number.isFinite(scale)) throw new InvalidArgumentError(`${op}: scale must be finite, got ${scale}`);
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const)
    if (t.dtype !== 'float32') throw new InvalidArgumentError(`${op}: ${name} must be float32, got ${t.dtype}`);
  if (!useFusedKernels(FUSED_BY_BACKEND, true))
    throw new InvalidArgumentError(`${op}: the fused kernel runs on cpu, wasm and webgpu, not ${tf.getBackend()}`);
  const attrs: RoutedAttrs = { numHeads, scale };
  return tf
    .engine()
    .runKernel(ROUTED_ATTENTION_KERNEL, { q, k, v, idx }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}
