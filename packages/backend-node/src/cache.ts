/**
 * The weights cache in Node: downloads released checkpoints (or any http(s) URL) once, resumes a cut
 * download with an HTTP range request, records the file's sha256 on first download and verifies it on
 * every later use, and works offline from what it holds.
 *
 * Location: `$DYNAVIT_CACHE`, else `$XDG_CACHE_HOME/dynavit`, else `~/.cache/dynavit`. Layout:
 * `<cache>/<entry>/<file>` with `<file>.json` beside it ({ url, sha256, size, downloadedAt }); a
 * download in progress is `<file>.part`, renamed into place only once complete and verified, so the
 * cache never holds a half-written checkpoint under its real name. Zoo releases use their id as the
 * entry; other URLs `url-<first 16 hex of sha256(url)>`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DownloadError, type PretrainedCheckpoint, printable } from '@dynavit/core';
import { writeFileAtomic } from './files.js';

/** The cache folder (not created). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['DYNAVIT_CACHE']) return env['DYNAVIT_CACHE'];
  if (env['XDG_CACHE_HOME']) return join(env['XDG_CACHE_HOME'], 'dynavit');
  return join(homedir(), '.cache', 'dynavit');
}

export interface DownloadProgress {
  loaded: number;
  /** 0 when the server does not say */
  total: number;
  url: string;
}

export interface CacheOptions {
  /** the cache folder (default `cacheDir()`) */
  dir?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** give up when no byte arrives for this long (default 60 s) */
  stallMs?: number;
  /** refuse files larger than this (default 4 GiB) */
  maxBytes?: number;
  /** never touch the network: use the cache or fail */
  offline?: boolean;
}

interface Meta {
  url: string;
  sha256: string;
  size: number;
  downloadedAt: string;
}

export interface CachedFile {
  path: string;
  sha256: string;
  size: number;
  /** whether it came from the cache (no network) */
  cached: boolean;
  url: string;
}

const GiB = 1024 ** 3;

function urlEntry(url: string): { entry: string; file: string } {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
  let file = 'weights.bin';
  try {
    const last = basename(new URL(url).pathname);
    if (/^[\w.-]{1,100}$/.test(last) && last !== '.' && last !== '..') file = last;
  } catch {
    // not parsed here: fetchUrl reports it
  }
  return { entry: `url-${hash}`, file };
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function readMeta(path: string): Promise<Meta | null> {
  try {
    return JSON.parse(await readFile(`${path}.json`, 'utf8')) as Meta;
  } catch {
    return null;
  }
}

const exists = async (p: string) => (await stat(p).catch(() => null))?.isFile() === true;

/** Verify a cached file against its recorded (or published) sha256. */
async function verifyCached(path: string, expected: string | undefined, what: string): Promise<CachedFile | null> {
  if (!(await exists(path))) return null;
  const meta = await readMeta(path);
  const sha = await sha256File(path);
  const want = expected ?? meta?.sha256;
  if (want && sha !== want)
    throw new DownloadError(
      `the cached ${what} (${path}) was altered: its sha256 is ${sha.slice(0, 16)}…, expected ${want.slice(0, 16)}…; ` +
        'delete it (`dynavit cache clear`) and download again',
    );
  const size = (await stat(path)).size;
  if (!meta) {
    // a file placed by hand: record its hash now, check it from now on
    await writeFileAtomic(
      `${path}.json`,
      `${JSON.stringify({ url: 'placed by hand', sha256: sha, size, downloadedAt: new Date().toISOString() }, null, 2)}\n`,
    );
  }
  return { path, sha256: sha, size, cached: true, url: meta?.url ?? 'placed by hand' };
}

function describeFetchError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return printable(cause ? `${err.message ?? 'fetch failed'} (${cause})` : (err.message ?? String(e)));
}

/**
 * Download `url` to `<dir>/<entry>/<file>`, resuming `<file>.part` with a range request. The file is
 * renamed into place only after its sha256 is checked against `expected` (when known) and recorded.
 */
