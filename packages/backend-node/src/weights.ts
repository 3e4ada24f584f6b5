/**
 * Weight files in Node: `.safetensors` or PyTorch `.pth` (read by core's safe unpickler), recognised
 * by content, not by extension. Release wrappers (`model`, `model_ema`, `state_dict`) are unwrapped by
 * key; a leading `module.` is stripped by the reader. Reading is bounded by core's memory budget
 * (`maxBytes`, the CLI's `--max-memory`); non-finite values (NaN, ±Inf) are reported through `warn`.
 */
import {
  CheckpointError,
  loadPthCheckpoint,
  type ReadBudget,
  readSafetensors,
  type SafetensorsFile,
  type StateDict,
} from '@dynavit/core';
import { readInputFile } from './files.js';
import { describeNonFinite, nonFinite } from './options.js';

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
  /** `.pth`: the top-level key the state dict was read from (null: the file is a bare state dict) */
  key: string | null;
}

/** core's safetensors reader with its memory budget (`maxBytes`; core's default when absent). */
export function readSafetensorsBudgeted(bytes: Uint8Array, source: string, budget: ReadBudget = {}): SafetensorsFile {
  return readSafetensors(bytes, source, budget);
}

export interface ReadWeightsOptions extends ReadBudget {
  key?: string;
  /** without `key`: top-level keys to try first (the variant's official one, e.g. `model_ema` for GLNet-16G) */
  preferKeys?: readonly string[];
  /** told about non-finite values, one line */
  warn?: (line: string) => void;
}

export async function readWeightsFile(path: string, opts: ReadWeightsOptions = {}): Promise<LoadedWeights> {
  return readWeightsBytes(await readInputFile(path), path, opts);
}

/** `readWeightsFile` on bytes already in memory; `source` names them in messages. */
export function readWeightsBytes(bytes: Uint8Array, path: string, opts: ReadWeightsOptions = {}): LoadedWeights {
  const format = sniff(bytes);
  const budget: ReadBudget = opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes };
  let w: LoadedWeights;
  if (format === 'safetensors') {
    const f = readSafetensorsBudgeted(bytes, path, budget);
    w = { format, tensors: f.tensors, metadata: f.metadata, key: null };
  } else if (format === 'pth') {
    const pthOpts = {
      ...(opts.key ? { key: opts.key } : {}),
      ...(opts.preferKeys ? { preferKeys: opts.preferKeys } : {}),
      upcast: false,
      ...budget,
    };
    const r = loadPthCheckpoint(bytes, pthOpts);
    w = { format, tensors: r.stateDict, metadata: {}, key: r.key };
  } else throw new CheckpointError(`${path} is neither a safetensors file nor a PyTorch checkpoint`);
  if (opts.warn) {
    const bad = nonFinite(w.tensors);
    if (bad.length) opts.warn(`dynavit: warning: ${path} has ${describeNonFinite(bad)}`);
  }
  return w;
}
