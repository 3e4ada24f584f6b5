// Type-checked (strict, NodeNext, skipLibCheck false) against the declarations in the installed
// tarballs: every entry point, the way the READMEs use them. Never run.
import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, selectBackend } from '@dynavit/backend-node';
import { COMMANDS, createRegistry as cliRegistry, main } from '@dynavit/backend-node/cli';
import { findCases, runCase } from '@dynavit/backend-node/testing';
import {
  createModel,
  loadWeights,
  prepareClassification,
  selectBackend as selectWebBackend,
} from '@dynavit/backend-web';
import {
  type BuiltModel,
  DynavitError,
  readSafetensors,
  Registry,
  type StateDict,
  writeSafetensors,
} from '@dynavit/core';
import { readPthFile, readSafetensorsFile, writeSafetensorsFile } from '@dynavit/core/node';
import { type ParityReport, runParity } from '@dynavit/core/testing';
import { type DAT, dat, datFromReference } from '@dynavit/dat';
import { DeBiFormer, dbra } from '@dynavit/dbra';
import { type GLNet, glmix, glnetFromReference } from '@dynavit/glmix';
import { createDetector, createSegmentor, heads } from '@dynavit/heads';
import { headsParity } from '@dynavit/heads/testing';

/** The one model surface: narrow a BuiltModel on its kind. */
function logitsOf(model: BuiltModel, x: tf.Tensor4D): tf.Tensor2D {
  if (model.kind === 'classifier') return model.forwardHead(model.forwardFeatures(x));
  if (model.kind === 'backbone') throw new Error(`a backbone gives ${model.featureInfo.length} maps, no logits`);
  throw new Error(`a ${model.task} head takes feature maps of ${model.inChannels.join(', ')} channels`);
}

export async function inNode(weightsPath: string, pthPath: string): Promise<[BackendChoice, Float32Array]> {
  const choice = await selectBackend({ prefer: 'wasm' });
  const model = new Registry([dat]).createModel('dat_pp_tiny');
  model.loadStateDict((await readSafetensorsFile(weightsPath)).tensors);
  const state: StateDict = await readPthFile(pthPath, { key: 'model' });
  await writeSafetensorsFile(`${weightsPath}.copy`, state, { from: pthPath });
  const logits = logitsOf(model, tf.zeros([1, 224, 224, 3]) as tf.Tensor4D);
  return [choice, (await logits.data()) as Float32Array];
}

export function families(bytes: Uint8Array): number {
  const registry = new Registry([dat, dbra, glmix, heads]);
  const a: DAT = datFromReference({ reference: 'LeapLabTHU/DAT@32173fc', config: '{}' });
  const b = registry.createModel('debi_tiny');
  const c: GLNet = glnetFromReference({ reference: 'rayleizhu/GLMix@3c93dbf', config: '{}' });
  const { tensors } = readSafetensors(bytes);
  a.loadStateDict(tensors, { strict: false });
  const round: Uint8Array = writeSafetensors(b.stateDict());
  const dense = registry.createModel('dat_pp_tiny_dense');
  const detBackbone = registry.createModel('debi_tiny_det');
  if (dense.kind !== 'backbone' || detBackbone.kind !== 'backbone' || !(detBackbone instanceof DeBiFormer)) return 0;
  const seg = createSegmentor({ backbone: dense, head: 'upernet' });
  const det = createDetector({ backbone: detBackbone, head: 'retinanet' });
  void seg.segment(tf.zeros([64, 64, 3], 'int32') as tf.Tensor3D).then((r) => r.classMap.length);
  void det.detect(tf.zeros([64, 64, 3], 'int32') as tf.Tensor3D).then((r) => r.detections.map((d) => d.box));
  return round.length + c.featureInfo.length + a.featureSizes(224).length;
}

export function harness(weights: Uint8Array, io: Uint8Array): ParityReport {
  const registry = new Registry([dat, dbra, glmix, heads]);
  return runParity(registry, readSafetensors(weights), readSafetensors(io), { adapters: [headsParity] });
}

export async function cli(dir: string): Promise<number> {
  const cases = findCases(dir);
  const results = await Promise.all(cases.map((c) => runCase(cliRegistry(), c)));
  return results.filter((r) => r.status === 'pass').length + COMMANDS.length + (await main(['list']));
}

export async function inBrowser(image: HTMLImageElement, url: string): Promise<Float32Array> {
  const { backend } = await selectWebBackend({ prefer: 'wasm', wasmPaths: '/tfjs/' });
  const model = createModel('dat_pp_tiny');
  try {
    model.loadStateDict((await loadWeights(url, { onProgress: (p) => p.status })).tensors);
  } catch (e) {
    if (DynavitError.isInstance(e)) throw new Error(`${backend}: ${e.code}`);
    throw e;
  }
  const input = new Registry([dat]).variant('dat_pp_tiny').variant.input!;
  return (await logitsOf(model, prepareClassification(image, input)).data()) as Float32Array;
}
