/**
 * "Works from a plain Vite build": a tiny app that uses this package exactly as the README says
 * (import from the package entry, wasm binaries imported with `?url`, nothing in a Vite config) is
 * built with Vite's defaults, checked for Node-only modules, then served by `vite preview` and run in
 * Chromium: it must pick WebGPU by itself, start wasm from the emitted binaries and pass the DAT++
 * golden case. Needs the package built (`pnpm build`; `pnpm test` builds first).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { build, createLogger, preview } from 'vite';
import { describe, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const app = join(pkg, 'test-output', 'vite-app');
const golden = join(pkg, '..', 'dat', 'src', '__fixtures__', 'golden');
const NODE_BUILTIN = new RegExp(`^(node:|sharp$|@dynavit/core/node$|(${builtinModules.join('|')})(/|$))`);
// executable and flags shared by every browser test (tools/chromium.json)
const chromiumConfig = JSON.parse(readFileSync(new URL('../../../tools/chromium.json', import.meta.url), 'utf8')) as {
  executable: string;
  args: string[];
};
const CHROMIUM = process.env['DYNAVIT_CHROMIUM'] ?? chromiumConfig.executable;
const ARGS = chromiumConfig.args;

// The app: what a user writes after reading the README (the entry is imported from the built dist,
// standing in for `@dynavit/backend-web`).
const MAIN = `
import { selectBackend, loadWeights, createRegistry, prepareClassification } from '../../dist/index.js';
import { runParity } from '@dynavit/core/testing';
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

const wasmPaths = {
  'tfjs-backend-wasm.wasm': wasm,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

async function main() {
  const auto = await selectBackend({ wasmPaths });
  const wasmChoice = await selectBackend({ prefer: 'wasm', wasmPaths });
  const progress = [];
  const weights = await loadWeights('./dat_pp_reduced.weights.safetensors', { onProgress: (p) => progress.push(p.status) });
  const io = await loadWeights('./dat_pp_reduced.io.safetensors');
  const registry = createRegistry();
  const report = runParity(registry, weights, io);
  const canvas = document.createElement('canvas');
  canvas.width = 300;
  canvas.height = 200;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#3a7';
  ctx.fillRect(0, 0, 300, 200);
  const input = registry.variant('dat_pp_tiny').variant.input;
  const x = prepareClassification(canvas, input);
  const shape = x.shape;
  x.dispose();
  return { auto, wasm: wasmChoice, progress: [...new Set(progress)], ok: report.ok, outputs: report.outputs.length, shape };
}
main().then((r) => { window.__result = r; }, (e) => { window.__result = { error: String(e && e.stack || e) }; });
`;

describe('a plain Vite build', () => {
  it('bundles without Node modules, emits the wasm binaries, and runs in Chromium', async () => {
    expect(existsSync(join(pkg, 'dist', 'index.js')), 'build the package first (pnpm build)').toBe(true);
    rmSync(app, { recursive: true, force: true });
    mkdirSync(join(app, 'public'), { recursive: true });
    writeFileSync(
      join(app, 'index.html'),
      '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n',
    );
    writeFileSync(join(app, 'main.js'), MAIN);
    for (const f of ['dat_pp_reduced.weights.safetensors', 'dat_pp_reduced.io.safetensors'])
      copyFileSync(join(golden, f), join(app, 'public', f));

    const warnings: string[] = [];
    const logger = createLogger('warn');
    logger.warn = (msg) => void warnings.push(msg);
    logger.warnOnce = (msg) => void warnings.push(msg);
    // an observer only: records who asks for a Node built-in (or sharp), changes nothing
    const nodeRequests: { source: string; importer: string }[] = [];
    const observer = {
      name: 'observe-node-imports',
      enforce: 'pre' as const,
      resolveId(source: string, importer: string | undefined) {
        if (NODE_BUILTIN.test(source)) nodeRequests.push({ source, importer: importer ?? '' });
        return null;
      },
    };
    const out = await build({
      root: app,
      configFile: false,
      logLevel: 'warn',
      customLogger: logger,
      plugins: [observer],
      build: { outDir: 'dist', emptyOutDir: true, reportCompressedSize: false },
    });
    const outputs = (Array.isArray(out) ? out : [out]).flatMap((o) => ('output' in o ? o.output : []));
    const modules = outputs.flatMap((o) => (o.type === 'chunk' ? Object.keys(o.modules) : []));
    expect(modules.some((m) => m.includes('backend-web/dist/weights.js'))).toBe(true);
    const nodeOnly = modules.filter((m) =>
      /(^|[/\\])node:|browser-external|core[/\\]dist[/\\]node\.js|[/\\]sharp[/\\]/.test(m),
    );
    // Node built-ins are requested only by third-party code behind runtime checks, which their
    // package.json "browser" fields map to empty modules (tfjs-backend-wasm's emscripten glue: fs,
    // path, os, worker_threads, perf_hooks; seedrandom: crypto). Nothing of dynavit's asks for one.
    expect(nodeOnly.filter((m) => !m.includes('__vite-browser-external'))).toEqual([]);
    const fromDynavit = nodeRequests.filter((r) => !/[/\\]node_modules[/\\]/.test(r.importer));
    expect(fromDynavit).toEqual([]);
    expect(warnings.filter((w) => /externalized for browser compatibility/.test(w))).toEqual([]);
    const assets = outputs.filter((o) => o.type === 'asset').map((o) => o.fileName);
    for (const f of ['tfjs-backend-wasm', 'tfjs-backend-wasm-simd', 'tfjs-backend-wasm-threaded-simd'])
      expect(
        assets.some((a) => new RegExp(`${f}-[\\w-]+\\.wasm$`).test(a)),
        `${f}.wasm emitted (assets: ${assets.join(', ')})`,
      ).toBe(true);

    const server = await preview({
      root: app,
      configFile: false,
      logLevel: 'silent',
      preview: { port: 0, host: '127.0.0.1' },
      build: { outDir: 'dist' },
    });
    const url = server.resolvedUrls?.local[0];
    expect(url).toBeTruthy();
    const profile = await mkdtemp(join(tmpdir(), 'dynavit-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
    });
    try {
      const page = await context.newPage();
      await page.goto(url!);
      await page.waitForFunction(
        () => (window as unknown as { __result?: unknown }).__result !== undefined,
        undefined,
        { timeout: 120_000 },
      );
      const result = await page.evaluate(() => (window as unknown as { __result: Record<string, unknown> }).__result);
      expect(result['error']).toBeUndefined();
      expect(result).toMatchObject({
        // headless Chromium's WebGPU and WebGL are SwiftShader: auto passes over them
        auto: { backend: 'wasm', reason: 'first available (before it: webgpu, webgl skipped)' },
        wasm: { backend: 'wasm', reason: 'requested' },
        progress: ['initiate', 'progress', 'done', 'ready'],
        ok: true,
        outputs: 5,
        shape: [1, 224, 224, 3],
      });
    } finally {
      await context.close();
      await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