async function download(
  url: string,
  dest: string,
  expected: string | undefined,
  opts: CacheOptions,
): Promise<CachedFile> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DownloadError(`not a URL: ${printable(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new DownloadError(`only http(s) URLs are downloaded, got ${printable(url)}`);
  const part = `${dest}.part`;
  const have = (await stat(part).catch(() => null))?.size ?? 0;
  const maxBytes = opts.maxBytes ?? 4 * GiB;
  const stallMs = opts.stallMs ?? 60_000;
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), stallMs);
  const bump = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), stallMs);
  };
  let res: Response;
  try {
    res = await fetch(url, {
      headers: have > 0 ? { Range: `bytes=${have}-` } : {},
      signal: controller.signal,
      redirect: 'follow',
    });
  } catch (e) {
    clearTimeout(timer);
    throw new DownloadError(`could not reach ${printable(url)}: ${describeFetchError(e)}`);
  }
  try {
    if (res.status === 416 && have > 0) {
      // the part file is already complete (or longer than the file): start over once
      await rm(part, { force: true });
      clearTimeout(timer);
      return download(url, dest, expected, opts);
    }
    if (!res.ok) throw new DownloadError(`${printable(url)} answered HTTP ${res.status} ${printable(res.statusText)}`);
    const type = res.headers.get('content-type') ?? '';
    if (type.startsWith('text/html'))
      throw new DownloadError(
        `${printable(url)} answered with a web page, not a checkpoint (the link needs a browser or has moved)`,
      );
    const resumed = res.status === 206 && have > 0;
    const length = Number(res.headers.get('content-length') ?? 0);
    const total = length > 0 ? (resumed ? have + length : length) : 0;
    if (total > maxBytes)
      throw new DownloadError(
        `${printable(url)} is ${total} bytes, over the ${maxBytes}-byte limit for a weights file`,
      );
    const fh = await open(part, resumed ? 'a' : 'w');
    let loaded = resumed ? have : 0;
    try {
      if (!res.body) throw new DownloadError(`${printable(url)} sent no body`);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        bump();
        loaded += chunk.length;
        if (loaded > maxBytes)
          throw new DownloadError(`${printable(url)} sent more than the ${maxBytes}-byte limit for a weights file`);
        await fh.write(chunk);
        opts.onProgress?.({ loaded, total, url });
      }
    } catch (e) {
      if (e instanceof DownloadError) throw e;
      throw new DownloadError(
        `the download of ${printable(url)} stopped at ${loaded}${total ? ` of ${total}` : ''} bytes ` +
          `(${controller.signal.aborted ? `no data for ${stallMs / 1000} s` : describeFetchError(e)}); ` +
          'run the same command again to resume',
      );
    } finally {
      await fh.close();
    }
    if (total && loaded !== total)
      throw new DownloadError(
        `the download of ${printable(url)} stopped at ${loaded} of ${total} bytes; run the same command again to resume`,
      );
    const sha = await sha256File(part);
    if (expected && sha !== expected) {
      await rm(part, { force: true });
      throw new DownloadError(
        `${printable(url)} does not have the published sha256 (got ${sha.slice(0, 16)}…, expected ${expected.slice(0, 16)}…); nothing was kept`,
      );
    }
    const meta: Meta = { url, sha256: sha, size: loaded, downloadedAt: new Date().toISOString() };
    await writeFileAtomic(`${dest}.json`, `${JSON.stringify(meta, null, 2)}\n`);
    await rename(part, dest);
    return { path: dest, sha256: sha, size: loaded, cached: false, url };
  } finally {
    clearTimeout(timer);
    controller.abort(); // release the connection if the body was not consumed
  }
}

/** Where a release lives in the cache. */
export function releasePath(entry: PretrainedCheckpoint, dir = cacheDir()): string {
  return join(dir, entry.id, entry.file);
}

/** The by-hand instructions for a release that cannot be downloaded here. */
function byHand(entry: PretrainedCheckpoint, dir: string): string {
  const where = (entry.manual ?? `download ${entry.urls[0] ?? entry.file} in a browser`).replace(/[.;\s]+$/, '');
  return `${where}; then either pass the file with --weights FILE, or save it as ${releasePath(entry, dir)} to use it as ${entry.id} from the cache`;
}

/**
 * A bundled release (`entry.bundled`): the file inside its family package, read in place (never copied
 * into the cache, never downloaded) and checked against the entry's sha256.
 */
async function bundledFile(entry: PretrainedCheckpoint): Promise<CachedFile> {
  const url = entry.urls[0];
  if (url === undefined || !url.startsWith('file:'))
    throw new DownloadError(
      `${entry.id} is bundled with its package but its location is not a file (${printable(url ?? 'none')}); reinstall the package`,
    );
  const path = fileURLToPath(url);
  if (!(await exists(path)))
    throw new DownloadError(
      `${entry.id}'s weights ship with its package but ${path} is missing; reinstall the package that provides ${entry.model}`,
    );
  const sha = await sha256File(path);
  if (entry.sha256 && sha !== entry.sha256)
    throw new DownloadError(
      `${entry.id}'s bundled weights (${path}) were altered: sha256 ${sha.slice(0, 16)}…, expected ${entry.sha256.slice(0, 16)}…; reinstall the package`,
    );
  return { path, sha256: sha, size: (await stat(path)).size, cached: true, url };
}

