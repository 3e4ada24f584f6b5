export { dat, variants, type DATVariantName, type DATOfficialConfig } from './dat.js';
