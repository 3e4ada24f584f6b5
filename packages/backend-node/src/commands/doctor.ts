/** `dynavit doctor`: every Node backend, whether it is available, why not, and which one would be used. */
import { autoChoice, probeBackends } from '../backends.js';
import { formatTable } from '../table.js';
import { maxWasmThreads, WASM_THREADS_TFJS_VERSION, wasmThreadsUnavailable } from '../wasm-threads.js';
import { defineCommand } from './command.js';

export const doctorCommand = defineCommand({
  name: 'doctor',
  usage: 'doctor\nevery backend, whether it is available and why not, and which one is used',
  options: {},
  async run({ out }) {
    const probes = await probeBackends();
    const chosen = autoChoice(probes);
    const mark = (b: string) => (b === chosen ? `${b} ←` : b);
    const rows = probes.map((p) => [mark(p.backend), p.available ? 'yes' : 'no', p.reason]);
    out(formatTable(['backend', 'available', 'detail'], rows));
    out(`\nwould use: ${chosen ?? 'none'} (override with --backend NAME)`);
    const noThreads = wasmThreadsUnavailable();
    out(
      noThreads
        ? `wasm threads: 1 only (--threads, and its default auto, cannot start the multi-threaded build: ${noThreads})`
        : `wasm threads: up to ${maxWasmThreads()} with --threads N (tfjs-backend-wasm ${WASM_THREADS_TFJS_VERSION}'s multi-threaded SIMD build on worker_threads; default auto: ${maxWasmThreads()})`,
    );
    out(`node ${process.version}, ${process.platform}/${process.arch}`);
    return chosen ? 0 : 1;
  },
});
