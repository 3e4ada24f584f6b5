// What a user writes after reading @dynavit/backend-web's README: the package entry, one model package
// used directly, tfjs-backend-wasm's binaries imported with `?url`, no Vite config.
import { Registry } from '@dynavit/core';
import { createModel, createRegistry, loadWeights, prepareClassification, selectBackend } from '@dynavit/backend-web';
import { dat, variants } from '@dynavit/dat';
import wasm from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

const wasmPaths = {
  'tfjs-backend-wasm.wasm': wasm,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
};

window.classify = async (image, weightsUrl) => {
  const choice = await selectBackend({ wasmPaths });
  const model = weightsUrl ? createModel('dat_pp_tiny') : new Registry().use(dat).createModel('dat_pp_tiny');
  if (weightsUrl) model.loadStateDict((await loadWeights(weightsUrl)).tensors);
  const input = createRegistry().variant('dat_pp_tiny').variant.input;
  const logits = model.forward(prepareClassification(image, input));
  return { choice, variants: Object.keys(variants), scores: await logits.data() };
};
