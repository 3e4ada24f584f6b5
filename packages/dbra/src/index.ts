export { dbra, variants, type DBRAVariantName, type DBRAOfficialConfig } from './dbra.js';
