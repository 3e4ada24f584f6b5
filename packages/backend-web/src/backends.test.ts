import { describe, expect, it } from 'vitest';
import { DynavitError } from '@dynavit/core';
import { planBackends } from './backends.js';

describe('planBackends', () => {
  it('prefers WebGPU, then WebGL, then wasm', () => {
    expect(planBackends({ webgpu: true, webgl: true, wasm: true }).order).toEqual(['webgpu', 'webgl', 'wasm']);
  });
  it('skips what the page lacks and says why', () => {
    const plan = planBackends({ webgpu: false, webgl: true, wasm: true });
    expect(plan.order).toEqual(['webgl', 'wasm']);
    expect(plan.skipped.webgpu).toMatch(/navigator\.gpu/);
  });
  it('passes over software adapters (SwiftShader) unless one is asked for by name', () => {
    const env = {
      webgpu: true,
      webgl: true,
      wasm: true,
      software: { webgpu: 'google / swiftshader', webgl: 'ANGLE (SwiftShader)' },
    };
    const plan = planBackends(env);
    expect(plan.order).toEqual(['wasm']);
    expect(plan.skipped.webgpu).toBe(
      'a software adapter (google / swiftshader): slower than wasm on this CPU; ask for it by name to use it',
    );
    expect(plan.skipped.webgl).toMatch(/^a software adapter \(ANGLE \(SwiftShader\)\)/);
    expect(planBackends(env, 'webgpu').order).toEqual(['webgpu', 'webgl', 'wasm']);
    expect(planBackends({ ...env, software: { webgl: 'llvmpipe' } }).order).toEqual(['webgpu', 'wasm']);
  });
  it('puts a requested backend first', () => {
    expect(planBackends({ webgpu: true, webgl: true, wasm: true }, 'wasm').order).toEqual(['wasm', 'webgpu', 'webgl']);
  });
  it('rejects unknown or unavailable requests with a typed error', () => {
    expect(() => planBackends({ webgpu: true, webgl: true, wasm: true }, 'cuda')).toThrow(/unknown backend "cuda"/);
    try {
      planBackends({ webgpu: false, webgl: true, wasm: true }, 'webgpu');
      expect.unreachable();
    } catch (e) {
      expect(DynavitError.isInstance(e)).toBe(true);
      expect((e as Error).message).toMatch(/not available here/);
    }
  });
});

describe('selectBackend (decision only: no backend starts)', () => {
  it('rejects bad options before touching tfjs', async () => {
    const { selectBackend } = await import('./select-backend.js');
    await expect(selectBackend({ prefer: 'cuda', env: { webgpu: true, webgl: true, wasm: true } })).rejects.toThrow(
      /unknown backend "cuda"/,
    );
    await expect(selectBackend({ prefer: 'webgpu', env: { webgpu: false, webgl: true, wasm: true } })).rejects.toThrow(
      /not available here/,
    );
    await expect(
      selectBackend({
        wasmPaths: { 'tfjs-backend-wasm.wasm': '/a.wasm' } as never,
        env: { webgpu: false, webgl: false, wasm: true },
      }),
    ).rejects.toThrow(/missing tfjs-backend-wasm-simd\.wasm, tfjs-backend-wasm-threaded-simd\.wasm/);
  });
});
