/**
 * A pool of `worker_threads`, one tfjs backend per worker, so that work over many images uses every
 * core (tfjs-backend-wasm runs on one thread in Node). The protocol with a worker script:
 *
 * - the worker gets `workerData`, prepares (backend, model) and posts `{ type: 'ready' }`, or throws;
 * - for each `{ type: 'task', id, task }` it posts `{ type: 'result', id, value }` or
 *   `{ type: 'error', id, name, message }`.
 *
 * A worker that fails to start, throws, or exits while a task runs fails that task (and `start`, or
 * `runAll`) with a `WorkerError` naming the worker and what happened; `close` terminates every worker,
 * so no worker outlives the pool (`runAll` closes the pool on the first failure).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { DynavitError, InvalidArgumentError } from '@dynavit/core';

/** A worker of the pool failed: it could not start, its task threw, or it exited mid-task. */
export class WorkerError extends DynavitError {
  constructor(message: string) {
    super('WORKER', message);
    this.name = 'WorkerError';
  }
}

type FromWorker =
  | { type: 'ready' }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; name: string; message: string };

interface Slot {
  index: number;
  worker: Worker;
  busy: { id: number; resolve: (v: unknown) => void; reject: (e: Error) => void } | null;
  dead: boolean;
}

/** How many workers this machine can run at once (Node's `availableParallelism`). */
export const maxWorkers = (): number => availableParallelism();

/** `--workers N`: a positive integer, at most the machine's parallelism. */
export function workersOption(v: string | undefined, dflt = 1): number {
  const n = v === undefined ? dflt : Number(v);
  if ((v !== undefined && v.trim() === '') || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`--workers must be a positive integer, got "${v}"`);
  const max = maxWorkers();
  if (n > max)
    throw new InvalidArgumentError(
      `--workers ${n} is more than this machine runs at once (${max}); use at most ${max}`,
    );
  return n;
}

/**
 * `--workers N` with `--threads M`: refused in one line when M was asked for (each worker runs one
 * single-threaded backend; the two split the same cores in different ways); the default `auto` gives way. `pipeline()` refuses its `workers`/`threads` likewise.
 */
export function checkWorkersWithThreads(workers: number, threads: number, given = true): void {
  if (workers > 1 && threads > 1 && given)
    throw new InvalidArgumentError('--workers runs one single-threaded backend per worker; use --workers or --threads');
}

export interface PoolOptions {
  /** the worker script (an ES module) */
  script: URL;
  workers: number;
  /** given to every worker as `workerData` */
  workerData?: unknown;
  /** how long a worker may take to post `ready` (ms; default 10 minutes) */
  startTimeoutMs?: number;
}

export class WorkerPool<T, R> {
  private readonly slots: Slot[];
  private readonly queue: { task: T; resolve: (v: R) => void; reject: (e: Error) => void }[] = [];
  private nextId = 0;
  private closed = false;

  private constructor(slots: Slot[]) {
    this.slots = slots;
  }

  /** Start `workers` workers and wait until each is ready; on any failure, every worker is terminated. */
  static async start<T, R>(opts: PoolOptions): Promise<WorkerPool<T, R>> {
    if (!Number.isSafeInteger(opts.workers) || opts.workers < 1)
      throw new InvalidArgumentError(`a worker pool needs at least one worker, got ${opts.workers}`);
    const slots: Slot[] = [];
    const started: Promise<void>[] = [];
    for (let index = 0; index < opts.workers; index++) {
      const worker = new Worker(opts.script, { workerData: opts.workerData, stdout: false, stderr: false });
      const slot: Slot = { index, worker, busy: null, dead: false };
      slots.push(slot);
      started.push(
        new Promise<void>((resolve, reject) => {
          const limit = opts.startTimeoutMs ?? 600_000;
          const timer = setTimeout(() => settle(`did not start within ${limit} ms`), limit);
          // named handlers, removed one by one: removeAllListeners() would also drop the Worker's own
          // 'newListener' hook that starts its message port
          const onMessage = (m: FromWorker) =>
            settle(m.type === 'ready' ? null : m.type === 'error' ? `${m.name}: ${m.message}` : `sent ${m.type}`);
          const onError = (e: Error) => settle(e.message);
          const onExit = (code: number) => settle(`exited with code ${code}`);
          function settle(failure: string | null): void {
            clearTimeout(timer);
            worker.off('message', onMessage);
            worker.off('error', onError);
            worker.off('exit', onExit);
            if (failure === null) resolve();
            else {
              slot.dead = true;
              worker.on('error', () => {}); // terminated below; a late error is not news
              reject(new WorkerError(`worker ${index} failed to start: ${failure}`));
            }
          }
          worker.on('message', onMessage);
          worker.on('error', onError);
          worker.on('exit', onExit);
        }),
      );
    }
    const pool = new WorkerPool<T, R>(slots);
    try {
      await Promise.all(started);
    } catch (e) {
      await pool.close();
      throw e;
    }
    for (const slot of slots) pool.listen(slot);
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  private listen(slot: Slot): void {
    const { worker } = slot;
    worker.on('message', (m: FromWorker) => {
      const busy = slot.busy;
      if (!busy || m.type === 'ready' || m.id !== busy.id) return;
      slot.busy = null;
      if (m.type === 'result') busy.resolve(m.value);
      else busy.reject(new WorkerError(`worker ${slot.index}: ${m.name}: ${m.message}`));
      this.dispatch();
    });
    const die = (why: string) => {
      if (slot.dead) return;
      slot.dead = true;
      const busy = slot.busy;
      slot.busy = null;
      busy?.reject(new WorkerError(`worker ${slot.index} ${why} while running a task`));
      // work no live worker can take fails rather than waiting for ever
      if (this.slots.every((s) => s.dead)) this.failQueue(`every worker of the pool has stopped (the last ${why})`);
      else this.dispatch();
    };
    worker.on('error', (e) => die(`failed (${e.message})`));
    worker.on('exit', (code) => die(`exited with code ${code}`));
  }

  private failQueue(why: string): void {
    for (const q of this.queue.splice(0)) q.reject(new WorkerError(why));
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (slot.dead || slot.busy || this.queue.length === 0) continue;
      const { task, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy = { id, resolve: resolve as (v: unknown) => void, reject };
      slot.worker.postMessage({ type: 'task', id, task });
    }
  }

  /** Run one task on the next free worker. */
  run(task: T): Promise<R> {
    if (this.closed) return Promise.reject(new WorkerError('the worker pool is closed'));
    if (this.slots.every((s) => s.dead)) return Promise.reject(new WorkerError('every worker of the pool has stopped'));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ task, resolve, reject });
      this.dispatch();
    });
  }

  /** Run every task; the first failure closes the pool (terminating every worker) and is thrown. */
  async runAll(tasks: readonly T[]): Promise<R[]> {
    const all = tasks.map((t) => this.run(t));
    try {
      return await Promise.all(all);
    } catch (e) {
      await this.close();
      await Promise.allSettled(all);
      throw e;
    }
  }

  /** Terminate every worker; pending tasks fail. Safe to call twice. */
  async close(): Promise<void> {
    this.closed = true;
    this.failQueue('the worker pool was closed');
    await Promise.all(
      this.slots.map(async (s) => {
        s.dead = true;
        const busy = s.busy;
        s.busy = null;
        busy?.reject(new WorkerError(`worker ${s.index} was terminated: the pool was closed`));
        await s.worker.terminate();
      }),
    );
  }
}
