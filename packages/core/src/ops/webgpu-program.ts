/**
 * Custom WebGPU kernels without a dependency on `@tensorflow/tfjs-backend-webgpu`: a program is the plain
 * object its backend's `runWebGPUProgram` takes (the fields below), and the backend is reached through
 * that one method. tfjs wraps `getUserCode()` with the buffer declarations (inputs by `variableNames`,
 * the output as `result`, `uniforms.size` when `size` is set) and calls `main(index)` per invocation.
 * Every declared binding must be used by the shader: WebGPU derives the bind-group layout from it.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** The fields of tfjs-backend-webgpu's `WebGPUProgram` our kernels set. */
export interface WebGPUProgramLike {
  variableNames: string[];
  outputShape: number[];
  /** the pipeline cache key (tfjs adds the input shapes and dtypes) */
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** declares `uniforms.size`, the output's element count */
  size: boolean;
  getUserCode(): string;
}

interface WebGPUBackendLike {
  runWebGPUProgram(program: WebGPUProgramLike, inputs: tf.TensorInfo[], outputDtype: 'float32'): tf.TensorInfo;
}

const WORKGROUP = 64;

/**
 * The dispatch fields of a program with one invocation per `invocations` work items over a flat index
 * (`main(index)`, 64 per workgroup; tfjs reshapes a dispatch over the 65,535 limit), and `uniforms.size`.
 */
export function flatDispatch(
  outputShape: readonly number[],
  invocations: number,
): Pick<WebGPUProgramLike, 'dispatchLayout' | 'dispatch' | 'workgroupSize' | 'size'> {
  return {
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(invocations / WORKGROUP), 1, 1],
    workgroupSize: [WORKGROUP, 1, 1],
    size: true,
  };
}

/** Run `program` on the WebGPU backend `backend` (a kernel function's `backend`). */
export function runWebGPUProgram(backend: unknown, program: WebGPUProgramLike, inputs: tf.TensorInfo[]): tf.TensorInfo {
  return (backend as WebGPUBackendLike).runWebGPUProgram(program, inputs, 'float32');
}

/** A float literal for WGSL (float32-rounded). */
export const wgslFloat = (v: number): string => {
  const f = Math.fround(v);
  return Number.isInteger(f) ? `${f}.0` : String(f);
};
