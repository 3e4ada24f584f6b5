/**
 * Backend selection in the browser: WebGPU → WebGL → wasm, first that initialises wins, overridable.
 * This package registers backends and picks one; it holds no model code. `planBackends` is the pure
 * decision (what to try, in which order, what is left out and why); `probeEnvironment` asks the page
 * what it offers; `selectBackend` imports the tfjs backend packages on demand, tries them in the
 * planned order and reports what it chose and why.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendProbe,
  type BackendChoice as CoreBackendChoice,
  DynavitError,
  InvalidArgumentError,
  registerFastKernels,
  registerGradientKernels,
} from '@dynavit/core';

export const WEB_BACKENDS = ['webgpu', 'webgl', 'wasm'] as const;
export type WebBackend = (typeof WEB_BACKENDS)[number];
/** What `selectBackend({ prefer })` accepts: a backend, or 'auto' (the default order). */
export type BackendPreference = WebBackend | 'auto';

/** What the page offers, probed by the caller (or by `probeEnvironment`). */
export interface WebEnvironment {
  /** `navigator.gpu` exists and an adapter was granted */
  webgpu: boolean;
  /** a WebGL2 context can be created */
  webgl: boolean;
  /** WebAssembly is available */
  wasm: boolean;
  /**
   * Backends that run on a software rasteriser (SwiftShader, llvmpipe, WARP, a fallback adapter), with the
   * renderer's name: slower than wasm on the same CPU, so `auto` passes over them (asking for one still works)
   */
  software?: Partial<Record<'webgpu' | 'webgl', string>>;
}

/** Renderer names of software GPU implementations (Chromium's SwiftShader, Mesa's llvmpipe/lavapipe, Windows' WARP). */
export const SOFTWARE_RENDERER = /swiftshader|llvmpipe|lavapipe|softpipe|software|microsoft basic render|\bwarp\b/i;

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
    const soft = b === 'wasm' ? undefined : env.software?.[b];
    if (env[b] && soft !== undefined && prefer === undefined) {
      skipped[b] = `a software adapter (${soft}): slower than wasm on this CPU; ask for it by name to use it`;
      return false;
    }
    if (env[b]) return true;
    skipped[b] =
      b === 'webgpu'
        ? 'navigator.gpu is missing or no adapter was granted'
        : b === 'webgl'
          ? 'no WebGL2 context'
          : 'WebAssembly is unavailable';
    return false;
  });
  if (prefer !== undefined) {
    const p = prefer as WebBackend;
    if (!env[p])
      throw new InvalidArgumentError(`backend "${p}" was requested but is not available here: ${skipped[p]}`);
    return { order: [p, ...usable.filter((b) => b !== p)], skipped };
  }
  return { order: usable, skipped };
}

/** The environment plus, for each backend found missing, the precise reason. */
export interface WebProbe extends WebEnvironment {
  details: Partial<Record<WebBackend, string>>;
  /** the WebGPU adapter's vendor / architecture, when one was granted (e.g. "google / swiftshader") */
  adapter?: string;
}

/** The part of `navigator.gpu` used here (the DOM typings in TypeScript's lib do not have WebGPU). */
interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<GpuAdapterLike | null>;
}

function webglContext(): { ok: boolean; why?: string; renderer?: string } {
  try {
    let gl: WebGL2RenderingContext | null = null;
    if (typeof OffscreenCanvas !== 'undefined') gl = new OffscreenCanvas(1, 1).getContext('webgl2');
    else if (typeof document !== 'undefined') gl = document.createElement('canvas').getContext('webgl2');
    else return { ok: false, why: 'no canvas (neither OffscreenCanvas nor document)' };
    if (!gl) return { ok: false, why: 'no WebGL2 context (disabled or unsupported GPU)' };
    const dbg = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
    // give the probe context back now: browsers cap the number of live WebGL contexts
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return { ok: true, ...(renderer ? { renderer } : {}) };
  } catch (e) {
    return { ok: false, why: `creating a WebGL2 context threw: ${(e as Error).message}` };
  }
}

