/**
 * `dynavit info <model> [--size N]`: parameters, feature info, and MACs ("FLOPs" as the papers count
 * them) at N×N (default: the size the model was evaluated at).
 */
import * as tf from '@tensorflow/tfjs-core';
import { countMacs } from '@dynavit/core';
import { attentionOption, describeOverrides } from '../attention-option.js';
import { headError, imageForward } from '../models.js';
import { checkMinSize, checkSize, FORWARD_MAX_MEGAPIXELS, maxPixels, positiveInt } from '../options.js';
import { createRegistry } from '../registry.js';
import { formatTable } from '../table.js';
import { defineCommand, UsageError } from './command.js';

export const infoCommand = defineCommand({
  name: 'info',
  usage:
    'info <model> [--size N] [--attention STAGE=NAME,…]\n' +
    'parameters, feature info, and MACs ("FLOPs" as the papers count them) at N×N' +
    ' (N×N within --max-megapixels, default 4)',
  options: { size: { type: 'string' }, attention: { type: 'string' }, 'max-megapixels': { type: 'string' } },
  positionals: true,
  backend: { default: 'auto' },
  async run({ values, positionals, out, useBackend }) {
    const name = positionals[0];
    if (!name) throw new UsageError('info needs a model name (see `dynavit list`)');
    const registry = createRegistry();
    const { family, variant } = registry.variant(name);
    if (variant.kind === 'head' && values.size !== undefined) throw headError(name);
    // --size is checked before any backend or model: a positive integer within the pixel budget
    const size = values.size === undefined ? (variant.input?.size[0] ?? null) : positiveInt('size', values.size, 0);
    if (size !== null) checkSize(size, 1, maxPixels(values['max-megapixels'], FORWARD_MAX_MEGAPIXELS));
    const attention = attentionOption(values.attention, registry, name);
    out(`${name} (${family.packageName}, ${variant.kind})`);
    out(`source: ${variant.source}`);
    if (attention)
      out(`attention: ${describeOverrides(attention)} (a hybrid: the swapped mechanisms are freshly initialised)`);
    await useBackend();
    const model = registry.createModel(name, attention ? { attention } : {});
    try {
      out(`parameters: ${model.parameterCount().toLocaleString('en-US')}`);
      if (model.kind === 'head') {
        const levels = model.inChannels.join(', ');
        out(`${model.task} head, ${model.numClasses} classes, on feature maps of ${levels} channels`);
        return 0;
      }
      if (size !== null) {
        checkMinSize(name, size, model.minInputSize);
        const forward = imageForward(name, model);
        const x = tf.zeros([1, size, size, 3]) as tf.Tensor4D;
        const { result, macs } = countMacs(() => forward(x));
        tf.dispose([x, result]);
        out(
          `MACs at ${size}×${size}: ${(macs / 1e9).toFixed(2)} G ` +
            '(convs, linears and attention products; the papers call these FLOPs)',
        );
      }
      const rows = model.featureInfo.map((f, i) => [String(i), String(f.channels), String(f.reduction), f.module]);
      out(formatTable(['feature', 'channels', 'reduction', 'module'], rows));
    } finally {
      model.dispose();
    }
    return 0;
  },
});
