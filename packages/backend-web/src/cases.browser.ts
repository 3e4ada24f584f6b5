/**
 * Test data for the browser suite, served by Vite from the packages that vendor it (`?url` gives a
 * `/@fs/…` URL; vitest.browser.config.ts allows the packages folder). Nothing is copied here.
 */
import datGrad from '../../dat/src/__fixtures__/golden/dat_pp_reduced.grad.safetensors?url';
import dbraGrad from '../../dbra/src/__fixtures__/golden/cls_tiny_reduced.grad.safetensors?url';
import glmixGrad from '../../glmix/src/__fixtures__/golden/g_reduced_96x128.grad.safetensors?url';
import datIo from '../../dat/src/__fixtures__/golden/dat_pp_reduced.io.safetensors?url';
import datWeights from '../../dat/src/__fixtures__/golden/dat_pp_reduced.weights.safetensors?url';
import dbraIo from '../../dbra/src/__fixtures__/golden/cls_tiny_reduced.io.safetensors?url';
import dbraWeights from '../../dbra/src/__fixtures__/golden/cls_tiny_reduced.weights.safetensors?url';
import glmixIo from '../../glmix/src/__fixtures__/golden/g_reduced_96x128.io.safetensors?url';
import glmixWeights from '../../glmix/src/__fixtures__/golden/g_reduced_96x128.weights.safetensors?url';
import upernetIo from '../../heads/src/__fixtures__/golden/upernet_small.io.safetensors?url';
import upernetWeights from '../../heads/src/__fixtures__/golden/upernet_small.weights.safetensors?url';
import maskrcnnPth from '../../core/src/io/__fixtures__/heads_maskrcnn_small.pth?url';
import maskrcnnSafetensors from '../../core/src/io/__fixtures__/heads_maskrcnn_small.weights.safetensors?url';
import hostilePth from '../../core/src/io/__fixtures__/hostile.pth?url';
import resampleFixture from '../../core/src/image/__fixtures__/resample.safetensors?url';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { WasmFileMap } from './backends.js';

export interface GoldenCase {
  /** family folder / case name, as `dynavit verify` prints it */
  name: string;
  /** the registry family that must build it */
  family: 'dat' | 'dbra' | 'glmix' | 'heads';
  weights: string;
  io: string;
}

/**
 * The reduced golden cases the browser suite checks on WebGPU (SwiftShader) and wasm. Only reduced
 * cases: SwiftShader runs tfjs-webgpu matmuls at ~0.3 GFLOP/s. A new family's case goes here.
 */
export const GOLDEN_CASES: readonly GoldenCase[] = [
  { name: 'dat/dat_pp_reduced', family: 'dat', weights: datWeights, io: datIo },
  { name: 'heads/upernet_small', family: 'heads', weights: upernetWeights, io: upernetIo },
  { name: 'dbra/cls_tiny_reduced', family: 'dbra', weights: dbraWeights, io: dbraIo },
  { name: 'glmix/g_reduced_96x128', family: 'glmix', weights: glmixWeights, io: glmixIo },
];

/** The reduced classification cases with the official autograd's gradients (`CASE.grad.safetensors`). */
export const GRADIENT_CASES: readonly (GoldenCase & { grad: string })[] = [
  { name: 'dat/dat_pp_reduced', family: 'dat', weights: datWeights, io: datIo, grad: datGrad },
  { name: 'dbra/cls_tiny_reduced', family: 'dbra', weights: dbraWeights, io: dbraIo, grad: dbraGrad },
  { name: 'glmix/g_reduced_96x128', family: 'glmix', weights: glmixWeights, io: glmixIo, grad: glmixGrad },
];

export const FILES = { maskrcnnPth, maskrcnnSafetensors, hostilePth, resampleFixture } as const;

/** The same paths on disk, relative to this package (for `userEvent.upload`, which takes paths). */
export const DISK_PATHS = {
  maskrcnnPth: '../core/src/io/__fixtures__/heads_maskrcnn_small.pth',
} as const;

/** tfjs-backend-wasm's binaries as Vite serves them: what the README tells users to do. */
export const WASM_PATHS: WasmFileMap = {
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};
