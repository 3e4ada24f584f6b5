/**
 * The fused neighbourhood-attention kernels on WebGPU: the two kernels the cpu/wasm backends run
 * (`DynavitNeighborhoodAttention2D`, heads-first q, k, v; `DynavitNeighborhoodAttention2DQKV`, a
 * channels-last fused qkv projection), as one WGSL compute shader. One invocation per (image, query,
 * head): the query's k×k window from the NATTEN rule (computed in the shader, no index tables to
 * upload), logits q·k·scale + rpb, softmax, then each output channel as the weighted sum of the window's
 * values; in float32. The composite ops of `neighborhood-attention.ts` stay the reference it is tested
 * against (backend-node's WebGPU suite, on Dawn).
 *
 * Core does not depend on `@tensorflow/tfjs-backend-webgpu` (see webgpu-program.ts).
 */
import { flatDispatch, type WebGPUProgramLike, wgslFloat } from './webgpu-program.js';

/**
 * Where q, k, v and the output sit in their buffers, in elements: the offset of (b, m, pos) is
 * base + b·sb + m·sm + pos·sp (channel d contiguous after it).
 */
export interface NaWebGPULayout {
  /** one buffer `qkv` (a fused projection) or three, `q`, `k`, `v` */
  fusedQKV: boolean;
  /** offsets of q, k, v's element 0 within their buffers */
  offsets: readonly [number, number, number];
  /** strides of b, m and position in the inputs, and in the output */
  inStrides: readonly [number, number, number];
  outStrides: readonly [number, number, number];
}

/** The shader program for a [B, M, H, W, D] attention with window k, dilation, scale, optional rpb. */
export function neighborhoodAttentionProgram(
  shape: readonly [number, number, number, number, number],
  kernelSize: number,
  dilation: number,
  scale: number,
  hasRpb: boolean,
  layout: NaWebGPULayout,
  outputShape: number[],
): WebGPUProgramLike {
  const [b, m, h, w, dim] = shape;
  const k = kernelSize;
  const invocations = b * m * h * w;
  const [qOff, kOff, vOff] = layout.offsets;
  const [sb, sm, sp] = layout.inStrides;
  const [ob, om, op] = layout.outStrides;
  const [qBuf, kBuf, vBuf] = layout.fusedQKV ? ['qkv', 'qkv', 'qkv'] : ['q', 'k', 'v'];
  const key = [shape.join('x'), k, dilation, wgslFloat(scale), hasRpb ? 1 : 0, layout.fusedQKV ? 1 : 0].join('_');
  return {
    variableNames: [...(layout.fusedQKV ? ['qkv'] : ['q', 'k', 'v']), ...(hasRpb ? ['rpb'] : [])],
    outputShape,
    shaderKey: `dynavitNeighborhoodAttention_${key}`,
    ...flatDispatch(outputShape, invocations),
    getUserCode: () => `
      const NA_M = ${m};
      const NA_H = ${h};
      const NA_W = ${w};
      const NA_D = ${dim};
      const NA_K = ${k};
      const NA_R = ${Math.floor(k / 2)};
      const NA_DIL = ${dilation};
      const NA_SPAN = ${2 * k - 1};

      // NATTEN's window along one axis of length L for position i: the first key's index and the
      // first bias row (the same rule as neighborhoodAxisTables)
      fn naWindow(i : i32, L : i32) -> vec2<i32> {
        let g = i % NA_DIL;
        let t = i / NA_DIL;
        let n = (L - 1 - g) / NA_DIL + 1;
        let start = clamp(t - NA_R, 0, n - NA_K);
        return vec2<i32>(g + start * NA_DIL, start - t + NA_K - 1);
      }

      fn main(index : i32) {
        // one invocation per NA_D outputs (the bind group needs the uniforms used)
        if (index * NA_D >= uniforms.size) {
          return;
        }
        let mi = index % NA_M;
        let pos = (index / NA_M) % (NA_H * NA_W);
        let bi = index / (NA_M * NA_H * NA_W);
        let row = naWindow(pos / NA_W, NA_H);
        let col = naWindow(pos % NA_W, NA_W);
        let base = bi * ${sb} + mi * ${sm};
        let qo = ${qOff} + base + pos * ${sp};
        var p : array<f32, ${k * k}>;
        var mx = -3.402823e38;
        for (var a = 0; a < NA_K; a++) {
          for (var c = 0; c < NA_K; c++) {
            let keyPos = (row.x + a * NA_DIL) * NA_W + col.x + c * NA_DIL;
            let ko = ${kOff} + base + keyPos * ${sp};
            var dot = 0.0;
            for (var d = 0; d < NA_D; d++) {
              dot = dot + ${qBuf}[qo + d] * ${kBuf}[ko + d];
            }
            var logit = dot * ${wgslFloat(scale)};
            ${hasRpb ? 'logit = logit + rpb[(mi * NA_SPAN + row.y + a) * NA_SPAN + col.y + c];' : ''}
            p[a * NA_K + c] = logit;
            mx = max(mx, logit);
          }
        }
        var sum = 0.0;
        for (var s = 0; s < NA_K * NA_K; s++) {
          let e = exp(p[s] - mx);
          p[s] = e;
          sum = sum + e;
        }
        let oo = bi * ${ob} + mi * ${om} + pos * ${op};
        for (var d = 0; d < NA_D; d++) {
          var acc = 0.0;
          for (var a = 0; a < NA_K; a++) {
            for (var c = 0; c < NA_K; c++) {
              let keyPos = (row.x + a * NA_DIL) * NA_W + col.x + c * NA_DIL;
              acc = acc + p[a * NA_K + c] * ${vBuf}[${vOff} + base + keyPos * ${sp} + d];
            }
          }
          result[oo + d] = acc / sum;
        }
      }
    `,
  };
}
