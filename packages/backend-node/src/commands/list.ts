/** `dynavit list [--pretrained]`: every registered model (family, kind, parameters), or every released checkpoint. */
import { createRegistry } from '../registry.js';
import { formatTable } from '../table.js';
import { defineCommand } from './command.js';

export const listCommand = defineCommand({
  name: 'list',
  usage:
    'list [--pretrained | --attention]\nevery registered model; with --pretrained every released checkpoint ' +
    '(dynavit pull ID downloads one); with --attention every attention mechanism a stage can swap in',
  options: { pretrained: { type: 'boolean', default: false }, attention: { type: 'boolean', default: false } },
  run({ values, out }) {
    const registry = createRegistry();
    if (values.attention) {
      const rows = [...registry.attentionMechanisms().values()].map((m) => [
        m.name,
        m.packageName,
        m.constraints,
        m.description,
      ]);
      out(formatTable(['mechanism', 'package', 'constraints', 'what'], rows));
      out(
        "swap with --attention STAGE=NAME (info, bench, run) or createModel(name, { attention: { 2: 'dbra.dbra' } })",
      );
      return 0;
    }
    if (values.pretrained) {
      const rows = registry
        .pretrained()
        .map((e) => [
          e.id,
          e.task,
          e.dataset,
          e.metrics.map((m) => `${m.name} ${m.value}`).join(', '),
          e.head?.startsWith('unsupported:')
            ? 'head not implemented'
            : e.bundled
              ? 'bundled'
              : e.urls.length
                ? 'direct'
                : 'by hand',
        ]);
      out(formatTable(['release', 'task', 'dataset', 'metric (paper)', 'download'], rows));
      return 0;
    }
    const rows = registry.listModels().map((m) => [m.name, m.family, m.kind, m.params.toLocaleString('en-US')]);
    out(formatTable(['model', 'family', 'kind', 'params'], rows));
    return 0;
  },
});
