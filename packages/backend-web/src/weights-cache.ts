/**
 * Weights in the browser's Cache Storage (cache `dynavit-weights`): a release or URL is downloaded once
 * with progress, its sha256 (Web Crypto) recorded in the cached response's `x-dynavit-sha256` header
 * and checked on every later use; a published sha256 is checked before anything is cached, and only a
 * complete download is stored as the file: a cut connection keeps its bytes under a separate key and the
 * next load resumes from them with an HTTP range request. Without Cache Storage
 * (an insecure context, some private modes) files are downloaded each time.
 */
import { DownloadError, type PretrainedCheckpoint, printable } from '@dynavit/core';

export const WEIGHTS_CACHE = 'dynavit-weights';
const SHA_HEADER = 'x-dynavit-sha256';

export interface WebCacheOptions {
  /** bytes arriving; `total` is 0 when the server does not say */
  onProgress?: (p: { loaded: number; total: number; url: string }) => void;
  /** use only what Cache Storage holds */
  offline?: boolean;
  /** extra `fetch` options (credentials, an abort `signal`) */
  fetchInit?: RequestInit;
}

export interface WebCachedFile {
  bytes: Uint8Array;
  url: string;
  sha256: string;
  cached: boolean;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function openCache(): Promise<Cache | null> {
  if (typeof caches === 'undefined') return null;
  try {
    return await caches.open(WEIGHTS_CACHE);
  } catch {
    return null; // e.g. an opaque origin
  }
}

/** Where a stopped download's bytes wait in Cache Storage, to be resumed with a range request. */
const partialKey = (url: string) => `${url}${url.includes('?') ? '&' : '?'}dynavit-partial=1`;

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of parts) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Download `url`, resuming a stopped download kept in Cache Storage with `Range: bytes=N-`. A download that
 * stops keeps its bytes there (under a separate key, never as the file) and says so; a server that ignores
 * the range (200) starts over.
 */
async function download(url: string, opts: WebCacheOptions, cache: Cache | null): Promise<Uint8Array> {
  const kept = await cache?.match(partialKey(url));
  const have = kept ? new Uint8Array(await kept.arrayBuffer()) : new Uint8Array(0);
  let res: Response;
  try {
    const headers = new Headers(opts.fetchInit?.headers);
    if (have.length) headers.set('Range', `bytes=${have.length}-`);
    res = await fetch(url, { ...opts.fetchInit, headers });
  } catch (e) {
    throw new DownloadError(
      `could not fetch ${printable(url)}: ${printable((e as Error).message)} (offline, or the server does not allow this origin: CORS)`,
    );
  }
  if (res.status === 416 && have.length) {
    await cache?.delete(partialKey(url));
    return download(url, opts, cache);
  }
  if (!res.ok) throw new DownloadError(`${printable(url)} answered HTTP ${res.status} ${printable(res.statusText)}`);
  if ((res.headers.get('content-type') ?? '').startsWith('text/html'))
    throw new DownloadError(
      `${printable(url)} answered with a web page, not a checkpoint (the link needs a browser or has moved)`,
    );
  const resumed = res.status === 206 && have.length > 0;
  const length = Number(res.headers.get('content-length') ?? 0);
  const total = length ? (resumed ? have.length + length : length) : 0;
  const reader = res.body?.getReader();
  if (!reader) throw new DownloadError(`${printable(url)} sent no body`);
  const chunks: Uint8Array[] = resumed ? [have] : [];
  let loaded = resumed ? have.length : 0;
  let failure: string | null = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      opts.onProgress?.({ loaded, total, url });
    }
  } catch (e) {
    failure = printable((e as Error).message);
  }
  if (failure !== null || (total && loaded !== total)) {
    // keep what arrived, to resume from it next time
    await cache
      ?.put(partialKey(url), new Response(concat(chunks, loaded) as Uint8Array<ArrayBuffer>))
      .catch(() => undefined);
    throw new DownloadError(
      `the download of ${printable(url)} stopped at ${loaded}${total ? ` of ${total}` : ''} bytes` +
        `${failure ? ` (${failure})` : ''}; ${cache ? 'load it again to resume' : 'try again'}`,
    );
  }
  await cache?.delete(partialKey(url));
  return concat(chunks, loaded);
}

