import { nodeTestConfig } from '../../tools/vitest-node.js';

// Node unit tests (pure logic: planning, resampling, weights parsing, the bundle check). The browser
// suite (*.browser.test.ts) runs in Chromium through vitest.browser.config.ts.
export default nodeTestConfig({ exclude: ['src/**/*.browser.test.ts', '**/node_modules/**'] });
