export {
  macsCell,
  renderModelZoo,
  renderModelZooByFamily,
  renderParity,
  renderReleases,
  type PaperNumbers,
  type ParityData,
  type ZooExtras,
} from './zoo.js';
export {
  parseBenchData,
  benchGroups,
  renderBenchChart,
  renderBenchCharts,
  renderBenchProfiles,
  renderBenchTable,
  niceMax,
  type BenchData,
  type BenchResult,
  type BenchProfile,
  type BenchProfileEntry,
} from './bench.js';
export {
  isBench,
  parseGpuRun,
  renderGpuBenchTable,
  renderGpuKernelShare,
  type GpuBench,
  type GpuRun,
  type GpuStep,
} from './gpu-run.js';
export {
  growthExponent,
  parseScaling,
  renderScalingChart,
  renderScalingCharts,
  renderScalingTable,
  scalingSeries,
  type ScalingEntry,
  type ScalingSeries,
} from './scaling.js';
export {
  apiProblems,
  compareApi,
  discoverApiEntries,
  documentedNames,
  exportedNames,
  type ApiDiff,
  type ApiEntry,
  type TypedocJson,
} from './api-check.js';