/** A URL through Cache Storage: the cached bytes (verified), else downloaded, verified against `expected`, stored. */
export async function fetchCached(url: string, expected?: string, opts: WebCacheOptions = {}): Promise<WebCachedFile> {
  const cache = await openCache();
  const hit = await cache?.match(url);
  if (hit) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    const sha = await sha256(bytes);
    const want = expected ?? hit.headers.get(SHA_HEADER) ?? undefined;
    if (want && sha !== want)
      throw new DownloadError(
        `the cached copy of ${printable(url)} was altered (sha256 ${sha.slice(0, 16)}…, expected ${want.slice(0, 16)}…); remove it with clearWeightsCache() and load again`,
      );
    return { bytes, url, sha256: sha, cached: true };
  }
  if (opts.offline)
    throw new DownloadError(`${printable(url)} is not in the browser's weights cache and offline is set`);
  const bytes = await download(url, opts, cache);
  const sha = await sha256(bytes);
  if (expected && sha !== expected)
    throw new DownloadError(
      `${printable(url)} does not have the published sha256 (got ${sha.slice(0, 16)}…, expected ${expected.slice(0, 16)}…); nothing was kept`,
    );
  await cache
    ?.put(
      url,
      new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { [SHA_HEADER]: sha, 'content-length': String(bytes.length) },
      }),
    )
    .catch(() => undefined); // a full quota only costs the next page a download
  return { bytes, url, sha256: sha, cached: false };
}

/** A zoo release: the first of its links that works, through Cache Storage; the by-hand way when none can. */
export async function fetchReleaseWeb(entry: PretrainedCheckpoint, opts: WebCacheOptions = {}): Promise<WebCachedFile> {
  const byHand = `${(entry.manual ?? `download ${entry.urls[0] ?? entry.file} in a browser tab`).replace(/[.;\s]+$/, '')}; then load the file with weights: <the File from an <input type=file>>`;
  if (entry.urls.length === 0) throw new DownloadError(`${entry.id}: ${byHand}`);
  const errors: string[] = [];
  for (const url of entry.urls) {
    try {
      return await fetchCached(url, entry.sha256, opts);
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      errors.push(e.message);
    }
  }
  throw new DownloadError(`could not download ${entry.id}: ${errors.join('; ')}. By hand: ${byHand}`);
}

/** What the weights cache holds: URLs, sizes, and stopped downloads waiting to be resumed (`partial`). */
export async function listWeightsCache(): Promise<
  { url: string; size: number; sha256: string | null; partial: boolean }[]
> {
  const cache = await openCache();
  if (!cache) return [];
  const out: { url: string; size: number; sha256: string | null; partial: boolean }[] = [];
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    const partial = /[?&]dynavit-partial=1$/.test(req.url);
    out.push({
      url: partial ? req.url.replace(/[?&]dynavit-partial=1$/, '') : req.url,
      size: partial ? ((await res?.arrayBuffer())?.byteLength ?? 0) : Number(res?.headers.get('content-length') ?? 0),
      sha256: res?.headers.get(SHA_HEADER) ?? null,
      partial,
    });
  }
  return out;
}

/** Remove one URL, or everything, from the weights cache; returns how many entries went. */
export async function clearWeightsCache(url?: string): Promise<number> {
  const cache = await openCache();
  if (!cache) return 0;
  if (url !== undefined) return (await cache.delete(url)) ? 1 : 0;
  const keys = await cache.keys();
  await caches.delete(WEIGHTS_CACHE);
  return keys.length;
}
