declare const input: HTMLInputElement; // an <input type="file"> of the page
// #region load
import { createModel, loadWeights } from '@dynavit/backend-web';

const model = createModel('glnet_16g');
const { tensors, format } = await loadWeights('/weights/glnet_16g.safetensors', {
  onProgress: (p) => console.log(p.status, p.status === 'progress' ? p.progress : ''),
});
console.log(`read a ${format} file`);
model.loadStateDict(tensors);

// a file the user picked: .pth (zip or legacy) or .safetensors, recognised from the first bytes
input.addEventListener('change', async () => {
  const { tensors } = await loadWeights(input.files![0]!, { key: 'model_ema' });
  model.loadStateDict(tensors);
});
// #endregion load

// #region segmentor
import type { DenseBackbone } from '@dynavit/core';
import { createSegmentor } from '@dynavit/backend-web';

const seg = createSegmentor({ backbone: createModel('dat_pp_tiny_dense') as DenseBackbone, head: 'upernet' });
seg.loadStateDict(tensors); // backbone.*, decode_head.*, auxiliary_head.*
// #endregion segmentor
