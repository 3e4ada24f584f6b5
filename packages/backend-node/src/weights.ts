/**
 * Weight files in Node: `.safetensors` or PyTorch `.pth` (read by core's safe unpickler), recognised
 * by content, not by extension. Release wrappers (`model`, `model_ema`, `state_dict`) are unwrapped by
 * key; a leading `module.` is stripped by the reader.
 */
import { CheckpointError, loadPthStateDict, readSafetensors, type StateDict } from '@dynavit/core';
import { readFileBytes } from '@dynavit/core/node';

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
  const bytes = await readFileBytes(path, (m) => new CheckpointError(m));
  const format = sniff(bytes);
  if (format === 'safetensors') {
    const f = readSafetensors(bytes, path);
    return { format, tensors: f.tensors, metadata: f.metadata };
  }
  if (format === 'pth')
    return {
      format,
      tensors: loadPthStateDict(bytes, { ...(opts.key ? { key: opts.key } : {}), upcast: false }),
      metadata: {},
    };
  throw new CheckpointError(`${path} is neither a safetensors file nor a PyTorch checkpoint`);
}
