declare const bar: HTMLProgressElement; // a <progress> element of the page
// #region snippet
import { createModel, loadWeights, prepareClassification, selectBackend, createRegistry } from '@dynavit/backend-web';
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

const wasmPaths = {
  'tfjs-backend-wasm.wasm': wasm,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

const { backend, reason } = await selectBackend({ wasmPaths }); // WebGPU → WebGL → wasm
console.log(`backend: ${backend} (${reason})`);
const model = createModel('glnet_4g'); // a BuiltModel: narrow it on its kind
if (model.kind !== 'classifier') throw new Error('glnet_4g is a classifier');
const weights = await loadWeights('/weights/glnet_4g.safetensors', {
  onProgress: (p) => {
    if (p.status === 'progress' && p.progress !== null) bar.value = p.progress;
  },
});
model.loadStateDict(weights.tensors);

const img = document.querySelector('img')!; // or a canvas, ImageBitmap, VideoFrame, ImageData
await img.decode();
const x = prepareClassification(img, createRegistry().variant('glnet_4g').variant.input!);
const logits = model.forward(x);
const scores = await logits.data(); // read back asynchronously (on WebGPU dataSync is slow)
x.dispose();
logits.dispose();
// #endregion snippet
console.log(scores.length);
