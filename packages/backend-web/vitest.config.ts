import { defineConfig } from 'vitest/config';

// Node unit tests (pure logic: planning, resampling, weights parsing, the bundle check). The browser
// suite (*.browser.test.ts) runs in Chromium through vitest.browser.config.ts.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    exclude: ['src/**/*.browser.test.ts', '**/node_modules/**'],
    setupFiles: ['../../tools/vitest-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
