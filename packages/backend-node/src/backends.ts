/**
 * Backend selection in Node. This package registers backends and picks one; it holds no model code.
 *
 * Order of preference, first available wins (overridable with `prefer`):
 *   tensorflow-gpu  `@tensorflow/tfjs-node-gpu`, when installed and a CUDA device is present
 *   tensorflow      `@tensorflow/tfjs-node`
 *   webgpu          `@tensorflow/tfjs-backend-webgpu` on Dawn through the `webgpu` package, when an adapter exists
 *   wasm            `@tensorflow/tfjs-backend-wasm` (the default on machines without the above)
 *   cpu             `@tensorflow/tfjs-backend-cpu` (plain JS; slow, always there)
 * The tfjs-node packages and `webgpu` are optional peers: their absence is reported, never thrown.
 *
 * WebGPU without a GPU: Dawn's Vulkan backend runs on SwiftShader (shipped by Debian's `chromium`);
 * start Node with `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json` and make
 * `libvulkan.so.1` loadable (Debian `libvulkan1`, or `LD_LIBRARY_PATH=/usr/lib/chromium`).
 * SwiftShader is a correctness path (~0.3 GFLOP/s), not a fast one.
 *
 * Probing WebGPU runs Dawn in a child process: Dawn and the Vulkan loader print native lines on stderr
 * (XDG_RUNTIME_DIR, Vulkan, `at InitializeImpl`) that no JavaScript can silence; the child's stderr is
 * dropped unless `setVerbose(true)` (the CLI's `--verbose`). Dawn starts in this process only when
 * WebGPU is the backend actually used.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendChoice as CoreBackendChoice,
  type BackendProbe as CoreBackendProbe,
  InvalidArgumentError,
  NotImplementedError,
  registerFastKernels,
  registerGradientKernels,
} from '@dynavit/core';
import { maxWasmThreads, startThreadedWasm, wasmThreadsRunning } from './wasm-threads.js';

export const NODE_BACKENDS = ['tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

/** The name tfjs registers each backend under. */
const TFJS_NAME: Record<NodeBackend, string> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  webgpu: 'webgpu',
  wasm: 'wasm',
  cpu: 'cpu',
};

/** One Node backend's availability (core's `BackendProbe`). */
export type BackendProbe = CoreBackendProbe<NodeBackend>;

/** The Node backend `selectBackend` activated (core's `BackendChoice`). */
export type BackendChoice = CoreBackendChoice<NodeBackend>;

export function isNodeBackend(name: string): name is NodeBackend {
  return (NODE_BACKENDS as readonly string[]).includes(name);
}

/** Import an optional package by a name the bundler/type-checker does not try to resolve. */
async function optionalImport(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ name);
}

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? '';
  const notFound =
    err.code === 'ERR_MODULE_NOT_FOUND' ||
    err.code === 'MODULE_NOT_FOUND' ||
    /Cannot find (package|module)|Could not resolve|Failed to load url/.test(msg);
  return notFound && msg.includes(pkg);
}

