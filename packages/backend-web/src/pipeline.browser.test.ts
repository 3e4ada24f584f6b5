/**
 * `pipeline()` in Chromium: photos decode to the bytes PIL decodes (colour profiles ignored, as the
 * official evaluations read them); a classification pipeline gives the model's own result on the
 * official input, in the page and in a Web Worker alike (the worker's results arrive as transferred
 * plain data); Cache Storage keeps a download, verifies it, and refuses an altered copy; bad input is a
 * typed error. Runs on wasm; no tensor leaks in the page.
 */
import * as tf from '@tensorflow/tfjs-core';
import { classificationPixels, DynavitError } from '@dynavit/core';
import { seededWeights } from '@dynavit/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import astronaut from '../../backend-node/src/__fixtures__/images/astronaut-square.png?url';
import chelsea from '../../backend-node/src/__fixtures__/images/chelsea.png?url';
import reference from '../../backend-node/src/__fixtures__/images/eval-transforms.json' with { type: 'json' };
import rocket from '../../backend-node/src/__fixtures__/images/rocket-portrait.png?url';
import { selectBackend } from './select-backend.js';
import { WASM_PATHS } from './cases.browser.js';
import { decodeWebImage, pipeline } from './pipeline.js';
import { createRegistry } from './registry.js';
import { clearWeightsCache, fetchCached, listWeightsCache, WEIGHTS_CACHE } from './weights-cache.js';

const PHOTOS: Record<string, string> = {
  'chelsea.png': chelsea,
  'rocket-portrait.png': rocket,
  'astronaut-square.png': astronaut,
};

