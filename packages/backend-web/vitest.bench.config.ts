/**
 * The browser benchmark (src/bench.browser.ts) in the browser suite's Chromium: run by hand through
 * `pnpm bench:browser`, never by `pnpm test` (timings are not tests).
 */
import { defineConfig } from 'vitest/config';
import browser from './vitest.browser.config.js';

export default defineConfig({ ...browser, test: { ...browser.test, include: ['src/bench.browser.ts'] } });
