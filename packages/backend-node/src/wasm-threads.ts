/**
 * The multi-threaded SIMD build of `@tensorflow/tfjs-backend-wasm` in Node, on `worker_threads`.
 *
 * tfjs ships that build (`tfjs-backend-wasm-threaded-simd.wasm`, Emscripten pthreads with XNNPACK's
 * thread pool) but switches it off in Node (tfjs issue 3830): its loader hands the pthread workers
 * two scripts as `Blob` URLs, which Node's `worker_threads` cannot start, and the Emscripten glue it
 * bundles refers to names of the bundle's scope (`require$$0`…) that a worker does not have. This
 * loader supplies what is missing, for the one tfjs version it was checked against, during the
 * backend's initialisation only:
 *
 * - the env flag `WASM_HAS_MULTITHREAD_SUPPORT` (tfjs' own switch for that build) is set;
 * - while `tf.setBackend('wasm')` runs, the `Blob`s the loader makes are read as they are made, and
 *   `URL.createObjectURL` answers the pthread worker's one with a file path: the worker script, with
 *   a prologue defining the bundle's names and an epilogue pointing its `load` message at a file
 *   holding the main script (both written to a temporary folder removed at exit);
 * - tfjs caps its thread pool at half the logical cores (it assumes two hardware threads per core),
 *   so `os.cpus()` reports twice the threads asked for while the pool is created.
 *
 * Every step is checked: the tfjs version, SharedArrayBuffer and shared wasm memory, the two scripts
 * (by what they must contain), and the thread count XNNPACK reports afterwards. When anything is off
 * the backend starts single-threaded instead and the reason is returned (`dynavit doctor` prints the
 * static checks). Results are those of the single-threaded build: the same XNNPACK kernels, the work
 * split across threads.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { maxWorkers } from './pool.js';

/** The `@tensorflow/tfjs-backend-wasm` version this loader was checked against. */
export const WASM_THREADS_TFJS_VERSION = '4.22.0';

/** The most threads tfjs-backend-wasm's pool takes (its Emscripten build pre-creates 8 workers). */
const TFJS_MAX_THREADS = 8;

/** The most wasm threads `--threads` accepts here: the pool's limit of workers at once, at most tfjs' 8. */
export function maxWasmThreads(): number {
  return Math.min(maxWorkers(), TFJS_MAX_THREADS);
}

/** The threads the started wasm backend computes on (what XNNPACK reports). */
export function wasmThreadsRunning(): number {
  return wasm.getThreadsCount();
}

/** Can the threaded build start here? The checks that need no backend; null when it can. */
export function wasmThreadsUnavailable(): string | null {
  if (wasm.version_wasm !== WASM_THREADS_TFJS_VERSION)
    return `@tensorflow/tfjs-backend-wasm ${wasm.version_wasm} is not the version the thread loader was checked against (${WASM_THREADS_TFJS_VERSION})`;
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object')
    return 'this Node has no SharedArrayBuffer/Atomics';
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  } catch {
    return 'this Node cannot create shared WebAssembly memory';
  }
  if (typeof Blob !== 'function' || typeof URL.createObjectURL !== 'function')
    return 'this Node has no Blob/URL.createObjectURL (Node 16 or later is needed)';
  return null;
}

/** How the wasm backend started. */
export interface WasmThreadsResult {
  /** the threads XNNPACK's pool runs on (1: the single-threaded build) */
  readonly threads: number;
  /** why fewer threads than asked for; absent when all of them run */
  readonly fallback?: string;
}

// what the worker scripts must contain for the prologue and epilogue to be right (checked, not assumed)
const MAIN_SCRIPT_START = 'var WasmBackendModuleThreadedSimd = ';
const WORKER_MARKERS = [
  'ENVIRONMENT_IS_NODE',
  'importScripts',
  'e.data.urlOrBlob',
  'WasmBackendModuleThreadedSimd(Module)',
];
const BUNDLE_NAMES = ['require$$0', 'require$$1', 'require$$3', 'require$$4', 'commonjsGlobal'];

