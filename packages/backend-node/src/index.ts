/**
 * `@dynavit/backend-node` — tfjs backend selection in Node. Model-free: importing it loads no model
 * family and no image library. The CLI is `@dynavit/backend-node/cli` (`main`, `createRegistry`), the
 * golden-case harness `@dynavit/backend-node/testing`.
 */
export {
  autoChoice,
  type BackendChoice,
  type BackendProbe,
  isNodeBackend,
  NODE_BACKENDS,
  type NodeBackend,
  probeBackend,
  probeBackends,
  selectBackend,
  type ThreadsOption,
} from './backends.js';
export { pipeline, type NodeImageInput, type NodePipelineOptions } from './pipeline.js';
export { cacheDir, fetchRelease, fetchUrl, listCache, clearCache, releasePath } from './cache.js';
export type { CacheOptions, CachedFile, CacheListing, DownloadProgress } from './cache.js';
export type {
  Pipeline,
  PipelineOptions,
  PipelineProgress,
  TaskResults,
  ClassificationLabel,
  SegmentationOutput,
  DetectionOutput,
  LoadReport,
} from '@dynavit/pipelines';
