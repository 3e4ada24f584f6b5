/**
 * Files in the CLI: check inputs and outputs before any work (an input exists and is a file; an
 * output's folder exists, is a folder, and takes a new file), and write outputs atomically (a
 * temporary file beside the target, then a rename), so a failure never leaves a half-written file.
 * Every filesystem error is core's `FileError` (code IO) with one line naming the path and why.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FileError } from '@dynavit/core';

const WHY: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EMFILE: 'too many open files',
};

/** A filesystem error as one line: `cannot VERB PATH: why`. */
export function fileError(e: unknown, path: string, verb: 'read' | 'write'): FileError {
  const err = e as NodeJS.ErrnoException;
  if (verb === 'read' && err.code === 'ENOENT') return new FileError(`file not found: ${path}`);
  const why = (err.code && WHY[err.code]) ?? err.code ?? String(err.message ?? e).split('\n')[0];
  return new FileError(`cannot ${verb} ${path}: ${why}`);
}

/** An input must exist and be a readable file (not a folder). */
export async function checkInputFile(path: string): Promise<void> {
  let s: Awaited<ReturnType<typeof stat>>;
  try {
    s = await stat(path);
  } catch (e) {
    throw fileError(e, path, 'read');
  }
  if (s.isDirectory()) throw new FileError(`cannot read ${path}: it is a folder, not a file`);
  if (!s.isFile()) throw new FileError(`cannot read ${path}: not a regular file`);
  try {
    await (await open(path, constants.O_RDONLY)).close();
  } catch (e) {
    throw fileError(e, path, 'read');
  }
}

/** Read a whole input file; every failure is a FileError. */
export async function readInputFile(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw fileError(e, path, 'read');
  }
}

const tempName = (path: string) =>
  join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);

/** Can `dir` (an existing folder) take a new file? Creates and removes a probe file. */
async function probeWritable(dir: string, shown: string): Promise<void> {
  const probe = tempName(join(dir, 'probe'));
  try {
    await (await open(probe, 'wx')).close();
  } catch (e) {
    throw fileError(e, shown, 'write');
  }
  await unlink(probe).catch(() => undefined);
}

/**
 * An output file: not a folder nor a special file; its folder exists, is a folder, and is writable.
 * Nothing is created but a probe file that is removed at once.
 */
export async function checkOutputFile(path: string): Promise<void> {
  try {
    const s = await stat(path);
    if (s.isDirectory()) throw new FileError(`cannot write ${path}: it is a folder`);
    if (!s.isFile()) throw new FileError(`cannot write ${path}: not a regular file`);
  } catch (e) {
    if (e instanceof FileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw fileError(e, path, 'write');
  }
  const dir = dirname(resolve(path));
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new FileError(`cannot write ${path}: ${dirname(path)} is a file, not a folder`);
  } catch (e) {
    if (e instanceof FileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw code === 'ENOENT'
      ? new FileError(`cannot write ${path}: folder not found: ${dirname(path)}`)
      : fileError(e, path, 'write');
  }
  await probeWritable(dir, path);
}

/** An output folder: created when missing (with its parents), must be a folder that takes new files. */
export async function checkOutputDir(dir: string): Promise<void> {
  try {
    const s = await stat(dir);
    if (!s.isDirectory()) throw new FileError(`cannot write into ${dir}: it is a file, not a folder`);
  } catch (e) {
    if (e instanceof FileError) throw e;
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fileError(e, dir, 'write');
    try {
      await mkdir(dir, { recursive: true });
    } catch (e2) {
      throw fileError(e2, dir, 'write');
    }
  }
  await probeWritable(dir, dir);
}

/** Write `data` to a temporary file beside `path`, then rename it over `path`; a FileError on failure. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw fileError(e, path, 'write');
  }
}