/** Is a Vulkan driver plausibly installed (an ICD manifest Dawn's loader would find)? */
export function vulkanDriverHint(): string | null {
  const env = process.env['VK_ICD_FILENAMES'] ?? process.env['VK_DRIVER_FILES'];
  if (env) return env.split(':').every((f) => existsSync(f)) ? `ICD from the environment: ${env}` : null;
  for (const d of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'])
    if (existsSync(d) && readdirSync(d).some((f) => f.endsWith('.json'))) return `ICD manifests in ${d}`;
  return null;
}

function hasCudaDevice(): boolean {
  return existsSync('/proc/driver/nvidia/version') || existsSync('/dev/nvidia0');
}

interface GPUAdapterLike {
  info?: { description?: string; vendor?: string; architecture?: string };
}
interface GPULike {
  requestAdapter(): Promise<GPUAdapterLike | null>;
}
interface WebGPUModule {
  create(flags: string[]): GPULike;
  globals: Record<string, unknown>;
}

let verbose = false;

/** Show the native lines backend probing prints (Dawn, Vulkan) on stderr; off by default. */
export function setVerbose(on: boolean): void {
  verbose = on;
}

type WebGPUProbe = { ok: true; adapter: string } | { ok: false; reason: string };

/** Resolve an optional package from here; null when it is not installed. */
function resolveOptional(name: string): string | null {
  try {
    return createRequire(import.meta.url).resolve(name);
  } catch {
    return null;
  }
}

const CHILD_PROBE = `
const w = await import(process.env.DYNAVIT_WEBGPU_URL);
let r;
try {
  const a = await w.create([]).requestAdapter();
  const i = (a && a.info) || {};
  r = a ? { ok: true, adapter: i.description || i.vendor || i.architecture || 'adapter' } : { ok: false };
} catch (e) {
  r = { ok: false, error: String((e && e.message) || e).split('\\n')[0] };
}
process.stdout.write(JSON.stringify(r) + '\\n', () => process.exit(0));
`;

const NO_ADAPTER =
  'Dawn found no GPU adapter (no Vulkan driver; on GPU-less machines: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json with libvulkan1 installed)';

let webgpuProbed: Promise<WebGPUProbe> | undefined;

/** Ask Dawn for an adapter in a child process (once per process), its native stderr dropped unless verbose. */
function probeWebGPUQuietly(): Promise<WebGPUProbe> {
  webgpuProbed ??= (async (): Promise<WebGPUProbe> => {
    const mod = resolveOptional('webgpu');
    if (!mod) return { ok: false, reason: 'the optional peer `webgpu` (Dawn for Node) is not installed' };
    if (!resolveOptional('@tensorflow/tfjs-backend-webgpu'))
      return { ok: false, reason: 'the optional peer `@tensorflow/tfjs-backend-webgpu` is not installed' };
    return new Promise<WebGPUProbe>((done) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_PROBE], {
        env: { ...process.env, DYNAVIT_WEBGPU_URL: pathToFileURL(mod).href },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 60_000,
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        if (verbose) process.stderr.write(d);
      });
      child.on('error', (e) => done({ ok: false, reason: `cannot start the WebGPU probe: ${e.message}` }));
      child.on('close', (code, signal) => {
        try {
          const r = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as {
            ok: boolean;
            adapter?: string;
            error?: string;
          };
          if (r.ok && r.adapter) return done({ ok: true, adapter: r.adapter });
          return done({ ok: false, reason: r.error ? `webgpu failed: ${r.error}` : NO_ADAPTER });
        } catch {
          return done({
            ok: false,
            reason: `the WebGPU probe (Dawn) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`,
          });
        }
      });
    });
  })();
  return webgpuProbed;
}

let webgpuReady: Promise<{ ok: true; adapter: string } | { ok: false; reason: string }> | undefined;

/** Install Dawn's `navigator.gpu` and ask for an adapter (once per process). */
function prepareWebGPU(): Promise<{ ok: true; adapter: string } | { ok: false; reason: string }> {
  webgpuReady ??= (async () => {
    let mod: WebGPUModule;
    try {
      mod = (await optionalImport('webgpu')) as WebGPUModule;
    } catch (e) {
      return {
        ok: false,
        reason: isModuleNotFound(e, 'webgpu')
          ? 'the optional peer `webgpu` (Dawn for Node) is not installed'
          : `webgpu failed to load: ${(e as Error).message}`,
      };
    }
    const g = globalThis as Record<string, unknown>;
    for (const [k, v] of Object.entries(mod.globals)) if (!(k in g)) g[k] = v;
    const gpu = mod.create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { ok: false, reason: NO_ADAPTER };
    if (!g['navigator']) g['navigator'] = {};
    const nav = g['navigator'] as Record<string, unknown>;
    if (!nav['gpu']) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
    // the tfjs backend looks for navigator.gpu and the GPU* globals when it loads and initialises
    try {
      await optionalImport('@tensorflow/tfjs-backend-webgpu');
    } catch (e) {
      return {
        ok: false,
        reason: isModuleNotFound(e, 'tfjs-backend-webgpu')
          ? 'the optional peer `@tensorflow/tfjs-backend-webgpu` is not installed'
          : (e as Error).message,
      };
    }
    const info = adapter.info ?? {};
    return { ok: true, adapter: info.description || info.vendor || info.architecture || 'adapter' };
  })();
  return webgpuReady;
}

