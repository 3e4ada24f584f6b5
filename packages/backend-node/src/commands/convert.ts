/**
 * `dynavit convert <checkpoint.pth> <out.safetensors> [--key K] [--model NAME] [--dtype float32|float16]`:
 * read an official checkpoint safely, validate it strictly against the model (every missing,
 * unexpected and misshapen key reported at once), then write safetensors in PyTorch layout. Every float
 * tensor is written in `--dtype` (default float32: F16/BF16 checkpoints are upcast; float16: F32/BF16
 * are rounded to F16); integer tensors are kept. It prints what it wrote, per dtype. The paths are
 * checked before reading, and the output is written atomically.
 */
import { fromFloat32, InvalidArgumentError, type StateDict, toFloat32, writeSafetensors } from '@dynavit/core';
import { headForCheckpoint, isDenseCheckpoint } from '@dynavit/heads';
import { assembleModel, taskForHead } from '@dynavit/pipelines';
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
  const registry = createRegistry();
  const variant = values.model ? registry.variant(values.model).variant : undefined;
  const w = await readWeightsFile(src, {
    ...(values.key ? { key: values.key } : { preferKeys: variant?.checkpointKey ? [variant.checkpointKey] : [] }),
    ...budget,
    warn,
  });
  bar.update(1, 'read');
  let sd: StateDict = w.tensors;
  const metadata: Record<string, string> = { format: 'pt', source: src };
  if (w.key) metadata['key'] = w.key;
  if (values.model && variant) {
    await useBackend('cpu');
    // the pipelines' assembly: the official key, strict validation (one error listing every missing,
    // unexpected and misshapen key), mmseg/mmdet files with their head, another model's file refused
    const head = isDenseCheckpoint(sd) ? headForCheckpoint(sd) : null;
    const task =
      variant.kind === 'classifier' ? 'image-classification' : head ? taskForHead(head.head) : 'semantic-segmentation';
    const m = assembleModel(registry, { task, model: values.model, weights: sd, source: `${src} vs ${values.model}` });
    try {
      if (variant.kind === 'backbone' && !head) {
        // an ImageNet file for a dense backbone: its backbone tensors, without the classifier
        const fresh = new Set(m.report.fresh);
        sd = new Map(
          [...m.model.stateDict()]
            .filter(([k]) => k.startsWith('backbone.') && !fresh.has(k))
            .map(([k, t]) => [k.slice('backbone.'.length), t]),
        );
        if (m.report.dropped.length) warn(`dynavit: dropped the classifier (${m.report.dropped.join(', ')})`);
        const missing = m.report.fresh.filter((k) => k.startsWith('backbone.'));
        if (missing.length)
          warn(
            `dynavit: ${missing.length} backbone tensors are not in the file and were not written (e.g. ${missing.slice(0, 3).join(', ')})`,
          );
      } else sd = m.model.stateDict();
    } finally {
      m.dispose();
    }
    metadata['model'] = values.model;
    if (head) metadata['head'] = head.head;
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
