/**
 * `dynavit pull <model|release…> [--task T] [--head H]`: download released checkpoints into the cache
 * (resuming a cut download, recording the sha256), so later runs work offline; and
 * `dynavit cache list|clear [ENTRY]`: what the cache holds, and removing it.
 */
import { InvalidArgumentError, PIPELINE_TASKS, type PipelineTask, type PretrainedCheckpoint } from '@dynavit/core';
import { cacheDir, clearCache, fetchRelease, listCache } from '../cache.js';
import { progressBar } from '../progress.js';
import { createRegistry } from '../registry.js';
import { formatTable } from '../table.js';
import { defineCommand } from './command.js';

const MiB = 2 ** 20;
const size = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

/** A release id, or a model name (its default release; `--task`/`--head` choose among several). */
export function resolveRelease(name: string, task?: string, head?: string): PretrainedCheckpoint {
  const registry = createRegistry();
  if (task !== undefined && !(PIPELINE_TASKS as readonly string[]).includes(task))
    throw new InvalidArgumentError(`--task must be one of ${PIPELINE_TASKS.join(', ')}, got "${task}"`);
  const byId = registry.pretrained().find((e) => e.id === name);
  if (byId && task === undefined && head === undefined) return byId;
  return registry.findPretrained({
    model: name,
    ...(task !== undefined ? { task: task as PipelineTask } : {}),
    ...(head !== undefined ? { head } : {}),
  });
}

export const pullCommand = defineCommand({
  name: 'pull',
  usage:
    'pull <model|release…> [--task T] [--head H]\n' +
    'download released checkpoints into the cache ($DYNAVIT_CACHE, $XDG_CACHE_HOME/dynavit or ~/.cache/dynavit)',
  options: { task: { type: 'string' }, head: { type: 'string' } },
  positionals: true,
  async run({ values, positionals, out }) {
    if (positionals.length === 0)
      throw new InvalidArgumentError('pull needs a model or release id (dynavit list --pretrained)');
    const releases = positionals.map((n) => resolveRelease(n, values.task, values.head));
    for (const r of releases) {
      const bar = progressBar(100, `pull ${r.id}`);
      const f = await fetchRelease(r, {
        onProgress: (p) => {
          if (p.total) bar.update(Math.floor((100 * p.loaded) / p.total), size(p.loaded));
        },
      });
      bar.done();
      out(`${r.id}: ${f.cached ? 'already cached' : 'downloaded'} ${f.path} (${size(f.size)}, sha256 ${f.sha256})`);
    }
    return 0;
  },
});

export const cacheCommand = defineCommand({
  name: 'cache',
  usage: 'cache list|clear [ENTRY]\nlist the weights cache, or remove one entry (a release id or url-…) or all of it',
  options: {},
  positionals: true,
  async run({ positionals, out }) {
    const [action, entry, ...extra] = positionals;
    if (extra.length) throw new InvalidArgumentError(`cache takes at most one entry, got ${positionals.length - 1}`);
    const dir = cacheDir();
    if (action === 'list') {
      if (entry !== undefined) throw new InvalidArgumentError('cache list takes no entry');
      const rows = await listCache(dir);
      out(`cache: ${dir}`);
      if (rows.length === 0) {
        out('(empty)');
        return 0;
      }
      out(
        formatTable(
          ['entry', 'file', 'size', 'sha256', 'source'],
          rows.map((r) => [
            r.entry,
            r.file,
            size(r.size),
            r.partial ? '(partial download)' : (r.sha256?.slice(0, 16) ?? '?'),
            r.url,
          ]),
        ),
      );
      return 0;
    }
    if (action === 'clear') {
      const freed = await clearCache(entry, dir);
      out(`removed ${entry ?? 'everything'} from ${dir} (${size(freed)})`);
      return 0;
    }
    throw new InvalidArgumentError(
      `cache needs list or clear, got ${action === undefined ? 'nothing' : `"${action}"`}`,
    );
  },
});
