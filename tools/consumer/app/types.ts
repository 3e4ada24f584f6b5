// Type-checked (strict, NodeNext, skipLibCheck false) against the declarations in the installed
// tarballs: every entry point, the way the READMEs use them. Never run.
import * as tf from '@tensorflow/tfjs-core';
import { createRegistry as nodeRegistry, type BackendChoice, selectBackend } from '@dynavit/backend-node';
import { createModel, loadWeights, prepareClassification, selectBackend as selectWebBackend } from '@dynavit/backend-web';
import { type Classifier, type DenseBackbone, DynavitError, readSafetensors, Registry, type StateDict, writeSafetensors } from '@dynavit/core';
import { readPthFile, readSafetensorsFile, writeSafetensorsFile } from '@dynavit/core/node';
import { type DAT, dat } from '@dynavit/dat';
import { type DeBiFormer, dbra } from '@dynavit/dbra';
import { type GLNet, glmix } from '@dynavit/glmix';
import { createDetector, createSegmentor, heads } from '@dynavit/heads';

export async function inNode(weightsPath: string, pthPath: string): Promise<[BackendChoice, Float32Array]> {
  const choice = await selectBackend({ prefer: 'wasm' });
  const model = nodeRegistry().createModel('dat_pp_tiny') as Classifier;
  model.loadStateDict((await readSafetensorsFile(weightsPath)).tensors);
  const state: StateDict = await readPthFile(pthPath, { key: 'model' });
  await writeSafetensorsFile(`${weightsPath}.copy`, state, { from: pthPath });
  const logits = model.forward(tf.zeros([1, 224, 224, 3]) as tf.Tensor4D);
  return [choice, (await logits.data()) as Float32Array];
}

export function families(bytes: Uint8Array): number {
  const registry = new Registry().use(dat).use(dbra).use(glmix).use(heads);
  const a = registry.createModel('dat_pp_tiny') as DAT;
  const b = registry.createModel('debi_tiny') as DeBiFormer;
  const c = registry.createModel('glnet_stl') as GLNet;
  const { tensors } = readSafetensors(bytes);
  a.loadStateDict(tensors, { strict: false });
  const round: Uint8Array = writeSafetensors(b.stateDict());
  const seg = createSegmentor({ backbone: registry.createModel('dat_pp_tiny_dense') as DenseBackbone, head: 'upernet' });
  const det = createDetector({ backbone: registry.createModel('debi_tiny_det') as DenseBackbone, head: 'retinanet' });
  void seg.segment(tf.zeros([64, 64, 3], 'int32') as tf.Tensor3D).then((r) => r.classMap.length);
  void det.detect(tf.zeros([64, 64, 3], 'int32') as tf.Tensor3D).then((r) => r.detections.map((d) => d.box));
  return round.length + c.featureInfo.length;
}

export async function inBrowser(image: HTMLImageElement, url: string): Promise<Float32Array> {
  const { backend } = await selectWebBackend({ prefer: 'wasm', wasmPaths: '/tfjs/' });
  const model = createModel('dat_pp_tiny') as Classifier;
  try {
    model.loadStateDict((await loadWeights(url, { onProgress: (p) => p.status })).tensors);
  } catch (e) {
    if (DynavitError.isInstance(e)) throw new Error(`${backend}: ${e.code}`);
    throw e;
  }
  const input = nodeRegistry().variant('dat_pp_tiny').variant.input!;
  return (await model.forward(prepareClassification(image, input)).data()) as Float32Array;
}
