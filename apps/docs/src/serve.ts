/**
 * A small static file server for the built site (tests, screenshots): serves a folder on 127.0.0.1
 * with the MIME types the demo needs (`.wasm` as application/wasm, so tfjs can stream-compile it) and
 * VitePress' clean-URL fallback (`/demo` → `/demo.html`).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const MIME: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

/** The file a request path maps to, or null (outside the root, or missing). */
export function resolveStatic(root: string, urlPath: string): string | null {
  let p = decodeURIComponent(urlPath.split('?')[0]!.split('#')[0]!);
  if (p.endsWith('/')) p += 'index.html';
  const full = normalize(join(root, p));
  if (full !== root && !full.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  for (const candidate of [full, `${full}.html`])
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  return null;
}

export interface StaticServer {
  url: string;
  close(): Promise<void>;
}

/** Serve `root` on a free port of 127.0.0.1. */
export async function serveStatic(root: string): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const file = resolveStatic(root, req.url ?? '/');
    if (!file) {
      const notFound = resolveStatic(root, '/404.html');
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      if (notFound) createReadStream(notFound).pipe(res);
      else res.end('not found');
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
    });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
