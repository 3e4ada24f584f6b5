// node ship.mjs SRC.safetensors MODEL OUT  — writes the shipped file with dynavit metadata, prints sha256
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readSafetensors, writeSafetensors, FASHION_MNIST_CLASSES } from '@dynavit/core';
const [src, model, out] = process.argv.slice(2);
const f = readSafetensors(new Uint8Array(readFileSync(src)), src);
const bytes = writeSafetensors(f.tensors, {
  format: 'pt',
  dynavit_model: model,
  dynavit_num_classes: '10',
  dynavit_input_size: '64',
  dynavit_classes: JSON.stringify(FASHION_MNIST_CLASSES),
  step: f.metadata.step ?? '',
});
writeFileSync(out, bytes);
console.log(createHash('sha256').update(bytes).digest('hex'), bytes.length);