/** Check whether one backend can run here, without activating it. */
export async function probeBackend(backend: NodeBackend): Promise<BackendProbe> {
  const no = (reason: string): BackendProbe => ({ backend, available: false, reason });
  switch (backend) {
    case 'tensorflow-gpu': {
      if (!hasCudaDevice()) return no('no CUDA device (no NVIDIA driver found)');
      try {
        await optionalImport('@tensorflow/tfjs-node-gpu');
        return { backend, available: true, reason: '@tensorflow/tfjs-node-gpu with a CUDA device' };
      } catch (e) {
        return no(
          isModuleNotFound(e, 'tfjs-node-gpu')
            ? 'the optional peer `@tensorflow/tfjs-node-gpu` is not installed'
            : `failed to load: ${(e as Error).message.split('\n')[0]}`,
        );
      }
    }
    case 'tensorflow':
      try {
        await optionalImport('@tensorflow/tfjs-node');
        return { backend, available: true, reason: '@tensorflow/tfjs-node (libtensorflow on the CPU)' };
      } catch (e) {
        return no(
          isModuleNotFound(e, 'tfjs-node')
            ? 'the optional peer `@tensorflow/tfjs-node` is not installed'
            : `failed to load: ${(e as Error).message.split('\n')[0]}`,
        );
      }
    case 'webgpu': {
      if (!vulkanDriverHint())
        return no(
          'no Vulkan driver found (no ICD manifest; on GPU-less machines set VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json and install libvulkan1)',
        );
      const r = await probeWebGPUQuietly();
      return r.ok ? { backend, available: true, reason: `Dawn adapter: ${r.adapter}` } : no(r.reason);
    }
    case 'wasm':
      try {
        await import('@tensorflow/tfjs-backend-wasm');
        return { backend, available: true, reason: '@tensorflow/tfjs-backend-wasm' };
      } catch (e) {
        return no(`@tensorflow/tfjs-backend-wasm failed to load: ${(e as Error).message}`);
      }
    case 'cpu':
      await import('@tensorflow/tfjs-backend-cpu');
      return { backend, available: true, reason: '@tensorflow/tfjs-backend-cpu (plain JavaScript)' };
  }
}

/** Every backend in order of preference, with whether it is available and why (not). */
export async function probeBackends(): Promise<BackendProbe[]> {
  const out: BackendProbe[] = [];
  for (const b of NODE_BACKENDS) out.push(await probeBackend(b));
  return out;
}

/** Why wasm runs on fewer threads than the last request for more than one asked (undefined: it does not). */
let wasmFallback: string | undefined;

async function activate(backend: NodeBackend, threads: number): Promise<boolean> {
  try {
    // Dawn starts in this process only for the backend actually used
    if (backend === 'webgpu' && !(await prepareWebGPU()).ok) return false;
    if (backend === 'wasm' && threads > 1) wasmFallback = (await startThreadedWasm(threads)).fallback;
    if (!(await tf.setBackend(TFJS_NAME[backend]))) return false;
    await tf.ready();
    registerGradientKernels(); // the backward kernels tfjs-backend-wasm lacks (core)
    registerFastKernels(); // faster wasm kernels, each wrapping wasm's own (core)
    if (backend === 'webgpu') typedSyncReads(tf.backend());
    return true;
  } catch {
    return false;
  }
}

const SYNC_READS_TYPED = Symbol('dynavit.typedSyncReads');

/**
 * tfjs-backend-webgpu reads a tensor held on the GPU synchronously (`dataSync`, `arraySync`) through an
 * `OffscreenCanvas`, which Node lacks: the read fails deep inside tfjs with "ReferenceError: OffscreenCanvas
 * is not defined". Turn that one failure into a typed line naming the cause and the way out; every other
 * read (values still on the host) and every other error pass unchanged.
 */
function typedSyncReads(backend: tf.KernelBackend): void {
  const be = backend as tf.KernelBackend & { [SYNC_READS_TYPED]?: true };
  if (be[SYNC_READS_TYPED]) return;
  const readSync = be.readSync.bind(be);
  be.readSync = (dataId) => {
    try {
      return readSync(dataId);
    } catch (e) {
      if (e instanceof ReferenceError && /OffscreenCanvas/.test(e.message))
        throw new NotImplementedError(
          'WebGPU in Node cannot read a tensor synchronously (dataSync, arraySync: tfjs reads through an OffscreenCanvas, which Node lacks); read it with await tensor.data() or tensor.array(), or use the async variant of the op',
        );
      throw e;
    }
  };
  be[SYNC_READS_TYPED] = true;
}

/** Which backend auto-selection would pick from these probes (SwiftShader WebGPU is passed over). */
export function autoChoice(probes: readonly BackendProbe[]): NodeBackend | undefined {
  return probes.find((p) => p.available && !(p.backend === 'webgpu' && /swiftshader/i.test(p.reason)))?.backend;
}

/** The GPU adapter a backend runs on, when it is a WebGPU one (core's `BackendChoice.adapter`). */
async function adapterOf(backend: NodeBackend): Promise<{ adapter?: string }> {
  if (backend !== 'webgpu') return {};
  const r = await prepareWebGPU();
  return r.ok ? { adapter: r.adapter } : {};
}

