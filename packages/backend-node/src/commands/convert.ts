/**
 * `dynavit convert <checkpoint.pth> <out.safetensors> [--key K] [--model NAME] [--dtype float32|float16]`:
 * read an official checkpoint safely, validate it strictly against the model (every missing,
 * unexpected and misshapen key reported at once), then write safetensors in PyTorch layout.
 */
import { fromFloat32, InvalidArgumentError, type StateDict, toFloat32 } from '@dynavit/core';
import { writeSafetensorsFile } from '@dynavit/core/node';
import { progressBar } from '../progress.js';
import { createRegistry } from '../registry.js';
import { readWeightsFile } from '../weights.js';
import { type CommandContext, type CommandOptions, defineCommand } from './command.js';

const options = {
  key: { type: 'string' },
  model: { type: 'string' },
  dtype: { type: 'string', default: 'float32' },
} as const satisfies CommandOptions;

export const convertCommand = defineCommand({
  name: 'convert',
  usage:
    'convert <checkpoint.pth> <out.safetensors> [--key model|model_ema|state_dict] [--model NAME] ' +
    '[--dtype float32|float16]\n' +
    'read an official checkpoint safely, validate it strictly against a model, write safetensors',
  options,
  positionals: true,
  run: convert,
});

async function convert({ values, positionals, out, useBackend }: CommandContext<typeof options>): Promise<number> {
  const [src, dst] = positionals;
  if (!src || !dst) throw new InvalidArgumentError('convert needs <checkpoint> <out.safetensors>');
  if (values.dtype !== 'float32' && values.dtype !== 'float16')
    throw new InvalidArgumentError(`--dtype must be float32 or float16, got ${values.dtype}`);
  const bar = progressBar(3, 'convert');
  const w = await readWeightsFile(src, values.key ? { key: values.key } : {});
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
  if (values.dtype === 'float16')
    sd = new Map(
      [...sd].map(([k, t]) => [
        k,
        t.dtype === 'F32' || t.dtype === 'BF16' ? fromFloat32(toFloat32(t), t.shape, 'F16') : t,
      ]),
    );
  await writeSafetensorsFile(dst, sd, metadata);
  bar.done();
  out(
    `wrote ${sd.size} tensors (${values.dtype}) to ${dst}${values.model ? ` — validated against ${values.model}` : ''}`,
  );
  return 0;
}
