import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '@dynavit/core';
import { loadWeights, sniffWeightsFormat, type WeightsProgress } from './weights.js';

const core = (f: string) =>
  new Uint8Array(readFileSync(new URL(`../../core/src/io/__fixtures__/${f}`, import.meta.url)));

describe('sniffWeightsFormat', () => {
  it('recognises safetensors, zip and legacy checkpoints from the first bytes', () => {
    const st = writeSafetensors({ a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } });
    expect(sniffWeightsFormat(st.subarray(0, 16))).toBe('safetensors');
    expect(sniffWeightsFormat(core('heads_maskrcnn_small.pth').subarray(0, 16))).toBe('pth');
    expect(sniffWeightsFormat(core('dbra_cls_tiny_reduced.legacy.pth').subarray(0, 16))).toBe('pth');
  });
  it('names what it got instead', () => {
    expect(() => sniffWeightsFormat(new TextEncoder().encode('  <!DOCTYPE html>'), 'x.pth')).toThrow(
      /x\.pth: got HTML/,
    );
    expect(() => sniffWeightsFormat(new Uint8Array(0))).toThrow(/empty file/);
    expect(() => sniffWeightsFormat(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0]))).toThrow(
      /first bytes de ad be ef/,
    );
  });
});

describe('loadWeights (Node: Blob and bytes)', () => {
  it('streams a Blob with progress and parses it', async () => {
    const bytes = writeSafetensors(
      { w: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) } },
      { note: 'hi' },
    );
    const events: WeightsProgress[] = [];
    const w = await loadWeights(new Blob([new Uint8Array(bytes)]), { onProgress: (p) => events.push(p) });
    expect(w).toMatchObject({ format: 'safetensors', byteLength: bytes.length, metadata: { note: 'hi' } });
    expect(Array.from(w.tensors.get('w')!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(events.map((e) => e.status)).toEqual(['initiate', 'progress', 'done', 'ready']);
    expect(events[1]).toMatchObject({ loaded: bytes.length, total: bytes.length, progress: 1 });
  });
  it('reads a .pth from bytes with a key, and a forced format', async () => {
    const sd = await loadWeights(core('heads_maskrcnn_small.pth'), { key: 'state_dict' });
    expect(sd.format).toBe('pth');
    expect(sd.tensors.size).toBeGreaterThan(0);
    await expect(loadWeights(core('heads_maskrcnn_small.pth'), { format: 'safetensors' })).rejects.toMatchObject({
      code: 'SAFETENSORS',
    });
  });
});
