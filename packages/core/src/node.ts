/**
 * Node-only file helpers (`@dynavit/core/node`): read and write weight files from disk. Kept out of the
 * main entry so browser bundles never see `node:fs`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { CheckpointError, SafetensorsError } from './errors.js';
import { loadPthStateDict, type LoadPthOptions } from './io/pth.js';
import { readSafetensors, type SafetensorsFile, writeSafetensors } from './io/safetensors.js';
import type { StateDict, TensorData } from './io/tensor-data.js';

/**
 * Read a whole file; a missing or unreadable one is the error `what` builds from one line
 * ("file not found: PATH" or "cannot read PATH: why").
 */
export async function readFileBytes(path: string, what: (message: string) => Error): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw what(err.code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${err.message}`);
  }
}

export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  return readSafetensors(await readFileBytes(path, (m) => new SafetensorsError(m)), path);
}

export async function writeSafetensorsFile(
  path: string,
  tensors: StateDict | Record<string, TensorData>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFile(path, writeSafetensors(tensors, metadata));
}

export async function readPthFile(path: string, opts?: LoadPthOptions): Promise<StateDict> {
  return loadPthStateDict(await readFileBytes(path, (m) => new CheckpointError(m)), opts);
}
