/**
 * Training checkpoints in the browser's IndexedDB, so a run in a page survives a reload and resumes
 * exactly (`train(model, { store, resume: true })`). All-or-nothing: `train()` writes a checkpoint's
 * tensors first and `state.json` last; this store keeps the tensors in memory until `state.json`
 * arrives, then writes them all in ONE IndexedDB transaction, so a tab closed, a crash or a full quota
 * mid-checkpoint leaves the previous checkpoint whole.
 */
import { CheckpointError } from '@dynavit/core';
import { CHECKPOINT_FILES, type CheckpointStore } from '@dynavit/train';

/** The IndexedDB database the stores share (one object store, keys `<run>/<file>`). */
export const CHECKPOINT_DB = 'dynavit-checkpoints';
const FILES = 'files';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
    tx.onerror = () => reject(tx.error ?? new Error('transaction failed'));
  });
}

async function openDb(): Promise<IDBDatabase> {
  if (typeof indexedDB === 'undefined')
    throw new CheckpointError(
      'IndexedDB is not available here: use MemoryCheckpointStore (or a Node FileCheckpointStore)',
    );
  const r = indexedDB.open(CHECKPOINT_DB, 1);
  r.onupgradeneeded = () => {
    if (!r.result.objectStoreNames.contains(FILES)) r.result.createObjectStore(FILES);
  };
  return request(r);
}

const storageError = (run: string, e: unknown): CheckpointError => {
  const name = (e as { name?: string }).name;
  return new CheckpointError(
    name === 'QuotaExceededError'
      ? `checkpoint "${run}": the browser's storage quota is full; the previous checkpoint is intact (free space or clearCheckpoints())`
      : `checkpoint "${run}": IndexedDB refused the write (${(e as Error).message ?? String(e)}); the previous checkpoint is intact`,
  );
};

/** A run's checkpoints in IndexedDB, under the name `run`. */
export class IndexedDbCheckpointStore implements CheckpointStore {
  readonly #staged = new Map<string, Uint8Array>();
  private constructor(
    readonly run: string,
    readonly db: IDBDatabase,
  ) {}

  /** Open (or create) the store of the run `run` (a name of your choosing: one per training run). */
  static async open(run: string): Promise<IndexedDbCheckpointStore> {
    if (!run || run.includes('/'))
      throw new CheckpointError(`checkpoint run name must be non-empty and have no "/", got "${run}"`);
    return new IndexedDbCheckpointStore(run, await openDb());
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    this.#staged.set(name, bytes.slice());
    if (name !== CHECKPOINT_FILES.state) return;
    // the state file completes a checkpoint: everything staged goes in one transaction
    const tx = this.db.transaction(FILES, 'readwrite');
    const files = tx.objectStore(FILES);
    const committed = done(tx);
    try {
      try {
        for (const [n, b] of this.#staged) files.put(b, `${this.run}/${n}`);
      } catch (e) {
        tx.abort(); // nothing of this checkpoint is kept
        committed.catch(() => undefined);
        throw e;
      }
      await committed;
    } catch (e) {
      throw storageError(this.run, e);
    } finally {
      this.#staged.clear();
    }
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    const tx = this.db.transaction(FILES, 'readonly');
    const v = (await request(tx.objectStore(FILES).get(`${this.run}/${name}`))) as Uint8Array | undefined;
    return v === undefined ? undefined : new Uint8Array(v);
  }

  /** Delete this run's checkpoint. */
  async clear(): Promise<void> {
    const tx = this.db.transaction(FILES, 'readwrite');
    tx.objectStore(FILES).delete(IDBKeyRange.bound(`${this.run}/`, `${this.run}/\uffff`));
    await done(tx);
  }

  close(): void {
    this.db.close();
  }
}

/** The runs with a checkpoint in IndexedDB. */
export async function listCheckpoints(): Promise<string[]> {
  const db = await openDb();
  try {
    const keys = (await request(db.transaction(FILES, 'readonly').objectStore(FILES).getAllKeys())) as string[];
    return [...new Set(keys.filter((k) => k.endsWith(`/${CHECKPOINT_FILES.state}`)).map((k) => k.split('/')[0]!))];
  } finally {
    db.close();
  }
}
