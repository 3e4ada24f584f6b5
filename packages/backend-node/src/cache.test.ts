/**
 * The weights cache against a local HTTP server on 127.0.0.1 (nothing leaves the machine): download with
 * progress, resume after a cut connection (HTTP range), a cache hit with the server stopped, a published
 * sha256 that does not match, an altered cached file, a 404, a web page instead of a checkpoint, a release
 * without a direct link; the CLI's `run --weights URL`, `pull`, `cache list|clear`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { DownloadError, type PretrainedCheckpoint, writeSafetensors } from '@dynavit/core';
import { seededWeights } from '@dynavit/core/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { clearCache, fetchRelease, fetchUrl, listCache, releasePath } from './cache.js';
import { pipeline } from './pipeline.js';
import { createRegistry } from './registry.js';
import { runCli } from './test-utils/run-cli.js';

const images = fileURLToPath(new URL('./__fixtures__/images/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'dynavit-cache-'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** How the server answers a path: the bytes, and whether to cut the connection after `cutAt` bytes once. */
interface Route {
  body: Uint8Array;
  type?: string;
  status?: number;
  cutAt?: number;
}

let server: Server;
let base = '';
const routes = new Map<string, Route>();
const seen: { path: string; range: string | undefined }[] = [];

function handle(req: IncomingMessage, res: ServerResponse) {
  const path = req.url ?? '/';
  seen.push({ path, range: req.headers.range });
  const r = routes.get(path);
  if (!r) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  if (r.status) {
    res.writeHead(r.status, { 'content-type': r.type ?? 'text/plain' }).end(Buffer.from(r.body));
    return;
  }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const from = m ? Number(m[1]) : 0;
  const slice = r.body.subarray(from);
  res.writeHead(m ? 206 : 200, {
    'content-type': r.type ?? 'application/octet-stream',
    'content-length': String(slice.length),
    ...(m ? { 'content-range': `bytes ${from}-${r.body.length - 1}/${r.body.length}` } : {}),
  });
  if (r.cutAt !== undefined && from === 0) {
    const cut = r.cutAt;
    r.cutAt = undefined; // only the first request is cut
    res.write(Buffer.from(slice.subarray(0, cut)), () => res.destroy());
    return;
  }
  res.end(Buffer.from(slice));
}

async function startServer(): Promise<void> {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const stopServer = () =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

/** Seeded debi_tiny weights as a safetensors file (bytes). */
let debiTiny: Uint8Array;

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm' });
  const m = createRegistry().createModel('debi_tiny');
  debiTiny = writeSafetensors(seededWeights(m.stateDict(), 3));
  m.dispose();
  await startServer();
});
afterAll(async () => {
  if (server.listening) await stopServer();
});
afterEach(() => {
  routes.clear();
  seen.length = 0;
});

const payload = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 255);

const release = (id: string, urls: string[], extra: Partial<PretrainedCheckpoint> = {}): PretrainedCheckpoint => ({
  id,
  model: 'debi_tiny',
  task: 'image-classification',
  dataset: 'test',
  resolution: '224²',
  metrics: [],
  urls,
  file: `${id}.bin`,
  source: 'cache.test.ts',
  ...extra,
});

