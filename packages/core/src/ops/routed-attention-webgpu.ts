/**
 * The fused routed region attention on WebGPU (`DynavitRoutedAttention`, see routed-attention.ts): one
 * WGSL invocation per (image, region, query, head). It walks the K routed regions' T tokens in routing
 * order with an online softmax — the running maximum rescales the running sum and the d running
 * output sums when it grows — so no logit is stored; float32. Region indices are clamped to [0, P)
 * (a shader cannot throw; the host kernels do).
 *
 * Core does not depend on `@tensorflow/tfjs-backend-webgpu` (see webgpu-program.ts).
 */
import { flatDispatch, type WebGPUProgramLike, wgslFloat } from './webgpu-program.js';

/** The program for q [N,P,tq,C], T tokens per region, K routed regions, m heads, logits scale. */
export function routedAttentionProgram(
  qShape: readonly [number, number, number, number],
  tokens: number,
  topk: number,
  numHeads: number,
  scale: number,
): WebGPUProgramLike {
  const [n, p, tq, c] = qShape;
  const d = c / numHeads;
  const invocations = n * p * tq * numHeads;
  const key = [qShape.join('x'), tokens, topk, numHeads, wgslFloat(scale)].join('_');
  return {
    variableNames: ['q', 'k', 'v', 'idx'],
    outputShape: [...qShape],
    shaderKey: `dynavitRoutedAttention_${key}`,
    ...flatDispatch(qShape, invocations),
    getUserCode: () => `
      const RA_P = ${p};
      const RA_TQ = ${tq};
      const RA_T = ${tokens};
      const RA_K = ${topk};
      const RA_M = ${numHeads};
      const RA_C = ${c};
      const RA_D = ${d};

      fn main(index : i32) {
        // one invocation per RA_D outputs (the bind group needs the uniforms used)
        if (index * RA_D >= uniforms.size) {
          return;
        }
        let h = index % RA_M;
        let row = index / RA_M; // (image · P + region) · tq + query
        let region = row / RA_TQ; // image · P + region
        let image = region / RA_P;
        let qo = row * RA_C + h * RA_D;
        var qs : array<f32, ${d}>;
        for (var e = 0; e < RA_D; e++) {
          qs[e] = q[qo + e] * ${wgslFloat(scale)};
        }
        var acc : array<f32, ${d}>;
        for (var e = 0; e < RA_D; e++) {
          acc[e] = 0.0;
        }
        var mx = -3.402823e38;
        var sum = 0.0;
        for (var s = 0; s < RA_K; s++) {
          let r = clamp(idx[region * RA_K + s], 0, RA_P - 1);
          let tokenBase = (image * RA_P + r) * RA_T;
          for (var j = 0; j < RA_T; j++) {
            let ko = (tokenBase + j) * RA_C + h * RA_D;
            var dot = 0.0;
            for (var e = 0; e < RA_D; e++) {
              dot = dot + qs[e] * k[ko + e];
            }
            if (dot > mx) {
              // a new maximum: rescale what was summed against the old one
              let f = exp(mx - dot);
              sum = sum * f;
              for (var e = 0; e < RA_D; e++) {
                acc[e] = acc[e] * f;
              }
              mx = dot;
            }
            let w = exp(dot - mx);
            sum = sum + w;
            for (var e = 0; e < RA_D; e++) {
              acc[e] = acc[e] + w * v[ko + e];
            }
          }
        }
        for (var e = 0; e < RA_D; e++) {
          result[qo + e] = acc[e] / sum;
        }
      }
    `,
  };
}
