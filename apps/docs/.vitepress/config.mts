import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DefaultTheme, defineConfig } from 'vitepress';

const root = fileURLToPath(new URL('..', import.meta.url));
const sidebarFile = `${root}api/typedoc-sidebar.json`;
// written by TypeDoc (typedoc-vitepress-theme) during the build; absent before the first build
const typedocSidebar: DefaultTheme.SidebarItem[] = existsSync(sidebarFile)
  ? JSON.parse(readFileSync(sidebarFile, 'utf8'))
  : [];
// The API sidebar lists the entry points (each entry's page lists its symbols by kind), not every symbol:
// VitePress renders the sidebar into every page, and a symbol-level sidebar (~500 links) made the
// reference ~140 MB of a 160 MB site. For the same reason the pages' metadata is a separate chunk
// (metaChunk below) instead of a ~40 kB hash map inlined into each of the ~500 pages.
const apiSidebar: DefaultTheme.SidebarItem[] = typedocSidebar.map((m) => ({ text: m.text, link: m.link }));

const guide: DefaultTheme.SidebarItem[] = [
  {
    text: 'Guide',
    items: [
      { text: 'Quick start', link: '/guide/quick-start' },
      { text: 'Getting started', link: '/guide/getting-started' },
      { text: 'Backends', link: '/guide/backends' },
      { text: 'Checkpoints', link: '/guide/checkpoints' },
      { text: 'Heads and composition', link: '/guide/heads' },
      { text: 'Swap attention', link: '/guide/swap-attention' },
      { text: 'Training', link: '/guide/training' },
      { text: 'Security', link: '/guide/security' },
    ],
  },
  {
    text: 'Attention mechanisms',
    items: [
      { text: 'DAT: deformable attention', link: '/mechanisms/dat' },
      { text: 'DeBiFormer: deformable bi-level routing', link: '/mechanisms/dbra' },
      { text: 'GLNet: GLMix slots', link: '/mechanisms/glmix' },
    ],
  },
  {
    text: 'Reference',
    items: [
      { text: 'Model zoo', link: '/zoo' },
      { text: 'Benchmarks', link: '/benchmarks' },
      { text: 'Live demo', link: '/demo' },
      { text: 'API reference', link: '/api/' },
    ],
  },
];

export default defineConfig({
  title: 'dynavit',
  description: 'Content-adaptive vision attention (DAT, DeBiFormer, GLNet) for JavaScript, in Node and the browser',
  lang: 'en-GB',
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/hero.svg' }]],
  // dead internal links fail the build (VitePress' default; never set ignoreDeadLinks)
  srcExclude: ['README.md', 'generated/**', 'test-output/**', 'data/**', 'scripts/**', 'src/**'],
  lastUpdated: false,
  metaChunk: true,
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/quick-start' },
      { text: 'Mechanisms', link: '/mechanisms/dat' },
      { text: 'Model zoo', link: '/zoo' },
      { text: 'Demo', link: '/demo' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: {
      '/api/': [{ text: 'API reference', link: '/api/' }, ...apiSidebar],
      '/': guide,
    },
    outline: { level: [2, 3] },
    search: { provider: 'local' },
    footer: { message: 'Apache-2.0. Ports of the official PyTorch code of DAT, DeBiFormer and GLMix.' },
  },
  vite: {
    // the demo's wasm binaries are imported with ?url (see theme/wasm-paths.ts); nothing else to configure
    build: { chunkSizeWarningLimit: 4096 },
    // vue is VitePress' dependency, not this package's: with pnpm's strict layout Node cannot resolve
    // it from the pre-rendering bundle, so bundle it (one copy, VitePress' own) instead of importing it
    ssr: { noExternal: ['vue', /^@vue\//, 'vue/server-renderer'] },
  },
});
