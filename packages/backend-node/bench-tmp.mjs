import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, createRegistry } from '@dynavit/backend-node';
const [name = 'dat_pp_tiny', backend = 'wasm', size = '224', runs = '4'] = process.argv.slice(2);
await selectBackend({ prefer: backend });
const m = createRegistry().createModel(name);
const x = tf.randomNormal([1, +size, +size, 3]);
const ts = [];
for (let i = 0; i < +runs; i++) {
  const t0 = performance.now();
  const y = m.forward(x);
  await y.data();
  ts.push(performance.now() - t0);
  y.dispose();
}
const last = ts.slice(1).sort((a, b) => a - b);
console.log(`${name} ${backend} ${size}: runs ${ts.map((t) => (t / 1000).toFixed(2)).join(' ')} s; median of last ${last.length}: ${(last[Math.floor(last.length / 2)] / 1000).toFixed(2)} s`);
