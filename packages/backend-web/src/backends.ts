/**
 * Backend selection in the browser: WebGPU → WebGL → wasm, first that initialises wins, overridable.
 * This package registers backends and picks one; it holds no model code. (This first version covers
 * the decision logic; the backend packages are wired in with the backend-web issue.)
 */
import { InvalidArgumentError } from '@dynavit/core';

export const WEB_BACKENDS = ['webgpu', 'webgl', 'wasm'] as const;
export type WebBackend = (typeof WEB_BACKENDS)[number];

/** What the page offers, probed by the caller (or by `probeEnvironment`). */
export interface WebEnvironment {
  /** `navigator.gpu` exists and an adapter was granted */
  webgpu: boolean;
  /** a WebGL2 context can be created */
  webgl: boolean;
  /** WebAssembly is available */
  wasm: boolean;
}

export interface WebBackendPlan {
  /** candidates in the order they will be tried */
  order: WebBackend[];
  /** for each backend left out, why */
  skipped: Partial<Record<WebBackend, string>>;
}

/** Decide the order to try backends in, given what the environment offers and an optional preference. */
export function planBackends(env: WebEnvironment, prefer?: string): WebBackendPlan {
  if (prefer !== undefined && !(WEB_BACKENDS as readonly string[]).includes(prefer))
    throw new InvalidArgumentError(`unknown backend "${prefer}"; available in the browser: ${WEB_BACKENDS.join(', ')}`);
  const skipped: Partial<Record<WebBackend, string>> = {};
  const usable = WEB_BACKENDS.filter((b) => {
    if (env[b]) return true;
    skipped[b] = b === 'webgpu' ? 'navigator.gpu is missing or no adapter was granted' : b === 'webgl' ? 'no WebGL2 context' : 'WebAssembly is unavailable';
    return false;
  });
  if (prefer !== undefined) {
    const p = prefer as WebBackend;
    if (!env[p]) throw new InvalidArgumentError(`backend "${p}" was requested but is not available here: ${skipped[p]}`);
    return { order: [p, ...usable.filter((b) => b !== p)], skipped };
  }
  return { order: usable, skipped };
}
