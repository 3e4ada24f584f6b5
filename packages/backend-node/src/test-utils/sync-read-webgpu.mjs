// Test support (not published): a synchronous read on WebGPU in Node. tfjs-backend-webgpu reads a tensor
// held on the GPU through an OffscreenCanvas, which Node lacks; selectBackend makes that one failure a
// typed error. Prints one JSON line: the backend, what dataSync threw on a GPU result, whether dataSync
// still reads values that never left the host, what data() read, and the tensors left.
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../dist/index.js';

const choice = await selectBackend({ prefer: 'webgpu' });
const before = tf.memory().numTensors;
// 4096 values: tfjs computes on the CPU when the inputs are small and still on the host
const a = tf.tensor1d(Float32Array.from({ length: 4096 }, (_, i) => i));
const host = Array.from(a.dataSync().subarray(0, 3)); // never uploaded: its values are still on the host
const sum = tf.tidy(() => tf.add(tf.mul(a, 2), tf.scalar(10))); // computed on the GPU
let thrown = null;
try {
  sum.dataSync();
} catch (e) {
  thrown = { name: e.name, code: e.code, message: e.message };
}
const read = Array.from((await sum.data()).subarray(0, 3));
tf.dispose([a, sum]);
console.log(JSON.stringify({ backend: choice.backend, thrown, host, read, leaked: tf.memory().numTensors - before }));
