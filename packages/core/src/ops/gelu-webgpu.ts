/**
 * The fused GELU on WebGPU (`DynavitGelu`): one invocation per value, 0.5·x·(1 + erf(x/√2)) with erf by
 * Abramowitz–Stegun 7.1.26 as `gelu.wat` (WGSL has no erf), in float32. The composite of `gelu` in
 * `nn/layers.ts` is the reference it is tested against (backend-node's WebGPU suite, on Dawn). On WebGPU
 * in Node each kernel costs ~75–90 µs of host time: one kernel instead of five per MLP.
 *
 * Core does not depend on `@tensorflow/tfjs-backend-webgpu` (see webgpu-program.ts).
 */
import { flatDispatch, type WebGPUProgramLike } from './webgpu-program.js';

/** The program for a float32 tensor of `shape`. */
export function geluProgram(shape: readonly number[]): WebGPUProgramLike {
  const size = shape.reduce((a, d) => a * d, 1);
  return {
    variableNames: ['x'],
    outputShape: [...shape],
    shaderKey: 'dynavitGelu',
    ...flatDispatch(shape, size),
    getUserCode: () => `
      fn main(index : i32) {
        if (index >= uniforms.size) {
          return;
        }
        let v = x[index];
        let a = abs(v * 0.70710678);
        let t = 1.0 / (1.0 + 0.3275911 * a);
        let q = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
        let erfAbs = 1.0 - q * exp(-a * a);
        result[index] = 0.5 * v * (1.0 + select(erfAbs, -erfAbs, v < 0.0));
      }
    `,
  };
}
