import { nodeTestConfig } from '../../tools/vitest-node.js';

// the site tests drive Chromium against a built site: longer than a package's
export default nodeTestConfig({ testTimeout: 180_000, hookTimeout: 600_000 });