/** The threads a choice computes on (what the running wasm backend reports), and why fewer than asked for. */
function threadsOf(backend: NodeBackend, threads: number): { threads?: number; note: string } {
  if (backend !== 'wasm') return { note: '' };
  const n = wasmThreadsRunning();
  if (n >= threads) return { threads: n, note: n > 1 ? `; ${n} threads` : '' };
  return { threads: n, note: `; ${n} thread${n === 1 ? '' : 's'}, not ${threads}: ${wasmFallback ?? 'unknown'}` };
}

/**
 * What `--threads` may say: a whole number from 1 to the cores here (tfjs' pool taking at most 8), or
 * `auto`, every one of them (`maxWasmThreads()`).
 */
export type ThreadsOption = number | 'auto';

/**
 * Check `--threads N|auto` and resolve it to a number of threads; `dflt` when it is not given (1 for
 * the library's `selectBackend`, `auto` for the CLI and `pipeline()`).
 */
export function checkThreads(value: number | string | undefined, dflt: ThreadsOption = 1): number {
  const v = value ?? dflt;
  if (v === 'auto') return maxWasmThreads();
  const n = typeof v === 'number' ? v : /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  const max = maxWasmThreads();
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new InvalidArgumentError(
      `--threads must be auto or a whole number from 1 to ${max} (the cores this machine lets this process use), not "${v}"`,
    );
  return n;
}

/** `--backend auto` (or nothing) → undefined, i.e. auto-selection. */
export function backendPreference(flag: string | undefined): string | undefined {
  return flag === undefined || flag === 'auto' ? undefined : flag;
}

/**
 * Register and activate a backend: `prefer` forces one (an error saying why if it cannot run);
 * otherwise the first of NODE_BACKENDS that is available and initialises. `threads` (default 1; `auto`:
 * every core, at most 8): the threads wasm computes on (the multi-threaded build, `wasm-threads.ts`; it
 * must be asked for before wasm first starts in this process); other backends refuse more than one,
 * and run `auto` on their own threads.
 */
export async function selectBackend(opts: { prefer?: string; threads?: ThreadsOption } = {}): Promise<BackendChoice> {
  if (opts.threads === 'auto' && opts.prefer !== undefined && opts.prefer !== 'wasm')
    return selectBackend({ prefer: opts.prefer });
  const threads = checkThreads(opts.threads);
  if (opts.prefer !== undefined) {
    if (!isNodeBackend(opts.prefer))
      throw new InvalidArgumentError(
        `unknown backend "${opts.prefer}"; available in Node: ${NODE_BACKENDS.join(', ')}`,
      );
    if (threads > 1 && opts.prefer !== 'wasm')
      throw new InvalidArgumentError(`--threads applies to the wasm backend, not to ${opts.prefer}`);
    const p = await probeBackend(opts.prefer);
    if (!p.available) throw new InvalidArgumentError(`backend "${opts.prefer}" is not available: ${p.reason}`);
    if (!(await activate(opts.prefer, threads)))
      throw new InvalidArgumentError(`backend "${opts.prefer}" failed to initialise`);
    const { note, ...t } = threadsOf(opts.prefer, threads);
    const choice = {
      backend: opts.prefer,
      tfjsName: tf.getBackend(),
      reason: `requested (${p.reason}${note})`,
      skipped: [],
    };
    return { ...choice, ...t, ...(await adapterOf(opts.prefer)) };
  }
  const skipped: BackendProbe[] = [];
  for (const b of NODE_BACKENDS) {
    const p = await probeBackend(b);
    if (p.available && b === 'webgpu' && /swiftshader/i.test(p.reason)) {
      // a CPU emulation of a GPU: correct but far slower than wasm, so only used when requested
      skipped.push({
        backend: b,
        available: false,
        reason: `${p.reason} is a CPU emulation (slower than wasm); request it with --backend webgpu`,
      });
      continue;
    }
    if (p.available && (await activate(b, b === 'wasm' ? threads : 1))) {
      const { note, ...t } = threadsOf(b, threads);
      const reason = `first available: ${p.reason}${threads > 1 && b !== 'wasm' && opts.threads !== 'auto' ? ` (--threads applies to wasm only)` : note}`;
      return { backend: b, tfjsName: tf.getBackend(), reason, skipped, ...t, ...(await adapterOf(b)) };
    }
    skipped.push(p.available ? { ...p, available: false, reason: `${p.reason}, but it failed to initialise` } : p);
  }
  throw new InvalidArgumentError(
    `no tfjs backend could start: ${skipped.map((s) => `${s.backend}: ${s.reason}`).join('; ')}`,
  );
}
