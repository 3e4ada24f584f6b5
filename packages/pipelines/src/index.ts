/**
 * @dynavit/pipelines — from an image to a labelled result with the official pre- and post-processing of
 * each family and variant, and the one place where a checkpoint meets a model (`assembleModel`). Runtime
 * neutral: `@dynavit/backend-node` and `@dynavit/backend-web` export `pipeline()` on top of `createPipeline`.
 */
export {
  createPipeline,
  defaultHead,
  tensorToRgb,
  type Pipeline,
  type PipelineEnvironment,
  type PipelineOptions,
  type PipelineProgress,
  type TaskResults,
  type TaskCallOptions,
  type DenseCallOptions,
  type WeightsSpec,
} from './pipeline.js';
export {
  assembleModel,
  checkBelongs,
  taskKind,
  taskForHead,
  headsFor,
  checkHead,
  DEFAULT_DENSE_TEST,
  type AssembledModel,
  type AssembleOptions,
  type LoadReport,
  type TaskKind,
} from './assemble.js';
export {
  classifyImages,
  segmentImages,
  detectImages,
  type ClassificationLabel,
  type ClassifyOptions,
  type SegmentationOutput,
  type DetectionOutput,
} from './tasks.js';
export { labelsOf, labelSetFor, labelName, classNames, classColor, type LabelSet } from './labels.js';
