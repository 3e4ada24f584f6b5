import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DynavitError } from '@dynavit/core';
import { planBackends, probeEnvironment } from './backends.js';
import { selectBackend } from './select-backend.js';
import { WASM_PATHS } from './cases.browser.js';

describe('backend selection in Chromium', () => {
  it('probes WebGPU (SwiftShader), WebGL2 and WebAssembly', async () => {
    const env = await probeEnvironment();
    expect(env.webgpu).toBe(true);
    expect(env.wasm).toBe(true);
    expect(env.details.webgpu).toBeUndefined();
    // headless Chromium renders with SwiftShader: both GPU paths are software
    expect(env.software?.webgpu).toMatch(/swiftshader/i);
    expect(env.software?.webgl).toMatch(/swiftshader/i);
    console.log(`probe: ${JSON.stringify(env)}`);
  });

  it('auto passes over the software adapters (SwiftShader) to wasm, and says why; WebGPU by name still works', async () => {
    const choice = await selectBackend({ wasmPaths: WASM_PATHS });
    expect(choice.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.reason).toBe('first available (before it: webgpu, webgl skipped)');
    expect(choice.skipped.map((p) => p.backend)).toEqual(['webgpu', 'webgl']);
    for (const p of choice.skipped) expect(p.reason).toMatch(/^a software adapter \(.*\): slower than wasm/);
    const gpu = await selectBackend({ prefer: 'webgpu' });
    expect(gpu).toMatchObject({ backend: 'webgpu', reason: 'requested' });
    console.log(`auto choice: ${JSON.stringify(choice)}`);
  });

  it('honours a preference, and switches back', async () => {
    const wasm = await selectBackend({ prefer: 'wasm', wasmPaths: WASM_PATHS });
    expect(wasm).toMatchObject({ backend: 'wasm', reason: 'requested' });
    expect(tf.getBackend()).toBe('wasm');
    const webgl = await selectBackend({ prefer: 'webgl' });
    expect(webgl).toMatchObject({ backend: 'webgl', reason: 'requested' });
    expect(tf.getBackend()).toBe('webgl');
    const auto = await selectBackend({ prefer: 'auto' });
    expect(auto.backend).toBe('wasm');
  });

  it('reports what a page without WebGPU would get', async () => {
    const choice = await selectBackend({ env: { webgpu: false, webgl: false, wasm: true }, wasmPaths: WASM_PATHS });
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/first available \(before it: webgpu, webgl skipped\)/);
    expect(choice.skipped.find((p) => p.backend === 'webgpu')?.reason).toMatch(/navigator\.gpu/);
    expect(planBackends({ webgpu: false, webgl: false, wasm: true }).order).toEqual(['wasm']);
    const noGl = await selectBackend({ env: { webgpu: true, webgl: false, wasm: true } });
    expect(noGl).toMatchObject({
      backend: 'webgpu',
      reason: 'first available',
      skipped: [{ backend: 'webgl', available: false, reason: 'no WebGL2 context' }],
    });
  });

  it('rejects unknown or unavailable requests with typed errors', async () => {
    await expect(selectBackend({ prefer: 'cuda' })).rejects.toThrow(/unknown backend "cuda"/);
    const err = await selectBackend({ prefer: 'webgpu', env: { webgpu: false, webgl: true, wasm: true } }).catch(
      (e: unknown) => e,
    );
    expect(DynavitError.isInstance(err)).toBe(true);
    expect((err as Error).message).toMatch(/not available here/);
    await expect(
      selectBackend({ prefer: 'wasm', wasmPaths: { 'tfjs-backend-wasm.wasm': 'x' } as never }),
    ).rejects.toThrow(/wasmPaths/);
  });
});
