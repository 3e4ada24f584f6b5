/// <reference types="@vitest/browser/providers/playwright" />
/**
 * The browser suite: vitest browser mode driving a real Chromium (Debian's /usr/bin/chromium, or
 * $DYNAVIT_CHROMIUM) through Playwright, headless, with WebGPU on SwiftShader (Vulkan on the CPU), so
 * it needs no display and no GPU. Playwright gives every launch a fresh temporary profile
 * (--user-data-dir) and deletes it afterwards; it refuses a --user-data-dir argument of our own.
 * Golden files are served from the packages that vendor them (Vite's fs.allow covers the repo).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// executable and flags shared by every browser test (tools/chromium.json)
const chromiumConfig = JSON.parse(readFileSync(new URL('../../tools/chromium.json', import.meta.url), 'utf8')) as {
  executable: string;
  args: string[];
};
const chromium = process.env['DYNAVIT_CHROMIUM'] ?? chromiumConfig.executable;
const packagesDir = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  server: { fs: { allow: [packagesDir] } },
  // pre-bundle up front: a dependency discovered mid-run would make Vite reload the test page
  optimizeDeps: {
    include: [
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-core/dist/register_all_gradients.js',
      '@tensorflow/tfjs-backend-webgpu',
      '@tensorflow/tfjs-backend-webgl',
      '@tensorflow/tfjs-backend-wasm',
    ],
  },
  test: {
    include: ['src/**/*.browser.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    // one file at a time: the files share 2 CPU cores and one emulated GPU, and the timings are reported
    fileParallelism: false,
    browser: {
      enabled: true,
      provider: 'playwright',
      headless: true,
      screenshotFailures: false,
      instances: [
        {
          browser: 'chromium',
          launch: {
            executablePath: chromium,
            args: chromiumConfig.args,
          },
        },
      ],
    },
  },
});
