/**
 * `dynavit convert <checkpoint.pth> <out.safetensors> [--key K] [--model NAME] [--dtype float32|float16]`:
 * read an official checkpoint safely, validate it strictly against the model (every missing,
 * unexpected and misshapen key reported at once), then write safetensors in PyTorch layout. Every float
 * tensor is written in `--dtype` (default float32: F16/BF16 checkpoints are upcast; float16: F32/BF16
 * are rounded to F16); integer tensors are kept. It prints what it wrote, per dtype. The paths are
 * checked before reading, and the output is written atomically.
 */
import { fromFloat32, InvalidArgumentError, type StateDict, toFloat32, writeSafetensors } from '@dynavit/core';
import { checkInputFile, checkOutputFile, writeFileAtomic } from '../files.js';
import { maxMemory } from '../options.js';
import { progressBar } from '../progress.js';
import { createRegistry } from '../registry.js';
import { readWeightsFile } from '../weights.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';

const options = {
  key: { type: 'string' },
  model: { type: 'string' },
  dtype: { type: 'string', default: 'float32' },
  'max-memory': { type: 'string' },
} as const satisfies CommandOptions;

export const convertCommand = defineCommand({
  name: 'convert',
  usage:
    'convert <checkpoint.pth> <out.safetensors> [--key model|model_ema|state_dict] [--model NAME] ' +
    '[--dtype float32|float16] [--max-memory MiB]\n' +
    'read an official checkpoint safely, validate it strictly against a model, write safetensors',
  options,
  positionals: true,
  run: convert,
});

const FLOATS = new Set<string>(['F64', 'F32', 'F16', 'BF16']);
const DTYPE_NAMES: Record<string, string> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

/** "float32" or "float32: 120, int64: 3" — the dtypes actually written. */
function dtypeSummary(sd: StateDict): string {
  const counts = new Map<string, number>();
  for (const t of sd.values()) counts.set(t.dtype, (counts.get(t.dtype) ?? 0) + 1);
  const name = (d: string) => DTYPE_NAMES[d] ?? d;
  if (counts.size === 1) return name([...counts.keys()][0]!);
  return [...counts].map(([d, n]) => `${name(d)}: ${n}`).join(', ');
}

async function convert({
  values,
  positionals,
  out,
  warn,
  useBackend,
}: CommandContext<typeof options>): Promise<number> {
  const [src, dst] = positionals;
  if (!src || !dst) throw new InvalidArgumentError('convert needs <checkpoint> <out.safetensors>');
  if (values.dtype !== 'float32' && values.dtype !== 'float16')
    throw new InvalidArgumentError(`--dtype must be float32 or float16, got ${values.dtype}`);
  const budget = maxMemory(values['max-memory']);
  if (values.model) createRegistry().variant(values.model); // an unknown name fails here, before reading
  await checkInputFile(src);
  await checkOutputFile(dst);
  const bar = progressBar(3, 'convert');
  const w = await readWeightsFile(src, { ...(values.key ? { key: values.key } : {}), ...budget, warn });
  bar.update(1, 'read');
  let sd: StateDict = w.tensors;
  const metadata: Record<string, string> = { format: 'pt', source: src };
  if (values.model) {
    await useBackend('cpu');
    const model = createRegistry().createModel(values.model);
    try {
      // strict: one error listing every missing, unexpected and misshapen key
      model.loadStateDict(sd, { strict: true, source: `${src} vs ${values.model}` });
      sd = model.stateDict();
    } finally {
      model.dispose();
    }
    metadata['model'] = values.model;
    bar.update(2, 'validated');
  }
  const target: 'F32' | 'F16' = values.dtype === 'float16' ? 'F16' : 'F32';
  sd = new Map(
    [...sd].map(([k, t]) => [
      k,
      FLOATS.has(t.dtype) && t.dtype !== target ? fromFloat32(toFloat32(t), t.shape, target) : t,
    ]),
  );
  await writeFileAtomic(dst, writeSafetensors(sd, metadata));
  bar.done();
  out(
    `wrote ${sd.size} tensors (${dtypeSummary(sd)}) to ${dst}${values.model ? ` — validated against ${values.model}` : ''}`,
  );
  return 0;
}
