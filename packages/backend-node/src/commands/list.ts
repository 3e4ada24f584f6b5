/** `dynavit list`: every registered model, its family, kind and parameter count. */
import { createRegistry } from '../registry.js';
import { formatTable } from '../table.js';
import { defineCommand } from './command.js';

export const listCommand = defineCommand({
  name: 'list',
  usage: 'list\nevery registered model',
  options: {},
  run({ out }) {
    const rows = createRegistry()
      .listModels()
      .map((m) => [m.name, m.family, m.kind, m.params.toLocaleString('en-US')]);
    out(formatTable(['model', 'family', 'kind', 'params'], rows));
    return 0;
  },
});
