/**
 * What `dynavit bench` times. Without `--head`: a registered model as it is (a classifier's logits, a
 * dense backbone's feature maps). With `--head NAME`: a dense backbone composed with a registered head
 * through `featureInfo`, as the pipelines compose them:
 *
 * - a segmentation head (UperNet, Semantic FPN): the segmentor's logits at stride 4;
 * - a detection head (Mask R-CNN, RetinaNet): the whole test path of mmdet's `simple_test` on an
 *   input of the bench size (no resize, no padding: the size must be a multiple of 32), i.e. neck, RPN
 *   and proposals, RoI heads, NMS and, for Mask R-CNN, the mask branch with its masks pasted at the
 *   input size.
 *
 * A freshly built model's parameters are zero, and zeros take the fast paths of data-dependent kernels:
 * every GELU computes erf(0) (tfjs-wasm's erf on a 56²×256 map: 16–18 ms on zeros, 89–113 ms on N(0, 1)
 * values, 2026-12-04, a loaded 2-core VM), every softmax is uniform, every routing a tie. The bench therefore times the
 * weights training starts from (`initializeWeights`, seed 0: trunc-normal linear weights, PyTorch's conv
 * init), which give the activations a trained model's spread.
 *
 * Linear biases stay zero (the box classifier's included), which would make a detector's data-dependent
 * part degenerate: Mask R-CNN would score
 * every class about 1/81, below the 0.05 threshold, so NMS would have nothing to sort and the mask branch
 * would never run; RetinaNet about 0.5, so every anchor of every class would pass. The bench therefore
 * makes class 0 certain and every other class impossible (the box classifier's bias), so every image
 * carries the official maximum of 100 detections through NMS and the mask branch, as a trained model does
 * on a busy image. `detections` (from the warm-up pass) says how many there were.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type AttentionOverrides,
  countMacsAsync,
  type DenseBackbone,
  InvalidArgumentError,
  initializeWeights,
  type Module,
  type Registry,
  settleTensors,
  type StateDict,
} from '@dynavit/core';
import {
  Detector,
  headFromConfig,
  type HeadVariantName,
  runAsync,
  SegmentationHead,
  Segmentor,
  variants as headVariants,
} from '@dynavit/heads';
import { headError, imageForward } from './models.js';
import { checkMinSize } from './options.js';

export interface BenchSubject {
  /** the module that is timed (the caller disposes it) */
  readonly module: Module;
  /** a typed error unless the model takes a square input of this side */
  checkSize(size: number): void;
  /**
   * One pass (for MAC counting and the profile): its outputs, undisposed (a detector reads its own back
   * with `data()`, as WebGPU in Node needs, and returns none), and for a detector the detections per image.
   */
  pass(x: tf.Tensor4D): Promise<BenchPass>;
  dispose(): void;
}

export interface BenchPass {
  outputs: tf.Tensor[];
  /** a detector: detections per image */
  detections?: number;
}

/** The registered heads `--head` takes. */
export const BENCH_HEADS = Object.keys(headVariants) as HeadVariantName[];

/** What `count` reads of either detection head's output (Mask R-CNN's, RetinaNet's). */
type Detections = { detections: readonly { labels: Int32Array }[] };

/** The seed of the weights the bench times (see the module comment). */
const BENCH_SEED = 0;

/** A logit that makes its class certain (sigmoid, or softmax against −CERTAIN: ≥ 0.9999), and its negative impossible. */
const CERTAIN = 12;

/** A typed error unless `bench --model NAME [--head HEAD]` names something to time (builds nothing). */
export function checkBenchSubject(registry: Registry, name: string, head: string | undefined): void {
  const { variant } = registry.variant(name);
  if (variant.kind === 'head')
    throw new InvalidArgumentError(
      `${name} is a head: compose it with a backbone (--model ${denseBackbones(registry, 1)} --head ${name})`,
    );
  if (head === undefined) return;
  if (!Object.hasOwn(headVariants, head))
    throw new InvalidArgumentError(`--head must be one of ${BENCH_HEADS.join(', ')}, got "${head}"`);
  if (variant.kind !== 'backbone')
    throw new InvalidArgumentError(
      `--head composes a dense backbone with a head; ${name} is a ${variant.kind} (e.g. ${denseBackbones(registry)})`,
    );
}

