export { glmix, variants, type GLNetVariantName, type GLNetOfficialConfig } from './glnet.js';
