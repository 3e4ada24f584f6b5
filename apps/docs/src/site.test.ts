/**
 * The built site, served on localhost and opened in Debian's Chromium (playwright-core, no downloaded
 * browser): the live demo runs each bundled test model on the bundled image with its bundled golden
 * weights, shows a result, and draws the mechanism on the canvas; screenshots go to test-output/.
 *
 * Reuses the output of this package's `build` script (turbo runs `build` before `test`); builds the
 * site first when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoState } from './demo/state.js';
import { serveStatic, type StaticServer } from './serve.js';

const docs = fileURLToPath(new URL('..', import.meta.url));
const site = join(docs, '.vitepress', 'dist');
const out = join(docs, 'test-output');
// executable and flags shared by every browser test (tools/chromium.json)
const chromiumConfig = JSON.parse(readFileSync(new URL('../../../tools/chromium.json', import.meta.url), 'utf8')) as {
  executable: string;
  args: string[];
};
const CHROMIUM = process.env['DYNAVIT_CHROMIUM'] ?? chromiumConfig.executable;
const ARGS = chromiumConfig.args;

let server: StaticServer;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(join(site, 'demo.html'))) execFileSync('pnpm', ['run', 'build'], { cwd: docs, stdio: 'inherit' });
  mkdirSync(out, { recursive: true });
  server = await serveStatic(site);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function openPage(path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
  await page.goto(`${server.url}${path}`);
  return page;
}

/** Pixels of a canvas: how many distinct colours (quantised) it holds, and its size. */
async function canvasColours(
  page: Page,
  selector: string,
): Promise<{ width: number; height: number; colours: number }> {
  return page.evaluate((sel) => {
    const c = document.querySelector(sel) as HTMLCanvasElement;
    const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4)
      seen.add(((data[i]! >> 3) << 10) | ((data[i + 1]! >> 3) << 5) | (data[i + 2]! >> 3));
    return { width: c.width, height: c.height, colours: seen.size };
  }, selector);
}

async function runDemo(page: Page): Promise<DemoState> {
  await page.waitForFunction(
    () => {
      const s = (window as unknown as { __dynavitDemo?: DemoState }).__dynavitDemo;
      return s !== undefined && (s.state === 'done' || s.state === 'error');
    },
    undefined,
    { timeout: 150_000 },
  );
  return page.evaluate(() => (window as unknown as { __dynavitDemo: DemoState }).__dynavitDemo);
}

