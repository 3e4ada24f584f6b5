// #region snippet
import { readFile } from 'node:fs/promises';
import sharp from 'sharp'; // any decoder that gives RGB bytes will do
import * as tf from '@tensorflow/tfjs-core';
import { classificationPixels, loadPthStateDict, Registry } from '@dynavit/core';
import { dat } from '@dynavit/dat';
import { selectBackend } from '@dynavit/backend-node';

const { backend, reason } = await selectBackend(); // tfjs-node-gpu → tfjs-node → WebGPU → wasm → cpu
console.log(`backend: ${backend} (${reason})`);

const registry = new Registry([dat]); // families register explicitly
const model = registry.createModel('dat_pp_tiny'); // a classifier, a dense backbone or a head: see model.kind
if (model.kind !== 'classifier') throw new Error('dat_pp_tiny is a classifier');
// official checkpoint: {"model": state_dict}; read by a restricted unpickler that never runs code
model.loadStateDict(loadPthStateDict(new Uint8Array(await readFile('dat_pp_tiny.pth')), { key: 'model' }));

// the official evaluation pre-processing (resize 256 bicubic, centre crop 224, ImageNet mean/std),
// bit-exact with Pillow + torchvision, from decoded RGB bytes
const { data, info } = await sharp('coffee.jpg').removeAlpha().raw().toBuffer({ resolveWithObject: true });
const rgb = { width: info.width, height: info.height, data: new Uint8Array(data) };
const input = registry.variant('dat_pp_tiny').variant.input!;
const x = tf.tensor4d(classificationPixels(rgb, input), [1, ...input.size, 3]);
const probs = tf.softmax(model.forward(x)); // NHWC in, logits [1, 1000] out
console.log(await probs.data());
// #endregion snippet
tf.dispose([x, probs]);
model.dispose();
