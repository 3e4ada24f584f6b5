// #region snippet
import { pipeline } from '@dynavit/backend-web';

const classify = await pipeline('image-classification', 'dat_pp_tiny', { weights: 'pretrained', worker: true });
const top = await classify(document.querySelector('img')!, { topk: 3 });
document.body.append(top.map((t) => `${t.label} ${(100 * t.score).toFixed(1)}%`).join(', '));
// #endregion snippet