describe('fetchUrl / fetchRelease', () => {
  it('downloads once with progress, records the sha256, then answers from the cache with the server stopped', async () => {
    const dir = join(tmp, 'hit');
    const body = payload(300_000);
    routes.set('/w/a.bin', { body });
    const progress: number[] = [];
    const first = await fetchUrl(`${base}/w/a.bin`, { dir, onProgress: (p) => progress.push(p.loaded) });
    expect(first.cached).toBe(false);
    expect(first.sha256).toBe(sha(body));
    expect(readFileSync(first.path)).toEqual(Buffer.from(body));
    expect(progress.at(-1)).toBe(body.length);
    const meta = JSON.parse(readFileSync(`${first.path}.json`, 'utf8')) as { sha256: string; url: string };
    expect(meta).toMatchObject({ sha256: sha(body), url: `${base}/w/a.bin` });
    await stopServer();
    try {
      const again = await fetchUrl(`${base}/w/a.bin`, { dir });
      expect(again).toMatchObject({ cached: true, path: first.path, sha256: sha(body) });
    } finally {
      await startServer();
    }
  });

  it('resumes a download the server cut, with a range request, and keeps nothing half-written under the real name', async () => {
    const dir = join(tmp, 'resume');
    const body = payload(500_000, 2);
    const entry = release('cut', []);
    routes.set('/cut.bin', { body, cutAt: 123_456 });
    const e = { ...entry, urls: [`${base}/cut.bin`] };
    await expect(fetchRelease(e, { dir })).rejects.toThrow(
      /^could not download cut: the download of http:\/\/127\.0\.0\.1:\d+\/cut\.bin stopped at 123456 of 500000 bytes .*run the same command again to resume/,
    );
    const dest = releasePath(e, dir);
    expect(existsSync(dest)).toBe(false);
    expect(readFileSync(`${dest}.part`).length).toBe(123_456);
    const r = await fetchRelease(e, { dir });
    expect(seen.at(-1)).toEqual({ path: '/cut.bin', range: 'bytes=123456-' });
    expect(r.sha256).toBe(sha(body));
    expect(readFileSync(dest)).toEqual(Buffer.from(body));
    expect(existsSync(`${dest}.part`)).toBe(false);
  });

  it('a published sha256 that does not match: a clear error and nothing kept', async () => {
    const dir = join(tmp, 'mismatch');
    routes.set('/m.bin', { body: payload(1000) });
    const e = release('mism', [`${base}/m.bin`], { sha256: 'ab'.repeat(32) });
    await expect(fetchRelease(e, { dir })).rejects.toThrow(
      /does not have the published sha256 \(got [0-9a-f]{16}…, expected abababababababab…\); nothing was kept/,
    );
    expect(readdirSync(join(dir, 'mism'))).toEqual([]);
  });

  it('an altered cached file is refused with what to do', async () => {
    const dir = join(tmp, 'altered');
    routes.set('/x.bin', { body: payload(2000) });
    const f = await fetchUrl(`${base}/x.bin`, { dir });
    const bytes = readFileSync(f.path);
    bytes[10] = bytes[10]! ^ 1;
    writeFileSync(f.path, bytes);
    await expect(fetchUrl(`${base}/x.bin`, { dir })).rejects.toThrow(
      /^the cached download of http:\/\/127\.0\.0\.1:\d+\/x\.bin \(.*x\.bin\) was altered: its sha256 is [0-9a-f]{16}…, expected [0-9a-f]{16}…; delete it \(`dynavit cache clear`\) and download again$/,
    );
  });

  it('404, a web page, an unreachable host, a non-http URL: one line each, nothing in the cache', async () => {
    const dir = join(tmp, 'bad');
    routes.set('/page', { body: new TextEncoder().encode('<html>sign in</html>'), type: 'text/html; charset=utf-8' });
    await expect(fetchUrl(`${base}/missing.pth`, { dir })).rejects.toThrow(/answered HTTP 404 Not Found$/);
    await expect(fetchUrl(`${base}/missing.pth`, { dir })).rejects.toBeInstanceOf(DownloadError);
    await expect(fetchUrl(`${base}/page`, { dir })).rejects.toThrow(/answered with a web page, not a checkpoint/);
    await expect(fetchUrl('http://127.0.0.1:9/w.pth', { dir })).rejects.toThrow(
      /^could not reach http:\/\/127\.0\.0\.1:9\/w\.pth: /,
    );
    await expect(fetchUrl('ftp://example.org/w.pth', { dir })).rejects.toThrow(/only http\(s\) URLs are downloaded/);
    await expect(fetchUrl(`${base}/nothing-cached`, { dir, offline: true })).rejects.toThrow(
      /not in the cache and the network is off/,
    );
    expect((await listCache(dir)).filter((l) => !l.partial)).toEqual([]);
  });

  it('a release without a direct link says where to get it and where to put it; a file put there is used and hashed', async () => {
    const dir = join(tmp, 'manual');
    const e = release('byhand', [], { manual: 'open https://drive.example/folder in a browser and download w.pth' });
    await expect(fetchRelease(e, { dir })).rejects.toThrow(
      `byhand: open https://drive.example/folder in a browser and download w.pth; then either pass the file with --weights FILE, or save it as ${releasePath(e, dir)} to use it as byhand from the cache`,
    );
    mkdirSync(join(dir, 'byhand'), { recursive: true });
    writeFileSync(releasePath(e, dir), payload(100));
    const f = await fetchRelease(e, { dir });
    expect(f).toMatchObject({ cached: true, sha256: sha(payload(100)) });
    writeFileSync(releasePath(e, dir), payload(101));
    await expect(fetchRelease(e, { dir })).rejects.toThrow(/was altered/);
  });

  it('a bundled release is read in place (no download, nothing in the cache), checked against its sha256', async () => {
    const dir = join(tmp, 'bundled-cache');
    const file = join(tmp, 'bundled', 'w.safetensors');
    mkdirSync(join(tmp, 'bundled'), { recursive: true });
    writeFileSync(file, payload(64));
    const url = pathToFileURL(file).href;
    const e = release('inpkg', [url], { bundled: true, sha256: sha(payload(64)) });
    const f = await fetchRelease(e, { dir, offline: true });
    expect(f).toEqual({ path: file, sha256: sha(payload(64)), size: 64, cached: true, url });
    expect(existsSync(dir)).toBe(false);
    writeFileSync(file, payload(65));
    await expect(fetchRelease(e, { dir })).rejects.toThrow(
      `inpkg's bundled weights (${file}) were altered: sha256 ${sha(payload(65)).slice(0, 16)}…, expected ${sha(payload(64)).slice(0, 16)}…; reinstall the package`,
    );
    await expect(fetchRelease({ ...e, urls: [pathToFileURL(join(tmp, 'nope.bin')).href] }, { dir })).rejects.toThrow(
      /inpkg's weights ship with its package but .*nope\.bin is missing; reinstall the package that provides debi_tiny/,
    );
    await expect(fetchRelease({ ...e, urls: ['https://x.example/w'] }, { dir })).rejects.toThrow(DownloadError);
  });
});

