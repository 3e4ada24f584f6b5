import { nodeTestConfig } from '../../tools/vitest-node.js';

export default nodeTestConfig();
