/**
 * TypeDoc plugin: doc comments are written for code readers, and code-like text such as
 * `stages[i](downsample_layers[i](x))` reads as a Markdown link `[i](…)` — a dead link that fails the
 * VitePress build. Escape `[…](` in plain comment text unless the target looks like a link (a URL,
 * a path, an anchor). Code spans and inline tags are left alone.
 */
import { Converter } from 'typedoc';

const PSEUDO_LINK = /\[([^\]\n]*)\]\((?![a-z][a-z0-9+.-]*:|\/|\.|#)/gi;

function fixParts(parts) {
  for (const p of parts ?? [])
    if (p.kind === 'text') p.text = p.text.replace(PSEUDO_LINK, (_, inner) => `\\[${inner}\\](`);
}

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    for (const r of Object.values(context.project.reflections)) {
      const c = r.comment;
      if (!c) continue;
      fixParts(c.summary);
      for (const t of c.blockTags ?? []) fixParts(t.content);
    }
  });
}
