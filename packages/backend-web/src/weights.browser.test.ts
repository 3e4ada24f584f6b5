/**
 * Weights in Chromium: a URL streamed with progress events, a File picked through a real
 * <input type="file"> (Playwright's file chooser), Blobs and buffers; `.pth` through core's safe
 * reader must give exactly the tensors of the matching safetensors file.
 */
import { page, userEvent } from '@vitest/browser/context';
import { describe, expect, it } from 'vitest';
import { DynavitError, type TensorData } from '@dynavit/core';
import { DISK_PATHS, FILES, GOLDEN_CASES } from './cases.browser.js';
import { loadWeights, type WeightsProgress } from './weights.js';

function bytesOf(t: TensorData): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function expectSameTensors(a: Map<string, TensorData>, b: Map<string, TensorData>): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, ta] of a) {
    const tb = b.get(k)!;
    expect({ k, dtype: ta.dtype, shape: ta.shape }).toEqual({ k, dtype: tb.dtype, shape: tb.shape });
    expect(bytesOf(ta)).toEqual(bytesOf(tb));
  }
}

async function fetchBlob(url: string): Promise<Blob> {
  return (await fetch(url)).blob();
}

describe('loadWeights in the browser', () => {
  it('streams a safetensors URL with progress events', async () => {
    const url = GOLDEN_CASES[0]!.weights;
    const events: WeightsProgress[] = [];
    const w = await loadWeights(url, { onProgress: (p) => events.push(p) });
    expect(w.format).toBe('safetensors');
    expect(w.metadata['reference']).toMatch(/^LeapLabTHU\/DAT@/);
    const size = (await fetchBlob(url)).size;
    expect(w.byteLength).toBe(size);
    const statuses = events.map((e) => e.status);
    expect(statuses[0]).toBe('initiate');
    expect(statuses.at(-2)).toBe('done');
    expect(statuses.at(-1)).toBe('ready');
    const progress = events.filter(
      (e): e is Extract<WeightsProgress, { status: 'progress' }> => e.status === 'progress',
    );
    expect(progress.length).toBeGreaterThan(0);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.loaded).toBeGreaterThan(progress[i - 1]!.loaded);
    const last = progress.at(-1)!;
    expect(last.loaded).toBe(size);
    // the dev server sends Content-Length, so the bar knows its end
    expect(last.total).toBe(size);
    expect(last.progress).toBe(1);
    expect(events.at(-1)).toEqual({ status: 'ready', source: url, format: 'safetensors', tensors: w.tensors.size });
  });

  it('gives the same tensors from a URL, a File, a Blob and an ArrayBuffer', async () => {
    const url = GOLDEN_CASES[1]!.weights;
    const blob = await fetchBlob(url);
    const fromUrl = await loadWeights(new URL(url, location.href));
    const fromFile = await loadWeights(new File([blob], 'upernet_small.weights.safetensors'));
    const fromBlob = await loadWeights(blob);
    const fromBuffer = await loadWeights(await blob.arrayBuffer());
    expect(fromFile.source).toBe('upernet_small.weights.safetensors');
    for (const w of [fromFile, fromBlob, fromBuffer]) {
      expect(w.metadata).toEqual(fromUrl.metadata);
      expectSameTensors(w.tensors, fromUrl.tensors);
    }
  });

  it('reads a .pth picked in a file input (key state_dict) exactly as its safetensors twin', async () => {
    document.body.innerHTML = '<input type="file" id="weights" accept=".pth,.safetensors">';
    const input = document.getElementById('weights') as HTMLInputElement;
    await userEvent.upload(page.elementLocator(input), DISK_PATHS.maskrcnnPth);
    const file = input.files?.[0];
    expect(file?.name).toBe('heads_maskrcnn_small.pth');
    const events: WeightsProgress[] = [];
    const pth = await loadWeights(file!, { key: 'state_dict', onProgress: (p) => events.push(p) });
    expect(pth.format).toBe('pth');
    expect(pth.byteLength).toBe(file!.size);
    expect(events.map((e) => e.status).at(-1)).toBe('ready');
    const twin = await loadWeights(FILES.maskrcnnSafetensors);
    expect(pth.tensors.size).toBeGreaterThan(0);
    expectSameTensors(pth.tensors, twin.tensors);
    document.body.innerHTML = '';
  });

  it('fails with typed errors', async () => {
    const code = async (p: Promise<unknown>) => {
      const e = await p.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(DynavitError.isInstance(e), String(e)).toBe(true);
      return `${(e as DynavitError).code}: ${(e as Error).message}`;
    };
    expect(await code(loadWeights('/definitely-missing.safetensors'))).toMatch(/^CHECKPOINT: .*(HTTP 404|HTML)/);
    expect(await code(loadWeights(new Blob(['<!doctype html><html></html>'])))).toMatch(/HTML/);
    expect(await code(loadWeights(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])))).toMatch(
      /neither a safetensors file nor a PyTorch checkpoint/,
    );
    const pth = await fetchBlob(FILES.maskrcnnPth);
    expect(await code(loadWeights(pth, { key: 'nope' }))).toMatch(/^CHECKPOINT: .*no top-level key "nope"/);
    expect(await code(loadWeights(await fetchBlob(FILES.hostilePth)))).toMatch(/^UNSAFE_PICKLE: /);
    const st = new Uint8Array(await (await fetchBlob(GOLDEN_CASES[1]!.weights)).arrayBuffer());
    expect(await code(loadWeights(st.subarray(0, st.length - 100)))).toMatch(/^SAFETENSORS: .*truncated/);
  });

  it('can be aborted', async () => {
    const ctrl = new AbortController();
    ctrl.abort();
    await expect(loadWeights(GOLDEN_CASES[0]!.weights, { fetchInit: { signal: ctrl.signal } })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });
});
