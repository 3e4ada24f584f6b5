// #region snippet
import { type Classifier, compileGpuPrograms } from '@dynavit/core';
import { createModel, selectBackend } from '@dynavit/backend-web';
import * as tf from '@tensorflow/tfjs-core';

await selectBackend(); // WebGPU where the page has a GPU
const model = createModel('dat_pp_tiny') as Classifier;
const x = tf.zeros([1, 224, 224, 3]) as tf.Tensor4D; // the size the page will run
const report = await compileGpuPrograms(() => model.forward(x));
console.log(`${report.pipelines} pipelines in ${report.ms.toFixed(0)} ms`, report.parallel ? '' : report.reason);
x.dispose();
// the first real forward at 224² now starts at once
// #endregion snippet
