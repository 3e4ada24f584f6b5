import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { compileGpuPrograms } from './webgpu-compile.js';

// WebGPU itself runs in backend-node's webgpu.test.ts (Dawn on SwiftShader, a child process)
describe.each(['cpu', 'wasm'])('compileGpuPrograms on %s', (backend) => {
  it('is a plain warm-up: runs once, reads and frees what it returned, and says why', async () => {
    await tf.setBackend(backend);
    const x = tf.ones([2, 3]);
    let calls = 0;
    const before = tf.memory().numTensors;
    const r = await compileGpuPrograms(() => {
      calls++;
      return { y: tf.matMul(x, x, false, true), z: [tf.add(x, 1)] };
    });
    expect(calls).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    expect(r).toMatchObject({ backend, parallel: false, pipelines: 0 });
    expect(r.reason).toBe(`the backend is ${backend}: no shader pipelines to compile`);
    expect(r.ms).toBeGreaterThanOrEqual(0);
    x.dispose();
  });
});
