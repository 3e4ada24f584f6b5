/**
 * Without `wasmPaths`, a bundled app cannot find tfjs-backend-wasm's binaries (Vite serves them from
 * nowhere): the chooser must say so and fall through, not hang or pick a dead backend. Its own file,
 * so the wasm backend of the other files' pages is untouched (an aborted wasm start is final).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect, it, vi } from 'vitest';
import { DynavitError } from '@dynavit/core';
import { selectBackend } from './select-backend.js';

it('reports a wasm backend whose binary is not served, and falls back', async () => {
  // emscripten and tfjs log the failed fetch at length; the assertions below say what matters
  const quiet = [
    vi.spyOn(console, 'warn').mockImplementation(() => {}),
    vi.spyOn(console, 'error').mockImplementation(() => {}),
  ];
  const err = await selectBackend({ prefer: 'wasm' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(DynavitError.isInstance(err)).toBe(true);
  expect((err as Error).message).toMatch(
    /backend "wasm" was requested but could not start .*wasm: failed to initialise.*wasmPaths/,
  );
  const choice = await selectBackend({ prefer: 'wasm', fallback: true });
  expect(choice.backend).toBe('webgpu');
  expect(choice.reason).toBe('requested wasm failed; first available after it');
  expect(choice.skipped.find((p) => p.backend === 'wasm')?.reason).toMatch(/wasmPaths/);
  expect(tf.getBackend()).toBe('webgpu');
  for (const q of quiet) q.mockRestore();
});
