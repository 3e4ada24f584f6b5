#!/usr/bin/env node
/**
 * Consumer install test (`pnpm test:consumer`): installs the packages the way a user does and uses them.
 *
 *   1. builds every package (turbo; a cache hit when `pnpm build` already ran; `--no-build` skips it),
 *   2. `pnpm pack`s every public package under packages/ and inspects each tarball: no tests, fixtures,
 *      test helpers or browser-suite files; no `workspace:` range left; every `exports`/`main`/`types`/
 *      `bin` target and every source a source map names is in it (which also catches stale dist files),
 *   3. creates a fresh project in a temp dir outside the workspace and `npm install`s the tarballs with
 *      @tensorflow/tfjs-core, -backend-wasm, -backend-cpu, @tensorflow/tfjs (gradients), vite 7, typescript and @types/node from the
 *      registry (one copy of @dynavit/core and of tfjs-core must result),
 *   4. Node ESM: imports every entry point; builds the families into core's Registry; runs `dat_pp_tiny`
 *      on wasm on a 64×64 input (seeded weights, [1,1000] logits) and round-trips its weights through
 *      `@dynavit/core/node`; runs the installed bin (`npx dynavit doctor`, `npx dynavit info dat_pp_tiny`);
 *      type-checks a file using every entry point (strict, NodeNext, skipLibCheck false),
 *   5. the guide's code: apps/docs/snippets (the files the docs pages include with `<<<`) type-checked
 *      against the installed packages (Node snippets as NodeNext, browser ones as a Vite app compiles
 *      them), then every Node snippet compiled and run in a directory prepared by app/snippets-prepare.mjs
 *      (real photos, seeded weights as .pth and .safetensors, a weights cache holding the 'pretrained'
 *      releases they ask for, a hostile pickle), each required to exit 0 and print what it promises,
 *   6. builds a small Vite app (app/web: `@dynavit/backend-web` + `@dynavit/dat`, Vite defaults) and checks
 *      that no Node-only module (`node:*`, `fs`, …, `sharp`, `@dynavit/core/node`) is bundled or imported
 *      by dynavit code, and that tfjs-backend-wasm's binaries are emitted.
 *
 * The consumer-side files are tools/consumer/app/, copied into the project. Plain Node, no dependencies.
 * One line per check, `consumer test: N passed, N failed` last; exit status 1 on any failure. The temp dir
 * is removed at the end (`--keep` keeps it and prints where).
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const APP_FILES = fileURLToPath(new URL('./app', import.meta.url));
const argv = new Set(process.argv.slice(2));
const KEEP = argv.has('--keep');
const BUILD = !argv.has('--no-build');
const TFJS_RANGE = '^4.22.0';
const VITE_RANGE = '^7';
const TS_RANGE = '~5.9';
const TYPES_NODE_RANGE = '^20.19';

const started = performance.now();
const results = [];
const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;

/** Run one check; `fn` returns an optional note, throws on failure. */
async function check(name, fn) {
  const t0 = performance.now();
  try {
    const note = await fn();
    results.push({ name, ok: true });
    console.log(`  ok    ${name}${note ? ` — ${note}` : ''} (${seconds(performance.now() - t0)})`);
    return true;
  } catch (e) {
    results.push({ name, ok: false });
    const msg = String(e?.message ?? e)
      .trimEnd()
      .split('\n');
    console.log(`  FAIL  ${name} (${seconds(performance.now() - t0)})`);
    for (const line of msg.slice(0, 40)) console.log(`        ${line}`);
    return false;
  }
}

function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** Spawn a command; resolves { code, out } (stdout+stderr interleaved); rejects on timeout. */
function sh(cmd, args, { cwd, timeoutS = 300, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: timed out after ${timeoutS}s\n${out.slice(-4000)}`));
    }, timeoutS * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function shOk(cmd, args, opts) {
  const r = await sh(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.out.slice(-4000)}`);
  return r.out;
}

