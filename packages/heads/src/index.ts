export { heads, variants, headKind, segmentationHeadFromConfig, headsFromReference, type HeadVariantName, type HeadOfficialConfig } from './heads.js';
export { ConvModule, type ConvModuleOptions } from './conv-module.js';
export { FPN, type FPNConfig, type ExtraConvs } from './fpn.js';
export { FPNHead, UPerHead, FCNHead, type SemanticFPNHeadConfig, type UPerHeadConfig, type FCNHeadConfig } from './seg-heads.js';
export { createSegmentor, Segmentor, SegmentationHead, type SegHeadKind, type SegHeadOptions, type SegmentationResult } from './segmentor.js';
export { prepareImage, keepRatioSize, MM_MEAN, MM_STD, type PreparedImage, type PrepareOptions } from './preprocess.js';
export { AnchorGenerator, type AnchorGeneratorConfig } from './anchors.js';
export { decodeDelta, decodeDeltas, roiLevels, divideBoxes, multiplyBoxes, DELTA_WH_CLAMP, UNIT_CODER, RCNN_CODER, type DeltaCoder, type HW } from './bbox.js';
export { nms, batchedNms, argsortDescending, topKDescending } from './nms.js';
export { roiAlign, roiAlignOne, extractRoIFeatures, type HostFeatureMap, type RoIAlignOptions, type RoIFeatures } from './roi-align.js';
export { hostMap, hostMapFromNchw, toNchw } from './host.js';
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
export { MaskRCNNHead, type MaskRCNNConfig, type MaskRCNNOutput, type MaskRCNNTestOptions } from './mask-rcnn.js';
export { RetinaNetHead, RetinaHead, retinaDetections, RETINA_TEST_CFG, type RetinaTestConfig, type RetinaNetConfig, type RetinaNetOutput } from './retinanet.js';
export { createDetector, createDetectionHead, detectionHeadFromConfig, detectionOptionsFromConfig, Detector, type DetectionHead, type DetHeadKind, type DetHeadOptions, type Detection, type DetectionResult } from './detector.js';
export { detectionParityModel, runDetectionHead, compareDetections, stagedDetectionParity, matchRows, imageMetasFromGolden, goldenMasks, MATCH_TOLERANCE, type RowMatch } from './det-parity.js';
export { runSync, runAsync, type Steps } from './steps.js';
