declare const catsInput: HTMLInputElement; // <input type="file" multiple> of the page, one per class
declare const dogsInput: HTMLInputElement;
declare const photo: HTMLImageElement; // a new photo to classify
// #region snippet
import {
  createModel,
  createRegistry,
  loadWeights,
  prepareClassification,
  selectBackend,
  webImageDataset,
} from '@dynavit/backend-web';
import type { Classifier } from '@dynavit/core';
import { ensureGradients, evaluate, loadForFineTuning, train } from '@dynavit/train';
// the trained weights that ship with @dynavit/dat, as an asset URL (Vite's ?url, like the wasm binaries)
import weightsUrl from '@dynavit/dat/weights/dat_fmnist.safetensors?url';
import * as tf from '@tensorflow/tfjs-core';

await selectBackend(); // WebGPU → WebGL → wasm
await ensureGradients(); // registers tfjs's gradient functions (tfjs-core's register_all_gradients)

// the page's images (files, <img>, canvases, ImageBitmaps, URLs…), a class index each
const dataset = await webImageDataset([
  ...[...catsInput.files!].map((image) => ({ image, label: 0 })),
  ...[...dogsInput.files!].map((image) => ({ image, label: 1 })),
]);
const model = createModel('dat_fmnist', { numClasses: 2 }) as Classifier;
loadForFineTuning(model, (await loadWeights(weightsUrl)).tensors); // the trunk; a fresh 2-class head
await train(model, {
  dataset,
  epochs: 30, // all the photos in one batch: an update per epoch
  batchSize: dataset.length,
  lr: 2e-3,
  backboneLrScale: 0.1,
  warmupEpochs: 0,
  augment: { scale: [0.5, 1] },
  onEvent: (e) => {
    if (e.type === 'epoch') console.log(`epoch ${e.epoch}: loss ${e.trainLoss.toFixed(3)}`);
  },
});
console.log('top-1 on the photos it learned from', (await evaluate(model, dataset)).top1);
const x = prepareClassification(photo, createRegistry().variant('dat_fmnist').variant.input!); // 64² squash
const probs = tf.tidy(() => tf.softmax(model.forward(x)));
console.log('P(cat), P(dog):', await probs.data());
tf.dispose([x, probs]);
// #endregion snippet