describe('pipeline and the CLI with URLs and the cache', () => {
  it('pipeline(weights: URL) downloads into cacheDir; weights: "pretrained" offline uses the release in the cache', async () => {
    const dir = join(tmp, 'pipe');
    routes.set('/debi_tiny.safetensors', { body: debiTiny });
    const start = tf.memory().numTensors;
    const events: string[] = [];
    const a = await pipeline('image-classification', 'debi_tiny', {
      weights: `${base}/debi_tiny.safetensors`,
      cacheDir: dir,
      backend: 'wasm',
      onProgress: (p) => events.push(p.stage),
    });
    expect(events).toContain('download');
    expect(events.slice(-2)).toEqual(['read', 'build']);
    const [top] = await a([`${images}chelsea.png`]);
    a.dispose();
    // the same file placed as the debi_tiny release: 'pretrained' reads it offline
    const entry = createRegistry().findPretrained({ model: 'debi_tiny', task: 'image-classification' });
    mkdirSync(join(dir, entry.id), { recursive: true });
    writeFileSync(releasePath(entry, dir), debiTiny);
    const b = await pipeline('image-classification', 'debi_tiny', {
      weights: 'pretrained',
      cacheDir: dir,
      offline: true,
      backend: 'wasm',
    });
    expect(b.release?.id).toBe('debi_tiny');
    expect(b.report.source).toBe('pretrained:debi_tiny');
    expect(await b(`${images}chelsea.png`)).toEqual(top);
    b.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('dynavit run --weights URL downloads once; with the server stopped the second run gives the same result', async () => {
    const dir = join(tmp, 'cli');
    process.env['DYNAVIT_CACHE'] = dir;
    try {
      routes.set('/x.safetensors', { body: debiTiny });
      const url = `${base}/x.safetensors`;
      const out1 = join(tmp, 'out1');
      const out2 = join(tmp, 'out2');
      const r1 = await runCli(['run', `${images}chelsea.png`, '--model', 'debi_tiny', '--weights', url, '--out', out1]);
      expect(r1.code, r1.stderr).toBe(0);
      expect(seen.filter((s) => s.path === '/x.safetensors')).toHaveLength(1);
      await stopServer();
      let r2: Awaited<ReturnType<typeof runCli>>;
      try {
        r2 = await runCli(['run', `${images}chelsea.png`, '--model', 'debi_tiny', '--weights', url, '--out', out2]);
      } finally {
        await startServer();
      }
      expect(r2.code, r2.stderr).toBe(0);
      const j1 = JSON.parse(readFileSync(join(out1, 'chelsea.classify.json'), 'utf8'));
      const j2 = JSON.parse(readFileSync(join(out2, 'chelsea.classify.json'), 'utf8'));
      expect(j2.result).toEqual(j1.result);
      expect(j1.untrained).toBe(false);
      expect(j1.weights).toBe(url);
      const list = await runCli(['cache', 'list']);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(`cache: ${dir}`);
      expect(list.stdout).toMatch(/url-[0-9a-f]{16}\s+x\.safetensors\s+/);
      expect(list.stdout).toContain(url);
      const entry = (await listCache(dir))[0]!.entry;
      const cleared = await runCli(['cache', 'clear', entry]);
      expect(cleared.stdout).toMatch(new RegExp(`^removed ${entry} from `));
      expect(await listCache(dir)).toEqual([]);
      const bad = await runCli(['cache', 'clear', 'nope']);
      expect([bad.code, bad.stderr.trim()]).toEqual([
        1,
        `dynavit: the cache (${dir}) has no entry "nope"; see \`dynavit cache list\``,
      ]);
      const badUrl = await runCli([
        'run',
        `${images}chelsea.png`,
        '--model',
        'debi_tiny',
        '--weights',
        `${base}/gone.pth`,
      ]);
      expect([badUrl.code, badUrl.stderr.trim().split('\n').length]).toEqual([1, 1]);
      expect(badUrl.stderr).toMatch(/^dynavit: http:\/\/127\.0\.0\.1:\d+\/gone\.pth answered HTTP 404 Not Found\n$/);
      const pull = await runCli(['pull', 'debi_tiny']);
      expect([pull.code, pull.stderr]).toEqual([
        1,
        expect.stringMatching(/^dynavit: debi_tiny: no direct link \(a Google Drive folder\)/),
      ]);
    } finally {
      delete process.env['DYNAVIT_CACHE'];
      await clearCache(undefined, dir);
    }
  });
});
