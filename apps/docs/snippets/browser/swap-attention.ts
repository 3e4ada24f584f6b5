// #region snippet
import { createRegistry } from '@dynavit/backend-web';
const hybrid = createRegistry().createModel('glnet_4g', { attention: { 1: 'core.window', 2: 'dat.deformable' } });
// #endregion snippet
console.log(hybrid.kind);
