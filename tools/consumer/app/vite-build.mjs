// Production build of ./web with Vite's defaults (no config file), recording who asks for a Node-only
// module (an observer: it changes nothing). Last line: JSON the runner checks.
import { builtinModules } from 'node:module';
import { build, createLogger } from 'vite';

const BUILTIN = `(?:${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})(?:\\/[^"']*)?`;
const NODE_ONLY = new RegExp(`^(?:node:|sharp$|@dynavit/core/node$|${BUILTIN}$)`);
// an import/require of a Node built-in, sharp or core's Node entry left in the emitted JS
const LEFT_IN_CODE = new RegExp(
  `(?:\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\brequire\\s*\\(\\s*|\\bimport\\s*)["'](node:[^"']+|sharp|@dynavit/core/node|${BUILTIN})["']`,
  'g',
);
const DYNAVIT = /[/\\]@dynavit[/\\]/;
const short = (p) => p.replace(/^.*node_modules[/\\]/, '');

const warnings = [];
const logger = createLogger('warn');
logger.warn = (m) => void warnings.push(m);
logger.warnOnce = (m) => void warnings.push(m);
const requests = [];
const observer = {
  name: 'observe-node-imports',
  enforce: 'pre',
  resolveId(source, importer) {
    if (NODE_ONLY.test(source)) requests.push({ source, importer: importer ?? '' });
    return null;
  },
};

const res = await build({
  root: 'web',
  configFile: false,
  logLevel: 'warn',
  customLogger: logger,
  plugins: [observer],
  build: { outDir: 'dist', emptyOutDir: true, reportCompressedSize: false },
});
const outputs = (Array.isArray(res) ? res : [res]).flatMap((o) => ('output' in o ? o.output : []));
const chunks = outputs.filter((o) => o.type === 'chunk');
const modules = chunks.flatMap((c) => Object.keys(c.modules));
console.log(
  JSON.stringify({
    chunks: chunks.map((c) => `${c.fileName} ${Math.round(c.code.length / 1024)} kB`),
    assets: outputs.filter((o) => o.type === 'asset').map((o) => o.fileName),
    dynavitModules: [
      ...new Set(modules.filter((m) => DYNAVIT.test(m)).map((m) => short(m).split(/[/\\]/).slice(0, 2).join('/'))),
    ],
    nodeOnlyModules: modules
      .filter((m) => /(^|[/\\])node:|browser-external|core[/\\]dist[/\\]node\.js|[/\\]sharp[/\\]/.test(m))
      .map(short),
    requestsFromDynavit: requests
      .filter((r) => DYNAVIT.test(r.importer))
      .map((r) => `${r.source} ← ${short(r.importer)}`),
    requestsFromOthers: [
      ...new Set(requests.filter((r) => !DYNAVIT.test(r.importer)).map((r) => `${r.source} ← ${short(r.importer)}`)),
    ],
    // per bundled module, from its rendered code: dynavit's must hold none; third-party ones are listed
    leftInCode: chunks.flatMap((c) =>
      Object.entries(c.modules).flatMap(([id, m]) =>
        [...(m.code ?? '').matchAll(LEFT_IN_CODE)].map((x) => ({
          module: short(id),
          code: x[0],
          dynavit: DYNAVIT.test(id),
        })),
      ),
    ),
    mentions: chunks.flatMap((c) =>
      ['@dynavit/core/node', 'sharp'].filter((s) => c.code.includes(s)).map((s) => `${c.fileName} mentions ${s}`),
    ),
    warnings: warnings.filter((w) => /externalized for browser compatibility|sourcemap|could not be resolved/i.test(w)),
  }),
);