/** Probe what this page (or worker) offers. Requests a WebGPU adapter, so it is async. */
export async function probeEnvironment(): Promise<WebProbe> {
  const details: Partial<Record<WebBackend, string>> = {};
  let webgpu = false;
  let adapter: string | undefined;
  const software: Partial<Record<'webgpu' | 'webgl', string>> = {};
  const gpu = typeof navigator !== 'undefined' ? (navigator as unknown as { gpu?: GpuLike }).gpu : undefined;
  if (!gpu) {
    const secure = typeof isSecureContext === 'undefined' || isSecureContext;
    details.webgpu = secure
      ? 'navigator.gpu is missing (this browser has no WebGPU, or it is disabled)'
      : 'navigator.gpu is missing: WebGPU needs a secure context (https or localhost)';
  } else {
    try {
      const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
      if (a) {
        webgpu = true;
        const info = a.info;
        adapter = info ? [info.vendor, info.architecture].filter(Boolean).join(' / ') || undefined : undefined;
        const described = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
        if (a.isFallbackAdapter || info?.isFallbackAdapter || SOFTWARE_RENDERER.test(described))
          software.webgpu = adapter ?? 'a fallback adapter';
      } else details.webgpu = 'navigator.gpu.requestAdapter() granted no adapter (GPU blocklisted or WebGPU disabled)';
    } catch (e) {
      details.webgpu = `navigator.gpu.requestAdapter() threw: ${(e as Error).message}`;
    }
  }
  const gl = webglContext();
  if (!gl.ok) details.webgl = gl.why!;
  else if (gl.renderer && SOFTWARE_RENDERER.test(gl.renderer)) software.webgl = gl.renderer.slice(0, 80);
  const wasm = typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function';
  if (!wasm) details.wasm = 'WebAssembly is unavailable';
  return {
    webgpu,
    webgl: gl.ok,
    wasm,
    details,
    ...(adapter ? { adapter } : {}),
    ...(Object.keys(software).length ? { software } : {}),
  };
}

/** The three binaries tfjs-backend-wasm picks from (plain, SIMD, SIMD + threads). */
export const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
] as const;
export type WasmFileMap = Record<(typeof WASM_FILES)[number], string>;

export interface SelectBackendOptions {
  /** a backend to use ('webgpu' | 'webgl' | 'wasm'), or 'auto' (default): WebGPU → WebGL → wasm */
  prefer?: string;
  /**
   * With `prefer`: when the requested backend fails to initialise, go on with the others in the
   * default order instead of throwing (default false: a request is a request).
   */
  fallback?: boolean;
  /**
   * Where tfjs-backend-wasm finds its `.wasm` binaries: a folder URL ending in `/` holding all three,
   * or one URL per file (see the README: with Vite, import each with `?url`). Needed whenever wasm
   * may be used from a bundle; passed to `setWasmPaths` before the wasm backend starts.
   */
  wasmPaths?: string | WasmFileMap;
  /** skip probing and use this environment (tests, or a caller that probed already) */
  env?: WebEnvironment | WebProbe;
}

/**
 * The choice, in the shape Node's chooser also returns (core's `BackendChoice`): `skipped` lists each
 * backend left out and why (missing here, or failed to initialise), in order of preference; `adapter`
 * is the WebGPU adapter ("vendor / architecture") when known.
 */
export type BackendChoice = CoreBackendChoice<WebBackend>;

/** The skipped reasons as core's probe list, in order of preference. */
function probes(skipped: Partial<Record<WebBackend, string>>): BackendProbe<WebBackend>[] {
  return WEB_BACKENDS.flatMap((backend) => {
    const reason = skipped[backend];
    return reason === undefined ? [] : [{ backend, available: false, reason }];
  });
}