let folder: string | undefined;
function scriptsFolder(): string {
  if (!folder) {
    const made = mkdtempSync(join(os.tmpdir(), 'dynavit-wasm-threads-'));
    folder = made;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return folder;
}

/** The pthread worker script: tfjs' own, between a prologue and an epilogue of ours. */
function workerScript(tfjsWorker: string, mainScript: string): string {
  const main = JSON.stringify(mainScript);
  const prologue =
    // the names tfjs' Rollup bundle gives its imports, which the glue it hands to workers refers to
    'globalThis.require$$0 = require("fs"); globalThis.require$$1 = require("path");' +
    'globalThis.require$$3 = require("perf_hooks"); globalThis.require$$4 = require("os");' +
    `globalThis.commonjsGlobal = globalThis; globalThis._scriptDir = ${main};\n`;
  // the main thread posts the main script as a Blob, which a Node worker cannot import: use its file
  const epilogue =
    `\n;{const main=${main};const handle=self.onmessage;` +
    `self.onmessage=(e)=>{if(e.data&&e.data.cmd==="load"&&typeof e.data.urlOrBlob!=="string")e.data.urlOrBlob=main;return handle(e)}}\n`;
  return prologue + tfjsWorker + epilogue;
}

/**
 * Start tfjs' wasm backend with `threads` threads (it must not have started yet). Resolves with the
 * threads it runs on; when the threaded build cannot start it starts the single-threaded one and says why.
 * Throws only when neither starts.
 */
export async function startThreadedWasm(threads: number): Promise<WasmThreadsResult> {
  if (tf.findBackend('wasm')) {
    const got = wasm.getThreadsCount();
    if (got === threads) return { threads };
    return { threads: got, fallback: `the wasm backend had already started in this process on ${got} thread(s)` };
  }
  const unavailable = wasmThreadsUnavailable();
  if (unavailable) return single(unavailable);
  const factory = tf.findBackendFactory('wasm');
  if (!factory) return single('tfjs-backend-wasm registered no backend');

  const dir = scriptsFolder();
  const mainPath = join(dir, 'tfjs-backend-wasm-threaded-simd.main.cjs');
  const workerPath = join(dir, 'tfjs-backend-wasm-threaded-simd.worker.cjs');
  const texts = new WeakMap<Blob, string>();
  let mainWritten = false;
  let workerWritten = false;
  const NodeBlob = globalThis.Blob;
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  class ReadableBlob extends NodeBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts?.every((p) => typeof p === 'string')) {
        const text = parts.join('');
        texts.set(this, text);
        if (text.startsWith(MAIN_SCRIPT_START) && BUNDLE_NAMES.every((n) => text.includes(n))) {
          writeFileSync(mainPath, text);
          mainWritten = true;
        }
      }
    }
  }
  let failure: string | undefined;
  try {
    globalThis.Blob = ReadableBlob;
    URL.createObjectURL = (obj: Blob | MediaSource): string => {
      const text = obj instanceof NodeBlob ? texts.get(obj) : undefined;
      if (text === undefined || !WORKER_MARKERS.every((m) => text.includes(m))) return createObjectURL(obj);
      if (!mainWritten) throw new Error('the main script was not handed over before the worker script');
      writeFileSync(workerPath, workerScript(text, mainPath));
      workerWritten = true;
      return workerPath;
    };
    const reported = cpus.call(os);
    os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => reported[i % reported.length] as os.CpuInfo);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) failure = 'the threaded build failed to initialise';
  } catch (e) {
    failure = `the threaded build failed to start: ${(e as Error).message ?? String(e)}`;
  } finally {
    globalThis.Blob = NodeBlob;
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
  if (!failure && !(mainWritten && workerWritten))
    failure = 'tfjs-backend-wasm did not hand over its pthread scripts as this loader expects';
  if (!failure) {
    const got = wasm.getThreadsCount();
    unrefPoolThreads();
    return got === threads ? { threads } : { threads: got, fallback: `XNNPACK started ${got} threads, not ${threads}` };
  }
  // start again single-threaded: a fresh backend from the same factory
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', factory, 2);
  return single(failure);
}

interface EmscriptenThreads {
  PThread?: { runningWorkers?: { unref?: () => void }[] };
}

/**
 * XNNPACK's pool threads wait for work for the life of the backend, and the Emscripten glue keeps a
 * worker that runs a thread referenced, so Node would never exit on its own: let their workers go
 * unreferenced (they end with the process, as the main thread's helpers).
 */
function unrefPoolThreads(): void {
  const module = (tf.backend() as unknown as { wasm?: EmscriptenThreads }).wasm;
  for (const worker of module?.PThread?.runningWorkers ?? []) worker.unref?.();
}

async function single(reason: string): Promise<WasmThreadsResult> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error(`the wasm backend failed to initialise (${reason})`);
  return { threads: 1, fallback: reason };
}
