// One-off scaffold helper kept for adding packages: writes package.json/tsconfig files for a package.
import { writeFileSync, mkdirSync } from 'node:fs';
const [dir, name, desc, depsJson, peersJson, devJson, extraJson] = process.argv.slice(2);
const pkg = {
  name,
  version: '0.0.0',
  description: desc,
  type: 'module',
  license: 'Apache-2.0',
  sideEffects: false,
  exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' }, './package.json': './package.json' },
  main: './dist/index.js',
  types: './dist/index.d.ts',
  files: ['dist', '!dist/**/*.test.*', 'README.md'],
  scripts: {
    build: 'tsc -p tsconfig.build.json',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    lint: 'biome lint src',
    test: 'vitest run',
  },
  dependencies: JSON.parse(depsJson || '{}'),
  peerDependencies: JSON.parse(peersJson || '{}'),
  devDependencies: JSON.parse(devJson || '{}'),
  ...JSON.parse(extraJson || '{}'),
};
for (const k of ['dependencies', 'peerDependencies', 'devDependencies'])
  if (Object.keys(pkg[k]).length === 0) delete pkg[k];
mkdirSync(dir + '/src', { recursive: true });
writeFileSync(dir + '/package.json', JSON.stringify(pkg, null, 2) + '\n');
writeFileSync(
  dir + '/tsconfig.json',
  JSON.stringify(
    {
      extends: '../../tsconfig.base.json',
      compilerOptions: { rootDir: 'src', outDir: 'dist', types: ['node'] },
      include: ['src'],
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(
  dir + '/tsconfig.build.json',
  JSON.stringify({ extends: './tsconfig.json', exclude: ['src/**/*.test.ts', 'src/**/__fixtures__/**'] }, null, 2) +
    '\n',
);
writeFileSync(
  dir + '/vitest.config.ts',
  `import { defineConfig } from 'vitest/config';\n\nexport default defineConfig({ test: { include: ['src/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000, pool: 'forks' } });\n`,
);
