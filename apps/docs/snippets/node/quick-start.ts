// #region classify
import { pipeline } from '@dynavit/backend-node';

const classify = await pipeline('image-classification', 'dat_pp_tiny', { weights: 'pretrained' });
console.log(await classify('cat.jpg', { topk: 3 })); // [{ label: 'tabby, tabby cat', index: 281, score: … }, …]
classify.dispose();
// #endregion classify

// #region segment
const segment = await pipeline('semantic-segmentation', 'dat_pp_tiny_dense', { weights: 'pretrained' });
const { classMap, width, height, labels } = await segment('street.jpg');
console.log(`${width}×${height}: ${new Set(classMap).size} classes, e.g. ${labels[classMap[0]!]}`);
segment.dispose();
// #endregion segment
