export {
  heads,
  variants,
  headTypeOf,
  headFromConfig,
  segmentationHeadFromConfig,
  type HeadModel,
  type HeadType,
  type HeadsFamily,
  type HeadVariantName,
  type HeadOfficialConfig,
} from './heads.js';
export { ConvModule, type ConvModuleOptions } from './conv-module.js';
export { FPN, type FPNConfig, type ExtraConvs } from './fpn.js';
export {
  DecodeHead,
  FPNHead,
  UPerHead,
  FCNHead,
  type DecodeHeadConfig,
  type SemanticFPNHeadConfig,
  type UPerHeadConfig,
  type FCNHeadConfig,
} from './seg-heads.js';
export {
  createSegmentor,
  Segmentor,
  SegmentationHead,
  type SegHeadKind,
  type SegHeadOptions,
  type SegmentationResult,
} from './segmentor.js';
export { prepareImage, keepRatioSize, MM_MEAN, MM_STD, type PreparedImage, type PrepareOptions } from './preprocess.js';
export { AnchorGenerator, type AnchorGeneratorConfig } from './anchors.js';
export {
  decodeDelta,
  decodeDeltas,
  roiLevels,
  divideBoxes,
  multiplyBoxes,
  DELTA_WH_CLAMP,
  UNIT_CODER,
  RCNN_CODER,
  type DeltaCoder,
  type HW,
} from './bbox.js';
export { nms, batchedNms, nmsDetections, argsortDescending, topKDescending, type NmsDetections } from './nms.js';
export {
  roiAlign,
  roiAlignOne,
  extractRoIFeatures,
  type HostFeatureMap,
  type RoIAlignOptions,
  type RoIFeatures,
} from './roi-align.js';
export { hostMap, hostMapFromNchw, readMaps, toNchw } from './host.js';
export { ConvTranspose2d } from './conv-transpose.js';
export { RPNHead, rpnProposals, sigmoid32, RPN_TEST_CFG, type RPNTestConfig, type DenseOutputs } from './rpn-head.js';
export {
  StandardRoIHead,
  Shared2FCBBoxHead,
  FCNMaskHead,
  rcnnDetections,
  pasteMask,
  RCNN_TEST_CFG,
  type RCNNTestConfig,
  type ImageMeta,
  type ImageDetections,
  type BBoxStageResult,
  type MaskStageResult,
  type RoIHeadConfig,
} from './roi-heads.js';
export { FPNDetectionHead, NUM_NECK_OUTS, type DetectionForward, type DetectionNeckConfig } from './detection-head.js';
export { MaskRCNNHead, type MaskRCNNConfig, type MaskRCNNOutput, type MaskRCNNTestOptions } from './mask-rcnn.js';
export {
  RetinaNetHead,
  RetinaHead,
  retinaDetections,
  RETINA_TEST_CFG,
  type RetinaTestConfig,
  type RetinaNetConfig,
  type RetinaNetOutput,
} from './retinanet.js';
export {
  createDetector,
  createDetectionHead,
  detectionHeadFromConfig,
  detectionOptionsFromConfig,
  Detector,
  type DetectionHead,
  type DetHeadKind,
  type DetHeadOptions,
  type Detection,
  type DetectionResult,
} from './detector.js';
export { runSync, runAsync, type Steps } from './steps.js';
export {
  headForCheckpoint,
  isDenseCheckpoint,
  splitDenseCheckpoint,
  type CheckpointHead,
} from './checkpoint.js';
