export { selectBackend, NODE_BACKENDS, isNodeBackend, type NodeBackend, type BackendChoice } from './backends.js';
export { createRegistry } from './registry.js';
export { findCases, bundledCases, runCase, checkCheckpointFixtures, type GoldenCase, type CaseResult } from './golden.js';
export { main } from './cli.js';
