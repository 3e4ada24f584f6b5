/**
 * Weight files in Node: `.safetensors` or PyTorch `.pth` (read by core's safe unpickler), recognised
 * by content, not by extension. Release wrappers (`model`, `model_ema`, `state_dict`) are unwrapped by
 * key; a leading `module.` is stripped by the reader.
 */
import { readFile } from 'node:fs/promises';
import { CheckpointError, loadPthStateDict, readSafetensors, type StateDict } from '@dynavit/core';

export type WeightFormat = 'safetensors' | 'pth';

function sniff(bytes: Uint8Array): WeightFormat | null {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b) return 'pth'; // zip (torch ≥ 1.6)
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! <= 5) return 'pth'; // legacy pickle stream
  if (bytes.length >= 9) {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
    if (n > 1 && n < bytes.length && bytes[8] === 0x7b) return 'safetensors'; // header starts with '{'
  }
  return null;
}

export interface LoadedWeights {
  format: WeightFormat;
  tensors: StateDict;
  metadata: Record<string, string>;
}

export async function readWeightsFile(path: string, opts: { key?: string } = {}): Promise<LoadedWeights> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new CheckpointError(err.code === 'ENOENT' ? `file not found: ${path}` : `cannot read ${path}: ${err.message}`);
  }
  const format = sniff(bytes);
  if (format === 'safetensors') {
    const f = readSafetensors(bytes, path);
    return { format, tensors: f.tensors, metadata: f.metadata };
  }
  if (format === 'pth') return { format, tensors: loadPthStateDict(bytes, { ...(opts.key ? { key: opts.key } : {}), upcast: false }), metadata: {} };
  throw new CheckpointError(`${path} is neither a safetensors file nor a PyTorch checkpoint`);
}

/** Keep the keys under `prefix.` (e.g. `backbone.` of an mmseg checkpoint), with the prefix removed. */
export function subStateDict(sd: StateDict, prefix: string): StateDict {
  const p = prefix.endsWith('.') ? prefix : `${prefix}.`;
  return new Map([...sd].filter(([k]) => k.startsWith(p)).map(([k, v]) => [k.slice(p.length), v]));
}