/** Build what `bench --model NAME [--head HEAD]` times (on the current backend). */
export function benchSubject(
  registry: Registry,
  name: string,
  opts: { head?: string; attention?: AttentionOverrides } = {},
): BenchSubject {
  checkBenchSubject(registry, name, opts.head);
  const create = () => registry.createModel(name, opts.attention ? { attention: opts.attention } : {});
  if (opts.head === undefined) {
    const model = create();
    if (model.kind === 'head') throw headError(name);
    initializeWeights(model, BENCH_SEED);
    const forward = imageForward(name, model);
    const outputs = (x: tf.Tensor4D) => [forward(x)].flat();
    return {
      module: model,
      checkSize: (size) => checkMinSize(name, size, model.minInputSize),
      pass: async (x) => ({ outputs: outputs(x) }),
      dispose: () => model.dispose(),
    };
  }
  const head = opts.head;
  const backbone = create() as DenseBackbone;
  try {
    const cfg = headVariants[head as HeadVariantName].config;
    const built = headFromConfig({ ...cfg, in_channels: backbone.featureInfo.map((f) => f.channels) });
    if (built instanceof SegmentationHead) {
      const seg = new Segmentor(backbone, built);
      initializeWeights(seg, BENCH_SEED);
      return {
        module: seg,
        checkSize: (size) => checkMinSize(name, size, backbone.minInputSize),
        pass: async (x) => ({ outputs: [seg.forward(x)] }),
        dispose: () => seg.dispose(),
      };
    }
    const det = new Detector(backbone, built);
    initializeWeights(det, BENCH_SEED);
    makeClassZeroCertain(det);
    const steps = (x: tf.Tensor4D) => {
      const [n, h, w] = x.shape;
      const meta = { oriShape: [h, w], imgShape: [h, w], scaleFactor: [1, 1, 1, 1] } as const;
      const feats = tf.tidy(() => backbone.forwardFeatures(x));
      return { feats, metas: Array.from({ length: n }, () => meta) };
    };
    const count = (r: Detections) => r.detections.reduce((a, d) => a + d.labels.length, 0) / r.detections.length;
    return {
      module: det,
      checkSize(size) {
        checkMinSize(name, size, backbone.minInputSize);
        if (size % 32 !== 0)
          throw new InvalidArgumentError(
            `${head} runs on inputs padded to multiples of 32, as mmdet tests it; --size ${size} is not one (try ${Math.ceil(size / 32) * 32})`,
          );
      },
      async pass(x) {
        const { feats, metas } = steps(x);
        try {
          const r = await runAsync<Detections>(det.head.testSteps(feats, metas));
          return { outputs: [], detections: count(r) };
        } finally {
          tf.dispose(feats);
        }
      },
      dispose: () => det.dispose(),
    };
  } catch (e) {
    backbone.dispose();
    throw e;
  }
}

/**
 * The warm-up pass of `bench` (and of each `--workers` worker): compiles kernels, counts the MACs, and
 * measures the peak tensor memory (weights included) of one pass.
 */
export async function warmUp(
  subject: BenchSubject,
  x: tf.Tensor4D,
): Promise<{ macs: number; peakBytes: number; detections?: number }> {
  let macs = 0;
  let detections: number | undefined;
  const prof = await tf.profile(async () => {
    const counted = await countMacsAsync(() => subject.pass(x));
    macs = counted.macs;
    detections = counted.result.detections;
    await settleTensors(counted.result.outputs);
  });
  return { macs, peakBytes: prof.peakBytes, ...(detections !== undefined ? { detections } : {}) };
}

/** One timed pass of `subject`: run, wait for its outputs' values (the backend has finished), dispose them. */
export async function timedPass(subject: BenchSubject, x: tf.Tensor4D): Promise<void> {
  await settleTensors((await subject.pass(x)).outputs);
}

/**
 * Set the box classifier's bias so class 0 is certain and every other class impossible (see the module
 * comment): Mask R-CNN's `fc_cls` (softmax over the classes and the background, last), RetinaNet's
 * `retina_cls` (a sigmoid per anchor and class, channel a·C + c).
 */
function makeClassZeroCertain(det: Detector): void {
  const key = det
    .stateDictShapes()
    .map(([k]) => k)
    .find((k) => k.endsWith('.fc_cls.bias') || k.endsWith('.retina_cls.bias'));
  if (key === undefined) throw new InvalidArgumentError(`the ${det.head.constructor.name} has no box classifier bias`);
  const rows = det.stateDictShapes().find(([k]) => k === key)![1][0]!;
  const data = new Float32Array(rows).fill(-CERTAIN);
  if (key.endsWith('.fc_cls.bias')) data[0] = CERTAIN;
  else for (let i = 0; i < rows; i += det.numClasses) data[i] = CERTAIN;
  const sd: StateDict = new Map([[key, { dtype: 'F32', shape: [rows], data }]]);
  det.loadStateDict(sd, { strict: false });
}

/** The first `n` registered dense backbones' names. */
function denseBackbones(registry: Registry, n = 3): string {
  const names = registry
    .listModels()
    .filter((m) => m.kind === 'backbone')
    .map((m) => m.name);
  return names.slice(0, n).join(', ');
}