/**
 * How each backend package is brought in: importing it registers it with tfjs-core; the wasm loader
 * also applies `wasmPaths`. `selectBackend` (select-backend.ts) imports them lazily; the pipeline's Web
 * Worker passes the packages it bundles (a classic worker cannot load chunks lazily).
 */
export type BackendLoaders = Readonly<Record<WebBackend, (opts: SelectBackendOptions) => Promise<void>>>;

/** The wasm loader's work once the package is loaded: setWasmPaths must come before the backend starts. */
export function applyWasmPaths(
  wasm: { setWasmPaths(p: string | WasmFileMap): void },
  opts: SelectBackendOptions,
): void {
  if (opts.wasmPaths !== undefined && !tf.findBackend('wasm')) wasm.setWasmPaths(opts.wasmPaths);
}

function checkWasmPaths(paths: SelectBackendOptions['wasmPaths']): void {
  if (paths === undefined || typeof paths === 'string') return;
  const missing = WASM_FILES.filter((f) => typeof (paths as Partial<WasmFileMap>)[f] !== 'string');
  if (missing.length)
    throw new InvalidArgumentError(
      `wasmPaths: give a URL for each of ${WASM_FILES.join(', ')} (or one folder URL); missing ${missing.join(', ')}`,
    );
}

const INIT_HINT: Readonly<Record<WebBackend, string>> = {
  webgpu: 'failed to initialise (no device from the adapter?)',
  webgl: 'failed to initialise (WebGL2 context lost or too limited?)',
  wasm: 'failed to initialise: its .wasm binary could not be fetched or compiled (served where `wasmPaths` says? see the README)',
};

/** `selectBackend` (select-backend.ts) with the given loaders for the backend packages. */
export async function selectBackendWith(
  loaders: BackendLoaders,
  opts: SelectBackendOptions = {},
): Promise<BackendChoice> {
  checkWasmPaths(opts.wasmPaths);
  const prefer = opts.prefer === 'auto' ? undefined : opts.prefer;
  const probe: WebEnvironment & Partial<WebProbe> = opts.env ?? (await probeEnvironment());
  const plan = planBackends(probe, prefer);
  const skipped: Partial<Record<WebBackend, string>> = {};
  for (const b of WEB_BACKENDS) if (plan.skipped[b]) skipped[b] = probe.details?.[b] ?? plan.skipped[b];
  const candidates = prefer !== undefined && !opts.fallback ? plan.order.slice(0, 1) : plan.order;
  const adapter = probe.adapter ? { adapter: probe.adapter } : {};
  for (const b of candidates) {
    try {
      await loaders[b](opts);
      if (await tf.setBackend(b)) {
        await tf.ready();
        registerGradientKernels(); // the backward kernels tfjs-backend-wasm lacks (core)
        registerFastKernels(); // faster wasm kernels, each wrapping wasm's own (core)
        const ahead = WEB_BACKENDS.slice(0, WEB_BACKENDS.indexOf(b)).filter((x) => skipped[x]);
        const reason =
          prefer === b
            ? 'requested'
            : prefer !== undefined
              ? `requested ${prefer} failed; first available after it`
              : ahead.length
                ? `first available (before it: ${ahead.join(', ')} skipped)`
                : 'first available';
        return {
          backend: b,
          tfjsName: tf.getBackend(),
          reason,
          skipped: probes(skipped),
          ...(b === 'webgpu' ? adapter : {}),
        };
      }
      skipped[b] = INIT_HINT[b];
    } catch (e) {
      if (DynavitError.isInstance(e) && e.code === 'INVALID_ARGUMENT') throw e;
      skipped[b] = `failed to initialise: ${(e as Error).message}`;
    }
  }
  const why = WEB_BACKENDS.map((b) => `${b}: ${skipped[b] ?? 'not tried'}`).join('; ');
  if (prefer !== undefined && !opts.fallback)
    throw new InvalidArgumentError(`backend "${prefer}" was requested but could not start (${why})`);
  throw new InvalidArgumentError(`no tfjs backend could start in this browser (${why})`);
}
