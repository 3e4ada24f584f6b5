// #region snippet
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { initializeWeights } from '@dynavit/core';
import { selectBackend } from '@dynavit/backend-node';
import { createRegistry } from '@dynavit/backend-node/cli';
import { type Dataset, evaluate, idxDataset, InMemoryDataset, train } from '@dynavit/train';

await selectBackend(); // wasm; core adds the backward kernels tfjs-backend-wasm lacks

/** The first n images of a Fashion-MNIST split (Debian: apt-get install dataset-fashion-mnist), at 64×64. */
async function fashionMnist(split: 'train' | 't10k', n: number): Promise<Dataset> {
  const read = async (part: string) =>
    gunzipSync(await readFile(`/usr/share/datasets/fashion-mnist/${split}-${part}-ubyte.gz`));
  const all = idxDataset(await read('images-idx3'), await read('labels-idx1'), { size: 64 });
  const samples = await Promise.all(Array.from({ length: n }, (_, i) => all.get!(i)));
  return new InMemoryDataset(samples, all.numClasses);
}

const model = createRegistry().createModel('glnet_fmnist'); // GLNet's reduced config: 0.65 M parameters
if (model.kind !== 'classifier') throw new Error('glnet_fmnist is a classifier');
initializeWeights(model, 0); // as the official code initialises (trunc-normal linears, …), seeded
await train(model, {
  dataset: await fashionMnist('train', 128),
  epochs: 1,
  batchSize: 32,
  warmupEpochs: 0,
  onEvent: (e) => {
    if (e.type === 'step')
      console.log(`update ${e.step}: loss ${e.loss.toFixed(3)}, ${e.imagesPerSecond.toFixed(1)} images/s`);
  },
});
const { top1, top5 } = await evaluate(model, await fashionMnist('t10k', 64));
console.log(`test top-1 ${(100 * top1).toFixed(1)}%, top-5 ${(100 * top5).toFixed(1)}%`);
model.dispose();
// #endregion snippet