/** A zoo release from the cache, else downloaded (first link that works), verified; a bundled one in place. */
export async function fetchRelease(entry: PretrainedCheckpoint, opts: CacheOptions = {}): Promise<CachedFile> {
  if (entry.bundled) return bundledFile(entry);
  const dir = opts.dir ?? cacheDir();
  const dest = releasePath(entry, dir);
  const hit = await verifyCached(dest, entry.sha256, `${entry.id} checkpoint`);
  if (hit) return hit;
  if (entry.urls.length === 0) throw new DownloadError(`${entry.id}: ${byHand(entry, dir)}`);
  if (opts.offline) throw new DownloadError(`${entry.id} is not in the cache (${dest}) and the network is off`);
  await mkdir(join(dir, entry.id), { recursive: true });
  const errors: string[] = [];
  for (const url of entry.urls) {
    try {
      return await download(url, dest, entry.sha256, opts);
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      errors.push(e.message);
    }
  }
  throw new DownloadError(`could not download ${entry.id}: ${errors.join('; ')}. By hand: ${byHand(entry, dir)}`);
}

/** Any http(s) URL, through the cache. */
export async function fetchUrl(url: string, opts: CacheOptions = {}): Promise<CachedFile> {
  const dir = opts.dir ?? cacheDir();
  const { entry, file } = urlEntry(url);
  const dest = join(dir, entry, file);
  const hit = await verifyCached(dest, undefined, `download of ${printable(url)}`);
  if (hit) return hit;
  if (opts.offline) throw new DownloadError(`${printable(url)} is not in the cache and the network is off`);
  await mkdir(join(dir, entry), { recursive: true });
  return download(url, dest, undefined, opts);
}

export interface CacheListing {
  entry: string;
  file: string;
  path: string;
  size: number;
  url: string;
  sha256: string | null;
  /** a download that stopped, waiting to be resumed */
  partial: boolean;
}

/** What the cache holds, entry by entry. */
export async function listCache(dir = cacheDir()): Promise<CacheListing[]> {
  const out: CacheListing[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const files = await readdir(join(dir, e.name)).catch(() => [] as string[]);
    for (const f of files) {
      if (f.endsWith('.json')) continue;
      const path = join(dir, e.name, f);
      const partial = f.endsWith('.part');
      const meta = partial ? null : await readMeta(path);
      const size = (await stat(path).catch(() => null))?.size ?? 0;
      out.push({
        entry: e.name,
        file: partial ? f.slice(0, -'.part'.length) : f,
        path,
        size,
        url: meta?.url ?? '',
        sha256: meta?.sha256 ?? null,
        partial,
      });
    }
  }
  return out.sort((a, b) => a.entry.localeCompare(b.entry));
}

/** Remove one entry (a release id or `url-…`), or everything; returns the bytes freed. */
export async function clearCache(entry?: string, dir = cacheDir()): Promise<number> {
  const listing = await listCache(dir);
  const victims = entry === undefined ? listing : listing.filter((l) => l.entry === entry);
  if (entry !== undefined && victims.length === 0)
    throw new DownloadError(`the cache (${dir}) has no entry "${printable(entry)}"; see \`dynavit cache list\``);
  let freed = 0;
  for (const name of new Set(victims.map((v) => v.entry))) {
    freed += victims.filter((v) => v.entry === name).reduce((a, v) => a + v.size, 0);
    await rm(join(dir, name), { recursive: true, force: true });
  }
  return freed;
}
