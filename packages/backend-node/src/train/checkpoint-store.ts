/**
 * `FileCheckpointStore`: `@dynavit/train`'s `CheckpointStore` on a folder, all-or-nothing per checkpoint.
 *
 * A checkpoint is several files (`model.safetensors`, `optimizer.safetensors`, `ema.safetensors`, then
 * `state.json`, which `saveCheckpoint` writes last). They are written into a fresh staging folder
 * `DIR/.checkpoint-next-*`; when `state.json` arrives the folder is renamed to `DIR/checkpoint-<step>`
 * and the pointer `DIR/checkpoint.json` is replaced atomically (a temporary file, then a rename); only
 * then is the previous checkpoint folder removed. A failure at any point before the pointer moves (a
 * full disk, a permission error) removes the staging folder and leaves the previous checkpoint, and the
 * pointer to it, untouched; reads always go through the pointer.
 */
import { chmod, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '@dynavit/core';
import { CHECKPOINT_FILES, type CheckpointStore } from '@dynavit/train';
import { fileError, writeFileAtomic } from '../files.js';

/** The pointer file naming the current checkpoint folder. */
export const CHECKPOINT_POINTER = 'checkpoint.json';

export interface CheckpointPointer {
  /** folder (relative to the store's folder) holding the current checkpoint */
  current: string;
  step: number;
  epoch: number;
}

export class FileCheckpointStore implements CheckpointStore {
  #staging: string | undefined;

  constructor(readonly dir: string) {}

  /** The current checkpoint's pointer, or undefined when the folder has none. */
  async pointer(): Promise<CheckpointPointer | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.dir, CHECKPOINT_POINTER), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError(e, join(this.dir, CHECKPOINT_POINTER), 'read');
    }
    try {
      const p = JSON.parse(text) as CheckpointPointer;
      if (typeof p.current !== 'string' || !/^checkpoint-[\w-]+$/.test(p.current)) throw new Error('bad folder');
      return p;
    } catch {
      throw new CheckpointError(`${join(this.dir, CHECKPOINT_POINTER)}: not a checkpoint pointer`);
    }
  }

  /** The folder of the current checkpoint, or undefined. */
  async currentDir(): Promise<string | undefined> {
    const p = await this.pointer();
    return p && join(this.dir, p.current);
  }

  async read(name: string): Promise<Uint8Array | undefined> {
    const dir = await this.currentDir();
    if (!dir) return undefined;
    try {
      return new Uint8Array(await readFile(join(dir, name)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fileError(e, join(dir, name), 'read');
    }
  }

  async write(name: string, bytes: Uint8Array): Promise<void> {
    try {
      if (!this.#staging) {
        this.#staging = await mkdtemp(join(this.dir, '.checkpoint-next-'));
        await chmod(this.#staging, 0o755); // mkdtemp makes it private; a checkpoint is as readable as the run's other files
      }
      await writeFile(join(this.#staging, name), bytes);
    } catch (e) {
      await this.#abort();
      throw fileError(e, join(this.dir, name), 'write');
    }
    if (name === CHECKPOINT_FILES.state) await this.#commit(bytes);
  }

  async #abort(): Promise<void> {
    const s = this.#staging;
    this.#staging = undefined;
    if (s) await rm(s, { recursive: true, force: true }).catch(() => undefined);
  }

  /** state.json is in: move the staged folder into place, then the pointer; then drop the previous folder. */
  async #commit(stateBytes: Uint8Array): Promise<void> {
    const staging = this.#staging!;
    this.#staging = undefined;
    const state = JSON.parse(new TextDecoder().decode(stateBytes)) as { step: number; epoch: number };
    const previous = await this.pointer().catch(() => undefined);
    const name = `checkpoint-${String(state.step).padStart(7, '0')}-${staging.slice(-6)}`;
    const target = join(this.dir, name);
    try {
      await rename(staging, target);
    } catch (e) {
      await rm(staging, { recursive: true, force: true }).catch(() => undefined);
      throw fileError(e, target, 'write');
    }
    const pointer: CheckpointPointer = { current: name, step: state.step, epoch: state.epoch };
    try {
      await writeFileAtomic(join(this.dir, CHECKPOINT_POINTER), `${JSON.stringify(pointer)}\n`);
    } catch (e) {
      await rm(target, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
    if (previous && previous.current !== name)
      await rm(join(this.dir, previous.current), { recursive: true, force: true }).catch(() => undefined);
  }
}
