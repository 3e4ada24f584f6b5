export { heads, variants, headKind, segmentationHeadFromConfig, headsFromReference, type HeadVariantName, type HeadOfficialConfig } from './heads.js';
export { ConvModule, type ConvModuleOptions } from './conv-module.js';
export { FPN, type FPNConfig, type ExtraConvs } from './fpn.js';
export { FPNHead, UPerHead, FCNHead, type SemanticFPNHeadConfig, type UPerHeadConfig, type FCNHeadConfig } from './seg-heads.js';
export { createSegmentor, Segmentor, SegmentationHead, type SegHeadKind, type SegHeadOptions, type SegmentationResult } from './segmentor.js';
export { prepareImage, keepRatioSize, MM_MEAN, MM_STD, type PreparedImage, type PrepareOptions } from './preprocess.js';
