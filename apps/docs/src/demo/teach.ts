/**
 * The demo's "teach it" panel: fine-tune one of the shipped Fashion-MNIST models (`dat_fmnist`,
 * `debi_fmnist`, `glnet_fmnist`: trained by dynavit, bundled with their packages) on a handful of the user's photos,
 * in the page, with `@dynavit/train`'s `train()` — the same code `dynavit train` runs in Node. The
 * trunk keeps its trained weights, the classifier is re-initialised for the user's classes (as the
 * official fine-tuning code does), and every parameter is tuned (the trunk at a tenth of the rate).
 * Then new photos are classified with the taught model.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeWebImage, prepareClassification, webImageDataset, type WebImageInput } from '@dynavit/backend-web';
import type { Classifier, InputConfig, Registry, StateDict } from '@dynavit/core';
import { ensureGradients, loadForFineTuning, train } from '@dynavit/train';

/** The models the panel can teach: the registered models whose trained weights ship with their package. */
export function teachableModels(registry: Registry): { model: string; file: string; top1: number }[] {
  return registry
    .pretrained()
    .filter((e) => e.bundled && e.task === 'image-classification')
    .map((e) => ({ model: e.model, file: e.file, top1: e.metrics[0]?.value ?? Number.NaN }));
}

export interface TeachClass {
  name: string;
  images: readonly Exclude<WebImageInput, tf.Tensor>[];
}

export interface TeachOptions {
  /** optimizer updates (each over every photo, flipped and cropped at random); default 30 */
  steps?: number;
  /** peak learning rate of the new head (the trunk gets a tenth); default 2e-3 */
  lr?: number;
  seed?: number;
  onStep?: (step: number, steps: number, loss: number) => void;
  signal?: AbortSignal;
}

export interface TaughtModel {
  classes: string[];
  /** mean training loss of each update */
  losses: number[];
  seconds: number;
  /** the classes of a photo, most likely first */
  classify(image: Exclude<WebImageInput, tf.Tensor>): Promise<{ label: string; probability: number }[]>;
  dispose(): void;
}

/**
 * Fine-tune `model` (a registered classifier) from its trained `weights` on the photos of `classes`
 * (at least two classes, each with at least one photo), on the current tfjs backend.
 */
export async function teach(
  registry: Registry,
  model: string,
  weights: StateDict,
  classes: readonly TeachClass[],
  options: TeachOptions = {},
): Promise<TaughtModel> {
  if (classes.length < 2) throw new Error('teach: give at least two classes');
  for (const c of classes) if (c.images.length === 0) throw new Error(`teach: class "${c.name}" has no photo`);
  await ensureGradients();
  const t0 = performance.now();
  const examples = classes.flatMap((c, label) => c.images.map((image) => ({ image, label })));
  const dataset = await webImageDataset(examples, { numClasses: classes.length, maxSide: 256 });
  const { variant } = registry.variant(model);
  const input = (variant as { input?: InputConfig }).input;
  if (!input) throw new Error(`teach: ${model} has no input configuration`);
  const net = registry.createModel(model, { numClasses: classes.length }) as Classifier;
  try {
    loadForFineTuning(net, weights);
    const steps = options.steps ?? 30;
    const losses: number[] = [];
    await train(net, {
      dataset,
      epochs: steps, // one update per epoch: every photo in one batch
      batchSize: examples.length,
      inputSize: input.size,
      lr: options.lr ?? 2e-3,
      backboneLrScale: 0.1,
      warmupEpochs: 0,
      minLr: 1e-5,
      labelSmoothing: 0.1,
      augment: { scale: [0.5, 1] },
      seed: options.seed ?? 0,
      ...(options.signal ? { signal: options.signal } : {}),
      onEvent: (e) => {
        if (e.type !== 'epoch') return;
        losses.push(e.trainLoss);
        options.onStep?.(losses.length, steps, e.trainLoss);
      },
    });
    const names = classes.map((c) => c.name);
    return {
      classes: names,
      losses,
      seconds: (performance.now() - t0) / 1000,
      async classify(image) {
        const x = prepareClassification(await decodeWebImage(image), input);
        const probs = tf.tidy(() => tf.squeeze(tf.softmax(net.forward(x)), [0]));
        x.dispose();
        const p = await probs.data();
        probs.dispose();
        return [...p]
          .map((probability, i) => ({ label: names[i]!, probability }))
          .sort((a, b) => b.probability - a.probability);
      },
      dispose() {
        net.dispose();
      },
    };
  } catch (e) {
    net.dispose();
    throw e;
  }
}
