/**
 * @dynavit/backend-web — dynavit in the browser: task pipelines (`pipeline()`, optionally in a Web
 * Worker), backend selection (WebGPU → WebGL → wasm), weights from the zoo, URLs (Cache Storage) and
 * files (safetensors streamed with progress, `.pth` read safely), images from any canvas-drawable
 * source with the official pre-processing, and the model factories.
 */
export { selectBackend } from './select-backend.js';
export {
  planBackends,
  probeEnvironment,
  WEB_BACKENDS,
  WASM_FILES,
  type WebBackend,
  type BackendPreference,
  type WebEnvironment,
  type WebProbe,
  type WebBackendPlan,
  type WasmFileMap,
  type SelectBackendOptions,
  type BackendChoice,
} from './backends.js';
export {
  loadWeights,
  sniffWeightsFormat,
  type WeightsSource,
  type WeightsFormat,
  type WeightsProgress,
  type LoadWeightsOptions,
  type LoadedWeights,
} from './weights.js';
export {
  readPixels,
  imageSize,
  imageToTensor,
  prepareClassification,
  prepareDense,
  type ImageSource,
} from './image.js';
export {
  resamplePixels,
  evalResizeSize,
  centerCrop,
  classificationPixels,
  type RgbImage,
  type ResampleFilter,
} from '@dynavit/core';
export { createRegistry, createModel } from './registry.js';
export { pipeline, decodeWebImage, type WebImageInput, type WebPipelineOptions } from './pipeline.js';
export { webImageDataset, type WebExample, type WebDatasetOptions } from './dataset.js';
export { IndexedDbCheckpointStore, listCheckpoints, CHECKPOINT_DB } from './checkpoint-store.js';
export {
  fetchCached,
  fetchReleaseWeb,
  listWeightsCache,
  clearWeightsCache,
  WEIGHTS_CACHE,
  type WebCacheOptions,
  type WebCachedFile,
} from './weights-cache.js';
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
export {
  createSegmentor,
  createDetector,
  prepareImage,
  Segmentor,
  Detector,
  type SegmentationResult,
  type SegHeadKind,
  type SegHeadOptions,
  type DetHeadKind,
  type DetHeadOptions,
  type Detection,
  type DetectionResult,
  type PreparedImage,
  type PrepareOptions,
} from '@dynavit/heads';
export type {
  Registry,
  BuiltModel,
  Classifier,
  DenseBackbone,
  DenseHead,
  InputConfig,
  LoadProgress,
} from '@dynavit/core';
