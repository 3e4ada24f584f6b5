#!/usr/bin/env node
/**
 * Build-time preparation of the docs site (no network):
 *  - copies the demo's assets into public/demo/: the reduced golden weights of each family (random test
 *    weights, not trained ones), the trained weights that ship with the family packages (`bundled`
 *    releases: dat_fmnist, debi_fmnist, glnet_fmnist), the CC0 test image, and the label sets;
 *  - writes the generated Markdown partials under generated/: the model-zoo tables (from the registry
 *    listing, the counted MACs, the papers' numbers and the parity status) and the benchmark chart
 *    (from data/bench.json);
 *  - writes one TypeDoc entry file per package export under generated/typedoc-entries/ (TypeDoc then
 *    documents exactly what `import … from '@dynavit/…'` gives).
 * Needs this package's `tsc` output (dist/) and the other packages' builds.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { dbra } from '@dynavit/dbra';
import { glmix } from '@dynavit/glmix';
import { heads } from '@dynavit/heads';
import {
  discoverApiEntries,
  parseBenchData,
  parseGpuRun,
  renderBenchCharts,
  renderBenchProfiles,
  renderScalingCharts,
  renderScalingTable,
  renderBenchTable,
  renderGpuBenchTable,
  renderGpuKernelShare,
  renderModelZoo,
  renderModelZooByFamily,
  renderParity,
  renderReleases,
} from '../dist/index.js';

const docs = fileURLToPath(new URL('..', import.meta.url));
const repo = join(docs, '..', '..');
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const write = (p, text) => {
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
};

// ---- demo assets -------------------------------------------------------------------------------------
const assets = [
  ['packages/dat/src/__fixtures__/golden/dat_pp_reduced.weights.safetensors', 'dat_pp_reduced.weights.safetensors'],
  [
    'packages/dbra/src/__fixtures__/golden/cls_tiny_reduced.weights.safetensors',
    'dbra_cls_tiny_reduced.weights.safetensors',
  ],
  [
    'packages/glmix/src/__fixtures__/golden/g_reduced_96x128.weights.safetensors',
    'glmix_g_reduced_96x128.weights.safetensors',
  ],
  ['packages/backend-node/src/__fixtures__/images/coffee.jpg', 'coffee.jpg'],
];
const pub = join(docs, 'public', 'demo');
rmSync(pub, { recursive: true, force: true });
for (const [from, to] of assets) {
  const src = join(repo, from);
  if (!existsSync(src)) throw new Error(`prepare: ${from} is missing (the demo bundles it)`);
  mkdirSync(dirname(join(pub, to)), { recursive: true });
  copyFileSync(src, join(pub, to));
}

// the weights trained by dynavit that ship with the family packages (the demo's trained models, "teach it")
const registry = new Registry().use(dat).use(dbra).use(glmix).use(heads);
for (const e of registry.pretrained().filter((x) => x.bundled)) {
  const src = fileURLToPath(e.urls[0]);
  if (!existsSync(src)) throw new Error(`prepare: ${src} is missing (the bundled weights of ${e.id})`);
  copyFileSync(src, join(pub, e.file));
}

// ---- model zoo ---------------------------------------------------------------------------------------
const macs = readJson(join(docs, 'data', 'macs.json'));
const extras = {
  gmacs: macs.gmacs,
  macsSize: macs.sizes ?? {},
  papers: readJson(join(docs, 'data', 'papers.json')).models,
  parity: readJson(join(docs, 'data', 'parity.json')),
};
const listing = registry.listModels();
const known = new Set(listing.map((m) => m.name));
for (const name of Object.keys(extras.gmacs))
  if (!known.has(name))
    throw new Error(`prepare: data/macs.json names ${name}, which is not registered (re-run scripts/count-macs.mjs)`);
const missingMacs = listing.filter((m) => m.kind !== 'head' && extras.gmacs[m.name] === undefined).map((m) => m.name);
if (missingMacs.length)
  console.warn(`prepare: no counted MACs for ${missingMacs.join(', ')} (run scripts/count-macs.mjs)`);
write(
  join(docs, 'generated', 'zoo.md'),
  `${renderModelZooByFamily(listing, extras, [
    { family: 'dat', title: 'DAT / DAT++ (`@dynavit/dat`)' },
    { family: 'dbra', title: 'DeBiFormer (`@dynavit/dbra`)' },
    { family: 'glmix', title: 'GLNet (`@dynavit/glmix`)' },
    { family: 'heads', title: 'Dense-prediction heads (`@dynavit/heads`)' },
  ])}\n`,
);

// the released checkpoints, one table per family (the families' `pretrained` tables)
write(
  join(docs, 'generated', 'releases.md'),
  `${[
    ['dat', 'DAT++'],
    ['dbra', 'DeBiFormer'],
    ['glmix', 'GLNet'],
  ]
    .map(([family, title]) => {
      const f = registry.families().find((x) => x.name === family);
      return `### ${title}\n\n${renderReleases(f?.pretrained ?? [])}`;
    })
    .join('\n\n')}\n`,
);

// one table per family for the mechanism pages
for (const family of ['dat', 'dbra', 'glmix', 'heads'])
  write(
    join(docs, 'generated', `zoo-${family}.md`),
    `${renderParity(family, extras)}\n\n${renderModelZoo(
      listing.filter((m) => m.family === family),
      extras,
    )}\n`,
  );

// ---- benchmarks ----------------------------------------------------------------------------------------
const bench = parseBenchData(readJson(join(docs, 'data', 'bench.json')));
write(join(docs, 'generated', 'bench-chart.md'), `${renderBenchCharts(bench, macs.gmacs)}\n`);
write(join(docs, 'generated', 'bench-table.md'), `${renderBenchTable(bench, macs.gmacs)}\n`);
write(join(docs, 'generated', 'bench-profiles.md'), `${renderBenchProfiles(bench)}\n`);
write(
  join(docs, 'generated', 'bench-scaling.md'),
  `${renderScalingCharts(bench.scaling ?? [])}\n\n${renderScalingTable(bench.scaling ?? [])}\n\n${bench.scalingNote ?? ''}\n`,
);

const gpu = parseGpuRun(readJson(join(docs, 'data', 'gpu-h200-2026-12-04.json')));
write(
  join(docs, 'generated', 'bench-gpu.md'),
  `${renderGpuBenchTable(gpu)}\n\nGPU time against wall time (\`--profile\`):\n\n${renderGpuKernelShare(gpu)}\n`,
);

// ---- TypeDoc entry points --------------------------------------------------------------------------------
const ABOUT = {
  '@dynavit/backend-node/cli':
    'The `dynavit` command line: `main(argv)`, the table of commands, and the registry of every family it uses. `dynavit --help` lists the commands.',
  '@dynavit/core/node':
    'Node-only file helpers: read and write weight files from disk (kept out of the main entry so browser bundles never see `node:fs`).',
  '@dynavit/dat':
    'DAT / DAT++ — deformable attention (Xia et al., CVPR 2022; DAT++ arXiv:2309.01430): classifiers, dense backbones, the deformable and neighbourhood attentions. How it works: [Deformable attention](/mechanisms/dat).',
  '@dynavit/dbra':
    'DeBiFormer — deformable bi-level routing attention (BRA and DBRA): classifiers and segmentation/detection backbones. How it works: [Deformable bi-level routing](/mechanisms/dbra).',
  '@dynavit/glmix':
    'GLNet / GLMix (Zhu et al., NeurIPS 2024): convolutions on the grid, attention among soft-clustered slots. How it works: [GLMix](/mechanisms/glmix).',
  '@dynavit/heads':
    'Dense-prediction heads as the papers used them (mmdetection 2.x / mmsegmentation 0.x): FPN, Semantic FPN, UperNet, Mask R-CNN, RetinaNet, composed with any backbone. See [Heads](/guide/heads).',
};
const entriesDir = join(docs, 'generated', 'typedoc-entries');
rmSync(entriesDir, { recursive: true, force: true });
for (const e of discoverApiEntries(repo)) {
  if (!existsSync(e.dts))
    throw new Error(`prepare: ${relative(repo, e.dts)} is missing: build the packages first (pnpm build)`);
  const file = join(entriesDir, `${e.module.replace(/^@/, '').replace(/\//g, '__')}.ts`);
  const spec = relative(entriesDir, e.dts)
    .replace(/\\/g, '/')
    .replace(/\.d\.ts$/, '.js');
  const about = ABOUT[e.module] ?? e.description ?? '';
  write(file, `/**\n * ${about.replace(/\*\//g, '*\\/')}\n *\n * @module ${e.module}\n */\nexport * from '${spec}';\n`);
}
console.log(
  `prepare: ${assets.length} demo assets, zoo (${listing.length} models), bench chart (${bench.results.length} results), TypeDoc entries`,
);
