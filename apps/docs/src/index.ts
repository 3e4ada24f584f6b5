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
  renderBenchChart,
  renderBenchTable,
  niceMax,
  type BenchData,
  type BenchResult,
} from './bench.js';
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
