/**
 * The fused soft dispatch on WebGPU (`DynavitSoftDispatch`, see soft-dispatch.ts): one WGSL invocation
 * per (image, pixel, 4 channels). It reads the pixel's S logits twice in place — their maximum, then the
 * exponentials summed and applied to the slots' channels at once — so neither a transposed copy of the
 * logits nor the [B, L, S] weights exist; float32.
 *
 * Core does not depend on `@tensorflow/tfjs-backend-webgpu` (see webgpu-program.ts).
 */
import { flatDispatch, type WebGPUProgramLike } from './webgpu-program.js';

/** The program for logits [B, S, L] and slots [B, S, C] → [B, L, C]. */
export function softDispatchProgram(
  logitsShape: readonly [number, number, number],
  channels: number,
): WebGPUProgramLike {
  const [b, s, l] = logitsShape;
  const groups = Math.ceil(channels / 4);
  const outputShape = [b, l, channels];
  return {
    variableNames: ['logits', 'slots'],
    outputShape,
    shaderKey: `dynavitSoftDispatch_${[b, s, l, channels].join('x')}`,
    ...flatDispatch(outputShape, b * l * groups),
    getUserCode: () => `
      const SD_S = ${s};
      const SD_L = ${l};
      const SD_C = ${channels};
      const SD_G = ${groups};

      fn main(index : i32) {
        // one invocation per 4 outputs (the bind group needs the uniforms used)
        if (index >= SD_G * (uniforms.size / SD_C)) {
          return;
        }
        let c0 = (index % SD_G) * 4;
        let pixel = index / SD_G; // image · L + l
        let image = pixel / SD_L;
        let col = image * SD_S * SD_L + pixel % SD_L; // logits[image, 0, l]
        var mx = -3.402823e38;
        for (var si = 0; si < SD_S; si++) {
          mx = max(mx, logits[col + si * SD_L]);
        }
        var sum = 0.0;
        var acc = vec4<f32>(0.0);
        let n = min(4, SD_C - c0);
        for (var si = 0; si < SD_S; si++) {
          let w = exp(logits[col + si * SD_L] - mx);
          sum = sum + w;
          let so = (image * SD_S + si) * SD_C + c0;
          var v = vec4<f32>(0.0);
          for (var j = 0; j < n; j++) {
            v[j] = slots[so + j];
          }
          acc = acc + w * v;
        }
        let oo = pixel * SD_C + c0;
        for (var j = 0; j < n; j++) {
          result[oo + j] = acc[j] / sum;
        }
      }
    `,
  };
}

/**
 * The fused soft clustering (`DynavitSoftCluster`): logits [B, S, L] and tokens [B, L, C] → [B, S, C], one
 * invocation per (image, slot, 4 channels). It reads the slot's row of L logits twice in place — the
 * maximum, then the exponentials summed and applied to the tokens' channels — so the [B, S, L] softmax
 * is never stored; float32.
 */
export function softClusterProgram(
  logitsShape: readonly [number, number, number],
  channels: number,
): WebGPUProgramLike {
  const [b, s, l] = logitsShape;
  const groups = Math.ceil(channels / 4);
  const outputShape = [b, s, channels];
  return {
    variableNames: ['logits', 'tokens'],
    outputShape,
    shaderKey: `dynavitSoftCluster_${[b, s, l, channels].join('x')}`,
    ...flatDispatch(outputShape, b * s * groups),
    getUserCode: () => `
      const SC_S = ${s};
      const SC_L = ${l};
      const SC_C = ${channels};
      const SC_G = ${groups};

      fn main(index : i32) {
        // one invocation per 4 outputs (the bind group needs the uniforms used)
        if (index >= SC_G * (uniforms.size / SC_C)) {
          return;
        }
        let c0 = (index % SC_G) * 4;
        let slot = index / SC_G; // image · S + s
        let image = slot / SC_S;
        let row = slot * SC_L; // logits[image, s, 0]
        var mx = -3.402823e38;
        for (var li = 0; li < SC_L; li++) {
          mx = max(mx, logits[row + li]);
        }
        var sum = 0.0;
        var acc = vec4<f32>(0.0);
        let n = min(4, SC_C - c0);
        for (var li = 0; li < SC_L; li++) {
          let w = exp(logits[row + li] - mx);
          sum = sum + w;
          let to = (image * SC_L + li) * SC_C + c0;
          var v = vec4<f32>(0.0);
          for (var j = 0; j < n; j++) {
            v[j] = tokens[to + j];
          }
          acc = acc + w * v;
        }
        let oo = slot * SC_C + c0;
        for (var j = 0; j < n; j++) {
          result[oo + j] = acc[j] / sum;
        }
      }
    `,
  };
}
