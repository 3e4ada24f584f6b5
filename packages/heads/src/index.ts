export { heads, variants, type HeadVariantName, type HeadOfficialConfig } from './heads.js';