/** The entries of a .tgz: { path (without the leading `package/`), size, data }. */
function readTarball(file) {
  const buf = gunzipSync(readFileSync(file));
  const entries = [];
  let longName = null;
  for (let off = 0; off + 512 <= buf.length; ) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const str = (a, b) => header.subarray(a, b).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(str(124, 136).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 48);
    const data = buf.subarray(off + 512, off + 512 + size);
    let name = str(0, 100);
    const prefix = str(345, 500);
    if (prefix) name = `${prefix}/${name}`;
    if (longName) {
      name = longName;
      longName = null;
    }
    if (type === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
    else if (type === '0' || type === '\0') entries.push({ path: name.replace(/^[^/]+\//, ''), size, data });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** Every directory holding a copy of `name` under `dir`/node_modules, nested ones included. */
function packageCopies(dir, name, found = []) {
  const nm = join(dir, 'node_modules');
  if (!existsSync(nm)) return found;
  if (existsSync(join(nm, name, 'package.json'))) found.push(join(nm, name));
  for (const e of readdirSync(nm)) {
    if (e.startsWith('.')) continue;
    const sub = e.startsWith('@') ? readdirSync(join(nm, e)).map((s) => join(nm, e, s)) : [join(nm, e)];
    for (const d of sub) if (statSync(d).isDirectory()) packageCopies(d, name, found);
  }
  return found;
}

// --- what gets published -------------------------------------------------------------------------

const packages = readdirSync(join(ROOT, 'packages'))
  .map((d) => join(ROOT, 'packages', d))
  .filter((d) => existsSync(join(d, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private);

const FORBIDDEN =
  /(^|\/)__fixtures__\/|\.test\.|\.spec\.|\.browser\.|(^|\/)(dist|src)\/test-utils\/|(^|\/)test-output\/|\.tsbuildinfo$/;

const tmp = mkdtempSync(join(tmpdir(), 'dynavit-consumer-'));
const tarDir = join(tmp, 'tarballs');
const app = join(tmp, 'app');
mkdirSync(tarDir);
mkdirSync(app);
let cleaned = false;
function cleanup() {
  if (cleaned) return;
  cleaned = true;
  if (KEEP) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => (cleanup(), process.exit(130)));

console.log(`consumer test: ${packages.map(({ pkg }) => pkg.name).join(', ')}`);
console.log(`temp dir ${tmp}`);

async function main() {
  // 1. build
  // only what gets packed (and, through turbo's ^build, what it depends on)
  const filters = packages.map(({ pkg }) => `--filter=${pkg.name}`);
  const build = () =>
    shOk('pnpm', ['exec', 'turbo', 'run', 'build', ...filters, '--output-logs=errors-only'], {
      cwd: ROOT,
      timeoutS: 600,
    });
  if (
    BUILD &&
    !(await check(
      'build the packages (turbo run build)',
      async () => /Cached:\s+(.*)/.exec(await build())?.[1]?.trim() ?? '',
    ))
  ) {
    return 'the build failed';
  }

  // 2. pack and inspect
  const tarballs = new Map();
  const packed = await check('pnpm pack every package', async () => {
    await Promise.all(
      packages.map(({ dir }) => shOk('pnpm', ['pack', '--pack-destination', tarDir], { cwd: dir, timeoutS: 120 })),
    );
    const sizes = [];
    for (const { pkg } of packages) {
      const file = join(tarDir, `${pkg.name.replace(/^@/, '').replace('/', '-')}-${pkg.version}.tgz`);
      assert(existsSync(file), `no tarball for ${pkg.name} (${readdirSync(tarDir).join(', ')})`);
      tarballs.set(pkg.name, file);
      const entries = readTarball(file);
      const unpacked = entries.reduce((s, e) => s + e.size, 0);
      sizes.push(
        `${pkg.name.replace('@dynavit/', '')} ${(statSync(file).size / 1024).toFixed(1)} kB (${entries.length} files, ${(unpacked / 1024).toFixed(0)} kB unpacked)`,
      );
    }
    return `\n        ${sizes.join('\n        ')}`;
  });
  if (!packed) return 'packing failed';

  for (const { pkg } of packages) {
    await check(`tarball ${pkg.name}: contents`, () => {
      const entries = readTarball(tarballs.get(pkg.name));
      const paths = new Set(entries.map((e) => e.path));
      const problems = [];
      for (const p of paths) if (FORBIDDEN.test(p)) problems.push(`must not be published: ${p}`);
      const manifest = JSON.parse(entries.find((e) => e.path === 'package.json').data.toString('utf8'));
      for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies'])
        for (const [dep, range] of Object.entries(manifest[field] ?? {}))
          if (String(range).startsWith('workspace:')) problems.push(`${field}.${dep} is still ${range}`);
      const targets = [];
      const walk = (v) =>
        typeof v === 'string' ? targets.push(v) : v && typeof v === 'object' && Object.values(v).forEach(walk);
      walk(manifest.exports);
      if (manifest.main) targets.push(manifest.main);
      if (manifest.types) targets.push(manifest.types);
      for (const t of targets)
        if (!paths.has(posix.normalize(t))) problems.push(`exports/main/types target missing: ${t}`);
      for (const [bin, t] of Object.entries(
        typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {}),
      )) {
        const e = entries.find((x) => x.path === posix.normalize(t));
        if (!e) problems.push(`bin ${bin} → ${t} missing`);
        else if (!e.data.toString('utf8', 0, 20).startsWith('#!')) problems.push(`bin ${bin} → ${t} has no #! line`);
      }
      // every source a map names is shipped (also catches stale dist files whose source was moved)
      let maps = 0;
      for (const e of entries.filter((x) => x.path.endsWith('.map'))) {
        maps++;
        const map = JSON.parse(e.data.toString('utf8'));
        for (const s of map.sources ?? []) {
          const p = posix.normalize(posix.join(posix.dirname(e.path), map.sourceRoot ?? '', s));
          if (!paths.has(p))
            problems.push(`${e.path} names ${p}, not in the tarball (stale build output? rm -rf dist && pnpm build)`);
        }
      }
      if (!paths.has('README.md')) problems.push('no README.md');
      assert(problems.length === 0, problems.join('\n'));
      return `${paths.size} files, ${maps} source maps resolve`;
    });
  }

  // 3. a fresh project outside the workspace
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'dynavit-consumer', private: true, type: 'module' }, null, 2)}\n`,
  );
  const installed = await check('npm install the tarballs + tfjs, vite, typescript from the registry', async () => {
    const specs = [
      ...[...tarballs.values()].map((f) => relative(app, f)),
      `@tensorflow/tfjs-core@${TFJS_RANGE}`,
      `@tensorflow/tfjs-backend-wasm@${TFJS_RANGE}`,
      `@tensorflow/tfjs-backend-cpu@${TFJS_RANGE}`,
      `@tensorflow/tfjs@${TFJS_RANGE}`, // gradients in Node, for the training snippet
      `vite@${VITE_RANGE}`,
      `typescript@${TS_RANGE}`,
      `@types/node@${TYPES_NODE_RANGE}`,
    ];
    const out = await shOk('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
      cwd: app,
      timeoutS: 600,
    });
    const copies = ['@dynavit/core', '@tensorflow/tfjs-core'].map((n) => [n, packageCopies(app, n)]);
    for (const [n, c] of copies)
      assert(c.length === 1, `${n} installed ${c.length} times: ${c.map((d) => relative(app, d)).join(', ')}`);
    return (
      out
        .trim()
        .split('\n')
        .filter((l) => /^added/.test(l))
        .join(' ') || 'installed'
    );
  });
  if (!installed) return 'npm install failed';

  // 4. Node (the scripts and the web app are tools/consumer/app/, copied into the project)
  cpSync(APP_FILES, app, { recursive: true });
  const node = async (script, args = [], timeoutS = 120) => {
    const out = await shOk(process.execPath, [script, ...args], { cwd: app, timeoutS });
    return JSON.parse(out.trim().split('\n').at(-1));
  };

  await check('Node ESM: every entry point of every package imports', async () => {
    const entries = packages.flatMap(({ pkg }) =>
      Object.keys(pkg.exports ?? { '.': null })
        // data files (the shipped weights) are assets, not modules
        .filter((k) => k !== './package.json' && !k.endsWith('.safetensors'))
        .map((k) => (k === '.' ? pkg.name : `${pkg.name}/${k.slice(2)}`)),
    );
    const report = await node('imports.mjs', [JSON.stringify({ entries, names: packages.map(({ pkg }) => pkg.name) })]);
    return Object.entries(report)
      .map(([k, v]) => `${k.replace('@dynavit/', '')} ${v}`)
      .join(', ');
  });

  await check('Node: model packages plug into the installed @dynavit/core Registry', async () => {
    const r = await node('registry.mjs');
    return `${r.families} families, ${r.models} models`;
  });

  await check('Node: dat_pp_tiny end to end on wasm (64×64), weights round-trip via @dynavit/core/node', async () => {
    const r = await node('e2e.mjs', [], 180);
    assert(r.backend === 'wasm', `backend ${r.backend}`);
    return `logits [${r.logits}] (non-zero, finite), features ${r.features.map((s) => `[${s}]`).join(' ')}, forward ${r.forwardMs} ms, ${r.reloaded}/${r.loaded} tensors reloaded, same logits`;
  });

  await check('CLI: npx dynavit doctor', async () => {
    const out = await shOk('npx', ['--no', 'dynavit', 'doctor'], { cwd: app, timeoutS: 120 });
    const used = /would use: (\S+)/.exec(out)?.[1];
    assert(used && used !== 'none', `no backend chosen:\n${out}`);
    assert(/^\s*wasm\b.*\byes\b/m.test(out), `wasm is not available:\n${out}`);
    return `would use ${used}`;
  });

  await check('CLI: npx dynavit info dat_pp_tiny', async () => {
    const out = await shOk('npx', ['--no', 'dynavit', 'info', 'dat_pp_tiny'], { cwd: app, timeoutS: 120 });
    assert(/dat_pp_tiny/.test(out), `no model name in:\n${out}`);
    const params = /param\w*[^\d\n]{0,20}([\d.,]+(?:[ \t]?[MKG]\b)?)/i.exec(out)?.[1];
    assert(params, `no parameter count in:\n${out}`);
    return `parameters ${params.trim()}`;
  });

  await check('TypeScript: every entry point type-checks (strict, NodeNext, skipLibCheck false)', async () => {
    await shOk(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: app,
      timeoutS: 180,
    });
    const { version } = JSON.parse(readFileSync(join(app, 'node_modules', 'typescript', 'package.json'), 'utf8'));
    return `tsc ${version}, types.ts`;
  });

  // 5. the guide's code (apps/docs/snippets: the files the pages include) against the installed packages
  const snippets = join(app, 'snippets');
  cpSync(join(ROOT, 'apps', 'docs', 'snippets'), snippets, { recursive: true });
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
  const typed = await check(
    'docs snippets: every guide snippet type-checks (Node: NodeNext; browser: Vite)',
    async () => {
      for (const p of ['tsconfig.json', 'tsconfig.browser.json'])
        await shOk(process.execPath, [tsc, '-p', join('snippets', p)], { cwd: app, timeoutS: 180 });
      const count = (d) => readdirSync(join(snippets, d)).filter((f) => f.endsWith('.ts')).length;
      return `${count('node') + count('mechanisms')} Node, ${count('browser')} browser files`;
    },
  );
  if (typed)
    await check('docs snippets: every Node snippet runs (seeded weights, real photos, a filled cache)', async () => {
      const out = join(app, 'snippets-out');
      await shOk(
        process.execPath,
        [tsc, '-p', join('snippets', 'tsconfig.json'), '--noEmit', 'false', '--outDir', out],
        {
          cwd: app,
          timeoutS: 180,
        },
      );
      const work = join(app, 'snippets-work');
      const cache = join(app, 'snippets-cache');
      const fixtures = join(app, 'snippets-fixtures');
      mkdirSync(fixtures);
      for (const f of ['chelsea.png', 'coffee.jpg', 'rocket-portrait.png'])
        cpSync(join(ROOT, 'packages', 'backend-node', 'src', '__fixtures__', 'images', f), join(fixtures, f));
      cpSync(join(ROOT, 'packages', 'core', 'src', 'io', '__fixtures__', 'hostile.pth'), join(fixtures, 'hostile.pth'));
      await node('snippets-prepare.mjs', [work, cache, fixtures], 300);
      // what each snippet must print besides exiting 0 (a snippet not listed only has to exit 0)
      const EXPECT = {
        'node/quick-start.js': /label: '[^']+', index: \d+[\s\S]*\d+×\d+: \d+ classes/,
        'node/getting-started.js': /backend: wasm/,
        'node/errors.js': /refused: refusing to unpickle/,
        'node/training.js': /update 1: loss \d[\s\S]*test top-1 \d/,
        'mechanisms/dat.js': /out \[1,56,56,64\]/,
        'mechanisms/dbra.js': /out \[1,28,28,64\]/,
        'mechanisms/glmix.js': /out \[1,14,14,64\]/,
      };
      const ran = [];
      for (const dir of ['node', 'mechanisms'])
        for (const f of readdirSync(join(out, dir)).filter((x) => x.endsWith('.js'))) {
          const name = `${dir}/${f}`;
          const t0 = performance.now();
          const r = await sh(process.execPath, [join(out, dir, f)], {
            cwd: work,
            env: { DYNAVIT_CACHE: cache },
            timeoutS: 600,
          });
          assert(r.code === 0, `${name} exited ${r.code}\n${r.out.slice(-3000)}`);
          if (EXPECT[name])
            assert(EXPECT[name].test(r.out), `${name} did not print ${EXPECT[name]}:\n${r.out.slice(-3000)}`);
          ran.push(`${name.replace(/\.js$/, '')} ${seconds(performance.now() - t0)}`);
        }
      return ran.join(', ');
    });

  // 6. Vite
  await check('Vite 7 build of an app using @dynavit/backend-web + @dynavit/dat: no Node-only modules', async () => {
    const r = await node('vite-build.mjs', [], 300);
    const problems = [];
    for (const name of ['@dynavit/backend-web', '@dynavit/dat', '@dynavit/core'])
      if (!r.dynavitModules.includes(name))
        problems.push(`${name} is not in the bundle (${r.dynavitModules.join(', ')})`);
    // tfjs-backend-wasm's emscripten glue asks for fs/path/os/worker_threads/perf_hooks (seedrandom for
    // crypto) behind runtime checks; their "browser" fields map those to empty modules. dynavit may ask for none.
    if (r.requestsFromDynavit.length)
      problems.push(`dynavit code asks for Node-only modules: ${r.requestsFromDynavit.join(', ')}`);
    const bundled = r.nodeOnlyModules.filter((m) => !m.includes('__vite-browser-external'));
    if (bundled.length) problems.push(`Node-only modules bundled: ${bundled.join(', ')}`);
    const left = r.leftInCode.filter((l) => l.dynavit);
    if (left.length)
      problems.push(
        `Node-only imports left in dynavit's bundled code: ${left.map((l) => `${l.module}: ${l.code}`).join('; ')}`,
      );
    if (r.mentions.length) problems.push(r.mentions.join('; '));
    if (r.warnings.length) problems.push(`Vite warned: ${r.warnings.join(' | ')}`);
    for (const f of ['tfjs-backend-wasm', 'tfjs-backend-wasm-simd', 'tfjs-backend-wasm-threaded-simd'])
      if (!r.assets.some((a) => new RegExp(`${f}-[\\w-]+\\.wasm$`).test(a)))
        problems.push(`${f}.wasm not emitted (${r.assets.join(', ')})`);
    assert(problems.length === 0, problems.join('\n'));
    const others = [...new Set(r.requestsFromOthers.map((s) => s.split(' ← ')[1].split('/').slice(0, 2).join('/')))];
    const guarded = [
      ...new Set(
        r.leftInCode
          .filter((l) => !l.dynavit)
          .map((l) => `${l.code.replace(/^.*["'](.+)["']$/, '$1')} (${l.module.split('/').slice(0, 2).join('/')})`),
      ),
    ];
    return (
      `${r.chunks.length} chunks, ${r.assets.filter((a) => a.endsWith('.wasm')).length} wasm assets, dynavit code asks for no Node module; ` +
      `third-party: built-ins requested by ${others.join(', ') || 'nobody'} resolve to empty browser stubs, ` +
      `runtime-guarded require() left in ${guarded.join(', ') || 'none'}`
    );
  });
  return null;
}

const PLANNED = 11 + packages.length + (BUILD ? 1 : 0); // [build], pack, a check per tarball, install, 3 Node, 2 CLI, tsc, 2 snippets, Vite
let aborted = null;
try {
  aborted = await main();
} catch (e) {
  aborted = 'the harness failed';
  results.push({ name: 'consumer test harness', ok: false });
  console.log(`  FAIL  consumer test harness\n        ${e?.stack ?? e}`);
} finally {
  cleanup();
}
const missing = aborted ? Math.max(0, PLANNED - results.length) : 0;
if (missing) console.log(`  FAIL  ${missing} remaining check(s) — not run: ${aborted}`);
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed + missing;
console.log(`\nconsumer test: ${passed} passed, ${failed} failed (${seconds(performance.now() - started)})`);
process.exitCode = failed === 0 ? 0 : 1;