async function sha256(bytes: Uint8Array): Promise<string> {
  const d = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

beforeAll(async () => {
  await selectBackend({ prefer: 'wasm', wasmPaths: WASM_PATHS });
});

describe('pipeline() in the browser', () => {
  it('decodes photos (URL, Blob, bytes) to the bytes PIL decodes: embedded ICC profiles are ignored', async () => {
    for (const [name, url] of Object.entries(PHOTOS)) {
      const want = (reference.photos as Record<string, { decoded: string; width: number }>)[name]!;
      const fromUrl = await decodeWebImage(url);
      expect(await sha256(fromUrl.data), name).toBe(want.decoded);
      const blob = await (await fetch(url)).blob();
      expect(await sha256((await decodeWebImage(blob)).data), name).toBe(want.decoded);
      expect(await sha256((await decodeWebImage(new Uint8Array(await blob.arrayBuffer()))).data), name).toBe(
        want.decoded,
      );
    }
    await expect(decodeWebImage(new Uint8Array([1, 2, 3]))).rejects.toThrow(/^not a readable image: image 0 \(bytes\)/);
  });

  it('classifies in the page and in a Web Worker alike, as the model does on the official input', async () => {
    const registry = createRegistry();
    const start = tf.memory().numTensors;
    const model = registry.createModel('debi_tiny');
    if (model.kind !== 'classifier') throw new Error(model.kind);
    const weights = seededWeights(model.stateDict(), 5);
    model.loadStateDict(weights);
    const input = registry.variant('debi_tiny').variant.input!;
    const urls = Object.values(PHOTOS);
    const page = await pipeline('image-classification', 'debi_tiny', {
      weights,
      backend: 'wasm',
      wasmPaths: WASM_PATHS,
    });
    const inPage = await page(urls, { topk: 5 });
    page.dispose();
    const stages: string[] = [];
    const worker = await pipeline('image-classification', 'debi_tiny', {
      weights,
      backend: 'wasm',
      wasmPaths: WASM_PATHS,
      worker: true,
      onProgress: (p) => stages.push(p.stage),
    });
    expect(worker.backend.backend).toBe('wasm');
    expect(worker.labels).toHaveLength(1000);
    expect(stages).toContain('build');
    const inWorker = await worker(urls, { topk: 5 });
    const single = await worker(urls[0]!, { topk: 2 });
    await expect(worker(urls[0]!, { topk: 0 })).rejects.toThrow('topk must be a positive integer, got 0');
    worker.dispose();
    await expect(worker(urls[0]!)).rejects.toThrow('this pipeline was disposed');
    expect(inWorker).toEqual(inPage);
    expect(single).toEqual(inPage[0]!.slice(0, 2));
    for (const [i, url] of urls.entries()) {
      const px = await decodeWebImage(url);
      const probs = tf.tidy(() =>
        tf.softmax(model.forward(tf.tensor4d(classificationPixels(px, input), [1, 224, 224, 3]))),
      );
      const p = await probs.data();
      probs.dispose();
      const top = [...p.keys()].sort((a, b) => p[b]! - p[a]!).slice(0, 5);
      expect(inPage[i]!.map((r) => r.index)).toEqual(top);
      for (const [j, r] of inPage[i]!.entries()) expect(Math.abs(r.score - p[top[j]!]!)).toBeLessThanOrEqual(1e-6);
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('a worker’s typed error arrives typed, and a wrong task for a model is refused before any download', async () => {
    const err = await pipeline('semantic-segmentation', 'debi_tiny', {
      weights: null,
      worker: true,
      wasmPaths: WASM_PATHS,
    }).catch((e: unknown) => e);
    expect(DynavitError.isInstance(err)).toBe(true);
    expect((err as DynavitError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toBe(
      'debi_tiny is a classifier; semantic-segmentation needs a dense backbone (e.g. debi_tiny_seg, debi_small_seg, debi_base_seg, …)',
    );
    await expect(pipeline('image-classification', 'debi_tiny', { wasmPaths: WASM_PATHS })).rejects.toThrow(
      /^debi_tiny: no direct link \(a Google Drive folder\): open https:\/\/drive\.google\.com\/.* then load the file with weights:/,
    );
  });

  it('segments in a worker: the class map comes back at the image size', async () => {
    const seg = await pipeline('semantic-segmentation', 'debi_tiny_seg', {
      weights: null,
      worker: true,
      backend: 'wasm',
      wasmPaths: WASM_PATHS,
    });
    expect(seg.head).toBe('upernet_ade20k');
    const r = await seg(chelsea, { scale: [128, 64] });
    seg.dispose();
    expect([r.width, r.height, r.classMap.length, r.labels.length]).toEqual([300, 200, 300 * 200, 150]);
    expect(r.classMap).toBeInstanceOf(Int32Array);
  });

  it('Cache Storage: a cut download keeps its bytes and the next load resumes with a range request', async () => {
    await clearWeightsCache();
    const url = new URL(`${chelsea}?resume-test`, location.href).href;
    const body = new Uint8Array(await (await fetch(chelsea)).arrayBuffer());
    const cut = 40_000;
    const seen: (string | null)[] = [];
    const realFetch = globalThis.fetch;
    // a server that sends the first 40 000 bytes then drops the connection, and honours ranges afterwards
    globalThis.fetch = async (input, init) => {
      if (String(input) !== url) return realFetch(input, init);
      const range = new Headers(init?.headers).get('Range');
      seen.push(range);
      if (range === null) {
        let sent = false;
        const stream = new ReadableStream<Uint8Array>({
          pull(c) {
            if (!sent) {
              sent = true;
              c.enqueue(body.slice(0, cut));
            } else c.error(new TypeError('network error'));
          },
        });
        return new Response(stream, { headers: { 'content-length': String(body.length) } });
      }
      const from = Number(/^bytes=(\d+)-$/.exec(range)![1]);
      return new Response(body.slice(from), {
        status: 206,
        headers: {
          'content-length': String(body.length - from),
          'content-range': `bytes ${from}-${body.length - 1}/${body.length}`,
        },
      });
    };
    try {
      await expect(fetchCached(url)).rejects.toThrow(
        /^the download of .* stopped at 40000 of \d+ bytes \(network error\); load it again to resume$/,
      );
      expect(await listWeightsCache()).toEqual([{ url, size: cut, sha256: null, partial: true }]);
      const f = await fetchCached(url);
      expect(seen).toEqual([null, `bytes=${cut}-`]);
      expect(f.cached).toBe(false);
      expect(f.sha256).toBe(await sha256(body));
      expect((await listWeightsCache()).map((e) => e.partial)).toEqual([false]);
    } finally {
      globalThis.fetch = realFetch;
      await clearWeightsCache();
    }
  });

  it('Cache Storage: downloads once, records the sha256, serves the copy, refuses an altered one', async () => {
    await clearWeightsCache();
    const url = new URL(chelsea, location.href).href;
    const first = await fetchCached(url);
    expect(first.cached).toBe(false);
    expect(first.sha256).toBe(await sha256(first.bytes));
    const again = await fetchCached(url);
    expect([again.cached, again.sha256]).toEqual([true, first.sha256]);
    await expect(fetchCached(url, 'ab'.repeat(32))).rejects.toThrow(/was altered/);
    const cache = await caches.open(WEIGHTS_CACHE);
    await cache.put(url, new Response(new Uint8Array([1, 2, 3]), { headers: { 'x-dynavit-sha256': first.sha256 } }));
    await expect(fetchCached(url)).rejects.toThrow(
      /^the cached copy of .* was altered \(sha256 [0-9a-f]{16}…, expected/,
    );
    await clearWeightsCache();
    await expect(fetchCached(`${url}-missing`)).rejects.toThrow(/answered HTTP 404/);
    await expect(fetchCached(url, undefined, { offline: true })).rejects.toThrow(/not in the browser's weights cache/);
    expect(await caches.open(WEIGHTS_CACHE).then((c) => c.keys())).toHaveLength(0);
  });
});