describe('the docs site', () => {
  it('renders the home page, a mechanism page and the API reference', async () => {
    const home = await openPage('/');
    await expect(home.locator('.VPHero .name').textContent()).resolves.toContain('dynavit');
    await home.screenshot({ path: join(out, 'home.png') });
    const dat = await openPage('/mechanisms/dat.html');
    await expect(dat.locator('figure.diagram svg').count()).resolves.toBe(1);
    await expect(dat.locator('table').first().textContent()).resolves.toContain('DAT-T++');
    await dat.screenshot({ path: join(out, 'mechanism-dat.png'), fullPage: false });
    const api = await openPage('/api/@dynavit/dat/classes/DAttentionBaseline.html');
    await expect(api.locator('h1').textContent()).resolves.toContain('DAttentionBaseline');
    await Promise.all([home.close(), dat.close(), api.close()]);
  });

  const cases = [
    { model: 'test:dat', backend: 'wasm', shot: 'demo-dat-wasm.png', kind: 'points' as const },
    { model: 'test:dbra', backend: 'wasm', shot: 'demo-dbra-wasm.png', kind: 'regions' as const },
    { model: 'test:glmix', backend: 'wasm', shot: 'demo-glmix-wasm.png', kind: 'pixels' as const },
    { model: 'test:dat', backend: 'webgpu', shot: 'demo-dat-webgpu.png', kind: 'points' as const },
    { model: 'test:glmix', backend: 'auto', shot: 'demo-glmix-auto.png', kind: 'pixels' as const },
  ];
  it.each(cases)('the demo runs $model on $backend with the bundled weights and draws its mechanism', async ({
    model,
    backend,
    shot,
    kind,
  }) => {
    const page = await openPage(`/demo.html?model=${encodeURIComponent(model)}&backend=${backend}&autorun=1`);
    const s = await runDemo(page);
    expect(s.error).toBeUndefined();
    expect(s.state).toBe('done');
    // auto on Chromium with SwiftShader passes over the software GPU to wasm, and the demo says why
    expect(s.backend).toBe(backend === 'auto' ? 'wasm' : backend);
    // random weights are marked as such over the result
    await expect(page.locator('[data-testid=untrained]').textContent()).resolves.toMatch(
      /^\s*TEST WEIGHTS \(random, never trained\): the result is meaningless/,
    );
    if (backend === 'auto') {
      const skipped = await page.locator('[data-testid=skipped]').allTextContents();
      expect(skipped.map((t) => t.split(' ')[0])).toEqual(['webgpu', 'webgl']);
      expect(skipped[0]).toMatch(/^webgpu skipped: a software adapter \(google \/ swiftshader\)/);
    }
    if (backend === 'auto')
      await expect(page.locator('.dv-note').last().textContent()).resolves.toMatch(
        /^WebGL was passed over: a software adapter \(.*SwiftShader.*\): slower than wasm/,
      );
    // a result: the top-5 list, and timings including the forward passes
    await expect(page.locator('[data-testid=top5] li').count()).resolves.toBe(5);
    expect(s.top).toBeTruthy();
    expect(s.timings!.some((t) => t.step.startsWith('forward #1'))).toBe(true);
    // the mechanism drawn: recorded modules, drawn marks, and a canvas that is not one colour
    expect(s.traces).toBeGreaterThan(0);
    expect(s.drawn![kind]).toBeGreaterThan(0);
    const px = await canvasColours(page, '#dynavit-mechanism');
    expect(px.width).toBeGreaterThan(100);
    expect(px.colours).toBeGreaterThan(20);
    await expect(page.locator('.dv-note').first().textContent()).resolves.toContain('test weights');
    await page.locator('[data-testid=result]').screenshot({ path: join(out, shot) });
    if (kind !== 'points') {
      // clicking picks a region (routing) or a slot (GLMix) and redraws
      const canvas = page.locator('#dynavit-mechanism');
      const before = await canvas.screenshot();
      const legend = await page.locator('.dv-legend').textContent();
      const box = (await canvas.boundingBox())!;
      await canvas.click({ position: { x: box.width * 0.15, y: box.height * 0.85 } });
      await expect.poll(async () => Buffer.compare(await canvas.screenshot(), before) !== 0).toBe(true);
      if (kind === 'pixels')
        await expect.poll(() => page.locator('.dv-legend').textContent()).toMatch(/^Dispatch weights of slot \d+/);
      else expect(await page.locator('.dv-legend').textContent()).toBe(legend);
      await page.locator('[data-testid=result]').screenshot({ path: join(out, shot.replace('.png', '-clicked.png')) });
    }
    await page.close();
  });

  let wasmObjects: DemoState['objects'];
  it.each([
    'wasm',
    'webgpu',
  ])('the demo detects with a backbone + Mask R-CNN on %s and draws boxes, masks and the mechanism', async (backend) => {
    const page = await openPage(`/demo.html?model=test%3Aglmix&task=detect&backend=${backend}&warm=0&autorun=1`);
    const s = await runDemo(page);
    expect(s.error).toBeUndefined();
    expect(s.state).toBe('done');
    expect(s.backend).toBe(backend);
    // the test head keeps its 8 best boxes (score threshold 0), each drawn and listed with a COCO name
    expect(s.boxes).toBe(8);
    // WebGPU finds the same objects as wasm (same seeded head): names in order, boxes within 0.5 px
    if (backend === 'wasm') wasmObjects = s.objects;
    else {
      expect(wasmObjects, 'the wasm case runs first').toBeDefined();
      expect(s.objects!.map((o) => o.name)).toEqual(wasmObjects!.map((o) => o.name));
      for (const [k, o] of s.objects!.entries()) {
        expect(Math.abs(o.score - wasmObjects![k]!.score)).toBeLessThan(1e-3);
        for (let j = 0; j < 4; j++) expect(Math.abs(o.box[j]! - wasmObjects![k]!.box[j]!)).toBeLessThan(0.5);
      }
    }
    await expect(page.locator('[data-testid=objects] li').count()).resolves.toBe(8);
    expect(s.top).toMatch(/^[a-z ]+$/);
    const det = await canvasColours(page, '[data-testid=detection]');
    expect(det.width).toBeGreaterThan(100);
    expect(det.colours).toBeGreaterThan(20);
    // the backbone's GLMix blocks were recorded during the detector's forward pass and drawn
    expect(s.traces).toBeGreaterThan(0);
    expect(s.drawn!.pixels).toBeGreaterThan(0);
    await expect(page.locator('.dv-note').nth(1).textContent()).resolves.toContain(
      'Mask R-CNN head has random weights',
    );
    await page.locator('[data-testid=result]').screenshot({ path: join(out, `demo-glmix-detect-${backend}.png`) });
    await page.close();
  });

  it('the demo runs an official architecture through pipeline(…, { worker: true }) and lists its result', async () => {
    const page = await openPage('/demo.html?model=debi_tiny&backend=wasm&worker=1&autorun=1');
    // the page stays responsive while the worker computes: frames keep coming
    const frames = await page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          let n = 0;
          const tick = () => {
            n++;
            if (n < 30) requestAnimationFrame(tick);
            else resolve(n);
          };
          requestAnimationFrame(tick);
        }),
    );
    expect(frames).toBe(30);
    const s = await runDemo(page);
    expect(s.error).toBeUndefined();
    expect(s.state).toBe('done');
    expect(s.backend).toBe('wasm');
    expect(s.timings!.some((t) => t.step.startsWith('run (in the worker'))).toBe(true);
    expect(s.traces).toBe(0); // no mechanism views from a worker
    await expect(page.locator('[data-testid=top5] li').count()).resolves.toBe(5);
    await expect(page.locator('.dv-note').first().textContent()).resolves.toContain('Web Worker');
    await page.close();
  });

  it('the demo segments and gives each listed class its colour on the map (a legend)', async () => {
    const page = await openPage('/demo.html?model=test%3Adat&task=segment&backend=wasm&warm=0&autorun=1');
    const s = await runDemo(page);
    expect(s.error).toBeUndefined();
    const swatches = await page
      .locator('[data-testid=seg-legend] .dv-swatch')
      .evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
    expect(swatches.length).toBeGreaterThan(0);
    for (const c of swatches) expect(c).toMatch(/^rgb\(\d+, \d+, \d+\)$/);
    expect(new Set(swatches).size).toBe(swatches.length);
    await page.close();
  });

  it('the demo swaps a stage of an official architecture and draws the new mechanism', async () => {
    // DeBiFormer-T with stage 2 swapped for DAT's deformable attention: the trace shows DAT sampling points
    const page = await openPage('/demo.html?model=debi_tiny&backend=wasm&swap=2:dat.deformable&warm=0&autorun=1');
    const s = await runDemo(page);
    expect(s.error).toBeUndefined();
    expect(s.state).toBe('done');
    // DeBiFormer-T has 4 blocks × 2 attentions in stage 2: they are now DAT deformable attentions, recorded
    expect(s.traceKinds!['dat']).toBe(8);
    await expect(page.locator('.dv-note').first().textContent()).resolves.toContain('stage 2 → dat.deformable');
    await page.close();
  });

  it('had no uncaught page errors', () => {
    expect(pageErrors).toEqual([]);
  });

  it('ships the demo assets and never the generated sources', () => {
    for (const f of ['demo/coffee.jpg', 'demo/dat_pp_reduced.weights.safetensors'])
      expect(existsSync(join(site, f)), f).toBe(true);
    const html = readFileSync(join(site, 'demo.html'), 'utf8');
    expect(html).toContain('test weights');
  });
});
