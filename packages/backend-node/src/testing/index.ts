/**
 * `@dynavit/backend-node/testing` — the golden-case harness: find the cases on disk (`findCases`,
 * `bundledCases`), run one on the active backend (`runCase`), check the checkpoint fixtures
 * (`checkCheckpointFixtures`). Kept out of the main entry so that applications never load it.
 */
export * from './golden.js';
