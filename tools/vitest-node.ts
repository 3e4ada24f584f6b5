/**
 * The vitest config every package's Node tests share: `src/**\/*.test.ts`, one forked process per file,
 * generous timeouts (full-size models on a 2-core machine), and `vitest-setup.ts`. A package passes only
 * what differs (`nodeTestConfig({ exclude: [...] })`).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

type TestOptions = NonNullable<ViteUserConfig['test']>;

export function nodeTestConfig(overrides: TestOptions = {}): ViteUserConfig {
  return defineConfig({
    test: {
      include: ['src/**/*.test.ts'],
      setupFiles: [fileURLToPath(new URL('./vitest-setup.ts', import.meta.url))],
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: 'forks',
      ...overrides,
    },
  });
}
