/**
 * DAT / DAT++ — Vision Transformer with Deformable Attention.
 * Xia, Pan, Song, Li, Huang: "Vision Transformer with Deformable Attention" (CVPR 2022) and
 * "DAT++: Spatially Dynamic Vision Transformer with Deformable Attention" (arXiv:2309.01430).
 * Official code: LeapLabTHU/DAT@32173fc (`models/dat.py`, `models/dat_blocks.py`, `models/nat.py`),
 * dense backbones in LeapLabTHU/DAT-Segmentation@fdd2039 / DAT-Detection@4d4023d. Apache-2.0.
 *
 * Reading order: config → the two attentions (neighbourhood `N`, deformable `D`) →
 * the FFNs → TransformerStage → DAT (classifier and dense backbone) → official-config reader → variants.
 * Module and parameter names are the official state_dict keys. Tensors are NHWC; shape comments use
 * B batch, H×W map, C channels, M heads, hc head dim, G offset groups, Cg = C/G, Mg = M/G.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  addMacs,
  asBuiltModel,
  assertMap,
  type Attention2d,
  type AttentionFactories,
  type AttentionMechanism,
  divisibleHeads,
  familyAttention,
  largestDivisor,
  Conv2d,
  configReader,
  DropPath,
  dropPathRates,
  type FeatureInfo,
  GELU,
  gelu,
  gridSample,
  Identity,
  imagenetInput,
  type DenseEvalConfig,
  type InputConfig,
  InputSizeError,
  InvalidArgumentError,
  type Layer,
  LayerNormProxy,
  Linear,
  type ModelFamily,
  Module,
  ModuleList,
  NotImplementedError,
  neighborhoodAttention2d,
  neighborhoodAttentionFromQKV,
  type OfficialConfig,
  type Parameter,
  type ReferenceMetadata,
  referenceJson,
  referenceRepo,
  Sequential,
  StagedModel,
  separableColumnWeights,
  separableGridSample,
  separableGridSampleFused,
  stageSizes,
  TransformerMLPWithConv,
  tidyObj,
  type Variant,
} from '@dynavit/core';
import { pretrained } from './zoo.js';

// ---------------------------------------------------------------------------------------------------
// Configuration

export type BlockKind = 'N' | 'D';

/** The constructor arguments of the official `DAT` that released models use, in our names. */
export interface DATConfig {
  /** only sets the deformable RPE table size: (imgSize/4 >> i)·2 − 1 per stage */
  imgSize: number;
  numClasses: number;
  expansion: number;
  dimStem: number;
  dims: readonly number[];
  depths: readonly number[];
  stageSpec: readonly (readonly BlockKind[])[];
  heads: readonly number[];
  groups: readonly number[];
  /** deformable key sub-sampling stride per stage */
  strides: readonly number[];
  /** offset-network depthwise kernel per stage */
  ksizes: readonly number[];
  /** neighbourhood-attention kernel per stage */
  natKsizes: readonly number[];
  /** < 0: raw offsets, clamped positions (all released models); ≥ 0: tanh-bounded offsets */
  offsetRangeFactor: readonly number[];
  usePes: readonly boolean[];
  useDwcMlps: readonly boolean[];
  useLpus: readonly boolean[];
  /** DAT++ overlapped conv stem and 3×3 down-sampling; false: 4×4 patchify and 2×2 (dat_plus) */
  useConvPatches: boolean;
  /** dense backbone (DAT-Segmentation/-Detection): LayerNorm on these stage outputs, no classifier */
  outIndices?: readonly number[];
  /** stochastic depth in training: linspace(0, rate, Σ depths) over the blocks (identity at inference) */
  dropPathRate?: number;
  /** per-stage attention overrides (0-based stage → factory): every block's `attns.d` slot is built by it */
  attention?: AttentionFactories;
}

// ---------------------------------------------------------------------------------------------------
// Blocks

/**
 * `NeighborhoodAttention2D` (natten 0.14): each query attends to the k×k window around it (shifted
 * inward at the borders) with a relative position bias. Maps smaller than k are zero-padded at the
 * bottom/right *before* qkv, so padded tokens are real keys whose k/v are the qkv bias (dat.md §5).
 */
export class NeighborhoodAttention2D extends Module implements Attention2d {
  readonly rpb: Parameter;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly headDim: number;
  readonly scale: number;
  constructor(
    readonly dim: number,
    readonly numHeads: number,
    readonly kernelSize: number,
  ) {
    super();
    if (dim % numHeads)
      throw new InvalidArgumentError(`NeighborhoodAttention2D: dim ${dim} not divisible by ${numHeads} heads`);
    this.headDim = dim / numHeads;
    this.scale = this.headDim ** -0.5;
    this.rpb = this.param('rpb', [numHeads, 2 * kernelSize - 1, 2 * kernelSize - 1]);
    this.qkv = this.child('qkv', new Linear(dim, 3 * dim));
    this.proj = this.child('proj', new Linear(dim, dim));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.run(x).out;
  }

  /** Also returns the pre-softmax logits over the padded map, [B, M, Hp, Wp, k²]. */
  run(x: tf.Tensor4D, withLogits = false): { out: tf.Tensor4D; logits?: tf.Tensor5D } {
    assertMap('NeighborhoodAttention2D', x, this.dim);
    const [B, H, W] = x.shape;
    const k = this.kernelSize;
    const [M, hd] = [this.numHeads, this.headDim];
    return tidyObj(() => {
      const Hp = Math.max(H, k);
      const Wp = Math.max(W, k);
      const xp =
        Hp > H || Wp > W
          ? tf.pad(x, [
              [0, 0],
              [0, Hp - H],
              [0, Wp - W],
              [0, 0],
            ])
          : x;
      const rpb = this.rpb.value as tf.Tensor3D;
      addMacs(2 * B * M * Hp * Wp * k * k * hd); // q·k and attn·v over each k×k window
      let o: tf.Tensor4D;
      let logits: tf.Tensor5D | undefined;
      if (withLogits) {
        // [B,Hp,Wp,3C] → [B,Hp,Wp,3,M,hd] → [3,B,M,Hp,Wp,hd]
        const qkv = tf.transpose(tf.reshape(this.qkv.forward(xp), [B, Hp, Wp, 3, M, hd]), [3, 0, 4, 1, 2, 5]);
        const [q, kk, v] = tf.unstack(qkv, 0) as [tf.Tensor5D, tf.Tensor5D, tf.Tensor5D];
        const na = neighborhoodAttention2d(tf.mul(q, this.scale), kk, v, rpb, k, { returnLogits: true });
        logits = na.logits;
        // [B,M,Hp,Wp,hd] → [B,Hp,Wp,M,hd] → [B,Hp,Wp,C]
        o = tf.reshape(tf.transpose(na.out, [0, 2, 3, 1, 4]), [B, Hp, Wp, this.dim]);
      } else {
        // the same from the channels-last qkv: a fused kernel for inference on cpu/wasm, else the above
        o = neighborhoodAttentionFromQKV(this.qkv.forward(xp) as tf.Tensor4D, M, rpb, k, this.scale);
      }
      if (Hp > H || Wp > W) o = tf.slice(o, [0, 0, 0, 0], [B, H, W, this.dim]);
      const out = this.proj.forward(o) as tf.Tensor4D;
      return logits ? { out, logits } : { out };
    });
  }
}

export interface DAttentionOptions {
  numHeads: number;
  /** offset groups G (heads of group g: g·Mg … g·Mg+Mg−1) */
  groups: number;
  /** key sub-sampling stride of the offset network */
  stride: number;
  /** depthwise kernel of the offset network */
  ksize: number;
  /** query-map size the RPE table is built for: (imgSize/4) >> stage, table (2q−1)² */
  qSize: readonly [number, number];
  /** < 0 raw offsets + clamp (released); ≥ 0 tanh-bounded offsets, no clamp */
  offsetRangeFactor?: number;
  /** deformable relative position bias (released: true) */
  usePe?: boolean;
}

/** Intermediates of one deformable attention, named like the golden `debug.*` tensors (NHWC here). */
export interface DAttentionIntermediates {
  /** [B·G, Hk, Wk, 2] (Δy, Δx) before range handling */
  offsetRaw: tf.Tensor4D;
  /** [B·G, Hk, Wk, 2] (y, x) */
  reference: tf.Tensor4D;
  /** [B·G, Hk, Wk, 2] (y, x), clamped */
  pos: tf.Tensor4D;
  /** [B·G, Hk, Wk, Cg] */
  xSampled: tf.Tensor4D;
  /** [B·G, Mg, HW, Ns] */
  rpeBias?: tf.Tensor4D;
  /** [B·M, HW, Ns] */
  attnProb: tf.Tensor3D;
}

/**
 * `DAttentionBaseline`: deformable multi-head attention (dat.md §4). Queries are every pixel; keys
 * and values are Ns = Hk·Wk points per group, sampled bilinearly from the input at reference points
 * moved by offsets that a small conv net predicts from the queries; a relative position bias is
 * sampled from a table at the query-minus-point displacement.
 */
export class DAttentionBaseline extends Module implements Attention2d {
  readonly rpeTable: Parameter | null;
  readonly conv_offset: Sequential;
  readonly proj_q: Conv2d;
  readonly proj_k: Conv2d;
  readonly proj_v: Conv2d;
  readonly proj_out: Conv2d;
  readonly headDim: number;
  readonly scale: number;
  readonly numHeads: number;
  readonly groups: number;
  readonly stride: number;
  readonly offsetRangeFactor: number;
  constructor(
    readonly dim: number,
    readonly options: DAttentionOptions,
  ) {
    super();
    const { numHeads: M, groups: G, stride, ksize, qSize } = options;
    if (dim % M || dim % G || M % G)
      throw new InvalidArgumentError(
        `DAttentionBaseline: dim ${dim}, heads ${M} and groups ${G} must divide evenly (dim % heads, dim % groups, heads % groups)`,
      );
    this.numHeads = M;
    this.groups = G;
    this.stride = stride;
    this.headDim = dim / M;
    this.scale = this.headDim ** -0.5;
    this.offsetRangeFactor = options.offsetRangeFactor ?? -1;
    const Cg = dim / G;
    this.rpeTable = (options.usePe ?? true) ? this.param('rpe_table', [M, 2 * qSize[0] - 1, 2 * qSize[1] - 1]) : null;
    const pad = ksize !== stride ? Math.floor(ksize / 2) : 0;
    this.conv_offset = this.child(
      'conv_offset',
      new Sequential([
        new Conv2d(Cg, Cg, ksize, { stride, padding: pad, groups: Cg }),
        new LayerNormProxy(Cg),
        new GELU(),
        new Conv2d(Cg, 2, 1, { bias: false }),
      ]),
    );
    this.proj_q = this.child('proj_q', new Conv2d(dim, dim, 1));
    this.proj_k = this.child('proj_k', new Conv2d(dim, dim, 1));
    this.proj_v = this.child('proj_v', new Conv2d(dim, dim, 1));
    this.proj_out = this.child('proj_out', new Conv2d(dim, dim, 1));
  }

  /**
   * The largest logit (or position-bias row product) tensor one pass builds, in elements; above it the
   * queries go in chunks of rows (see {@link ATTENTION_CHUNK_ELEMENTS}). Same result either way.
   */
  maxChunkElements = ATTENTION_CHUNK_ELEMENTS;

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.run(x).out;
  }

  /** x [B,H,W,C] (the LayerNorm output) → [B,H,W,C]; with `collect`, also the intermediates. */
  run(x: tf.Tensor4D, collect = false): { out: tf.Tensor4D; intermediates?: DAttentionIntermediates } {
    assertMap('DAttentionBaseline', x, this.dim);
    const [B, H, W, C] = x.shape;
    if (H < 2 || W < 2)
      throw new InputSizeError(
        `DAttentionBaseline: the query map is ${H}×${W}; deformable attention needs at least 2×2 (the reference divides by H−1 and W−1 and returns NaN)`,
      );
    const { numHeads: M, groups: G, headDim: hc } = this;
    const Cg = C / G;
    const Mg = M / G;
    return tidyObj(() => {
      const q = this.proj_q.forward(x); // [B,H,W,C]
      // group-major split of the channels: row b·G + g holds channels g·Cg … of image b
      const toGroups = (t: tf.Tensor4D) =>
        tf.reshape(tf.transpose(tf.reshape(t, [B, H, W, G, Cg]), [0, 3, 1, 2, 4]), [B * G, H, W, Cg]) as tf.Tensor4D;
      const offsetRaw = this.conv_offset.forward(toGroups(q)) as tf.Tensor4D; // [B·G,Hk,Wk,2] (Δy,Δx)
      const [, Hk, Wk] = offsetRaw.shape;
      const Ns = Hk * Wk;
      let offset: tf.Tensor4D = offsetRaw;
      if (this.offsetRangeFactor >= 0) {
        const range = tf.tensor1d([1 / (Hk - 1), 1 / (Wk - 1)]);
        offset = tf.mul(tf.mul(tf.tanh(offsetRaw), range), this.offsetRangeFactor);
      }
      const reference = referencePoints(Hk, Wk, B * G); // [B·G,Hk,Wk,2] (y,x)
      const moved = tf.add(offset, reference) as tf.Tensor4D;
      const pos = this.offsetRangeFactor >= 0 ? moved : (tf.clipByValue(moved, -1, 1) as tf.Tensor4D);
      // sample the LN output x (not q) at pos; grid_sample wants (x, y)
      const xSampled = gridSample(toGroups(x), tf.reverse(pos, -1), { alignCorners: true, paddingMode: 'zeros' }); // [B·G,Hk,Wk,Cg]
      // [B·G,Hk,Wk,Cg] → [B,G,Ns,Cg] → [B,Ns,G,Cg] → [B,1,Ns,C]
      const kvIn = tf.reshape(tf.transpose(tf.reshape(xSampled, [B, G, Ns, Cg]), [0, 2, 1, 3]), [
        B,
        1,
        Ns,
        C,
      ]) as tf.Tensor4D;
      const heads = (t: tf.Tensor, n: number) =>
        tf.reshape(tf.transpose(tf.reshape(t, [B, n, M, hc]), [0, 2, 1, 3]), [B * M, n, hc]) as tf.Tensor3D;
      // keys directly as [B·M,hc,Ns]: tfjs-wasm's matMul with a transpose flag is much slower than a plain one
      const kT = tf.reshape(tf.transpose(tf.reshape(this.proj_k.forward(kvIn), [B, Ns, M, hc]), [0, 2, 3, 1]), [
        B * M,
        hc,
        Ns,
      ]) as tf.Tensor3D;
      const v = heads(this.proj_v.forward(kvIn), Ns); // [B·M,Ns,hc]
      const qh = heads(q, H * W); // [B·M,HW,hc]
      addMacs(2 * B * M * H * W * Ns * hc); // q·k and attn·v
      // query rows per pass: all of them, unless the [B·M, rows·W, Ns] logits or the position bias's
      // row products ([B·M, Ns, rows, Tw], Tw the table's width) would pass the chunk size; each query row's softmax
      // and product are independent of the others, so the chunks give the same rows (one pass when the
      // intermediates are asked for)
      const perRow = B * M * Ns * Math.max(W, this.rpeTable ? this.rpeTable.value.shape[2]! : 0);
      const rows = collect ? H : Math.max(1, Math.min(H, Math.floor(this.maxChunkElements / perRow)));
      let attnProb: tf.Tensor3D | undefined;
      let rpeBias: tf.Tensor4D | undefined;
      let o: tf.Tensor3D;
      if (rows >= H) {
        let logits: tf.Tensor3D = tf.mul(tf.matMul(qh, kT), this.scale); // [B·M,HW,Ns]
        if (this.rpeTable) {
          rpeBias = this.positionBias(pos, B, H, W, Mg);
          logits = tf.add(logits, tf.reshape(rpeBias, [B * M, H * W, Ns]));
        }
        attnProb = tf.softmax(logits) as tf.Tensor3D;
        o = tf.matMul(attnProb, v); // [B·M,HW,hc]
      } else {
        const parts: tf.Tensor3D[] = [];
        // the composite path's column weights, built once for every chunk (the fused kernel needs none)
        const columns = this.rpeTable && !separableGridSampleFused() ? this.positionBiasColumns(pos, B, W) : undefined;
        for (let r0 = 0; r0 < H; r0 += rows) {
          const r = Math.min(rows, H - r0);
          parts.push(
            tf.tidy(() => {
              let logits: tf.Tensor3D = tf.mul(
                tf.matMul(tf.slice(qh, [0, r0 * W, 0], [B * M, r * W, hc]), kT),
                this.scale,
              );
              if (this.rpeTable)
                logits = tf.add(
                  logits,
                  tf.reshape(this.positionBias(pos, B, H, W, Mg, r0, r, columns), [B * M, r * W, Ns]),
                );
              return tf.matMul(tf.softmax(logits) as tf.Tensor3D, v); // [B·M, r·W, hc]
            }),
          );
        }
        o = tf.concat(parts, 1);
      }
      // [B,M,HW,hc] → [B,HW,M,hc] → [B,H,W,C]
      const merged = tf.reshape(tf.transpose(tf.reshape(o, [B, M, H * W, hc]), [0, 2, 1, 3]), [
        B,
        H,
        W,
        C,
      ]) as tf.Tensor4D;
      const out = this.proj_out.forward(merged) as tf.Tensor4D;
      if (!collect) return { out };
      const intermediates: DAttentionIntermediates = {
        offsetRaw,
        reference,
        pos,
        xSampled,
        attnProb: attnProb!,
        ...(rpeBias ? { rpeBias } : {}),
      };
      return { out, intermediates };
    });
  }

  /**
   * Deformable relative position bias (dat.md §4.6): the table, viewed per group, sampled (bilinear,
   * align corners, zero padding) at half the displacement from each query pixel (align-corners grid of
   * the query map) to each sampling point. The query grid is separable, so this is
   * `separableGridSample` (a fused kernel with its own gradient on cpu/wasm, two matMuls elsewhere).
   * pos [B·G,Hk,Wk,2] (y,x) → [B·G, Mg, HW, Ns]; with `rowStart`/`rowCount`, the query rows
   * rowStart … rowStart + rowCount − 1 only → [B·G, Mg, rowCount·W, Ns].
   */
  positionBias(
    pos: tf.Tensor4D,
    B: number,
    H: number,
    W: number,
    Mg: number,
    rowStart = 0,
    rowCount = H,
    columns?: tf.Tensor3D,
  ): tf.Tensor4D {
    return tf.tidy(() => {
      const G = this.groups;
      const table = this.rpeTable!.value; // [M, Th, Tw]
      const [, Th, Tw] = table.shape as [number, number, number];
      // [M,Th,Tw] → [G,Mg,Th,Tw] → [G,Th,Tw,Mg]: row b·G + g of the grids uses group g's table
      const perGroup = tf.transpose(tf.reshape(table, [G, Mg, Th, Tw]), [0, 2, 3, 1]) as tf.Tensor4D;
      const gridY = this.#displacement(pos, B, tf.slice(alignedAxis(H), rowStart, rowCount), 0); // [B·G,rows,Ns]
      const gridX = this.#displacement(pos, B, alignedAxis(W), 1); // [B·G,W,Ns]
      return separableGridSample(perGroup, gridY, gridX, { alignCorners: true, ...(columns ? { columns } : {}) });
    });
  }

  /** The column weights of {@link positionBias} for a map of width W, to share between row chunks. */
  positionBiasColumns(pos: tf.Tensor4D, B: number, W: number): tf.Tensor3D {
    return tf.tidy(() =>
      separableColumnWeights(this.#displacement(pos, B, alignedAxis(W), 1), this.rpeTable!.value.shape[2]!, true),
    );
  }

  /** disp = (q − pos)·0.5 along one axis (0: y, from the query rows; 1: x, from the columns) → [B·G, n, Ns]. */
  #displacement(pos: tf.Tensor4D, B: number, q: tf.Tensor1D, axis: 0 | 1): tf.Tensor3D {
    return tf.tidy(() => {
      const [, Hk, Wk] = pos.shape;
      const Ns = Hk * Wk;
      const n = q.shape[0];
      const p = tf.slice(tf.reshape(pos, [B * this.groups, 1, Ns, 2]), [0, 0, 0, axis], [-1, -1, -1, 1]);
      return tf.reshape(tf.mul(tf.sub(tf.reshape(q, [1, n, 1, 1]), p), 0.5), [B * this.groups, n, Ns]) as tf.Tensor3D;
    });
  }
}

/**
 * The largest attention logit tensor (elements; 64 MiB of float32) one pass of the deformable attention
 * builds: above it the queries go in chunks of rows. DAT-T++ at 1024² has [2 heads, 65,536 queries,
 * 1,024 keys] of logits in stage 0 (512 MiB, and several more tensors that size while the position bias
 * is added and the softmax taken); at 768² a forward peaked at 2,054 MiB of tensors without chunks and
 * 906 MiB with them.
 */
export const ATTENTION_CHUNK_ELEMENTS = 1 << 24;

/** Reference points (dat.md §4.2, the official quirk kept): ((i + 0.5)/(Hk − 1))·2 − 1 → [n,Hk,Wk,2] (y,x). */
export function referencePoints(Hk: number, Wk: number, n: number): tf.Tensor4D {
  const data = new Float32Array(Hk * Wk * 2);
  for (let i = 0; i < Hk; i++)
    for (let j = 0; j < Wk; j++) {
      data[(i * Wk + j) * 2] = ((i + 0.5) / (Hk - 1)) * 2 - 1;
      data[(i * Wk + j) * 2 + 1] = ((j + 0.5) / (Wk - 1)) * 2 - 1;
    }
  return tf.tidy(() => tf.broadcastTo(tf.tensor4d(data, [1, Hk, Wk, 2]), [n, Hk, Wk, 2]) as tf.Tensor4D);
}

/** One axis of the align-corners query grid: (i/(n − 1))·2 − 1 for i = 0 … n−1 → [n]. */
function alignedAxis(n: number): tf.Tensor1D {
  return tf.tensor1d(Float32Array.from({ length: n }, (_, i) => (i / (n - 1)) * 2 - 1));
}

/** `TransformerMLP` (dat_plus): per-pixel Linear → GELU → Linear, parameters under `chunk`. */
export class TransformerMLP extends Module implements Layer {
  readonly chunk: MLPChunk;
  constructor(dim: number, expansion: number) {
    super();
    this.chunk = this.child('chunk', new MLPChunk(dim, expansion));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.chunk.forward(x);
  }
}

class MLPChunk extends Module implements Layer {
  readonly linear1: Linear;
  readonly linear2: Linear;
  constructor(dim: number, expansion: number) {
    super();
    this.linear1 = this.child('linear1', new Linear(dim, dim * expansion));
    this.linear2 = this.child('linear2', new Linear(dim * expansion, dim));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.linear2.forward(gelu(this.linear1.forward(x))));
  }
}

/** A block's attention: DAT's own (deformable or neighbourhood), or any mechanism swapped in. */
type DATAttention = Module & Attention2d;

/**
 * One stage: per block `x += LPU(x)` (optional), `x += DropPath(Attn(LN(x)))`, `x += DropPath(FFN(LN(x)))`,
 * block d's one `drop_path.d` serving both branches (the LPU residual has none), as the official stage.
 */
export class TransformerStage extends Module {
  readonly layer_norms: ModuleList<LayerNormProxy>;
  readonly mlps: ModuleList<Module & Layer>;
  readonly attns: ModuleList<DATAttention>;
  readonly local_perception_units: ModuleList<Module & Layer>;
  readonly drop_path: ModuleList<DropPath>;
  constructor(
    readonly dim: number,
    readonly spec: readonly BlockKind[],
    opts: {
      expansion: number;
      useDwcMlp: boolean;
      useLpu: boolean;
      natKsize: number;
      attention: DAttentionOptions;
      /** builds block d's attention instead of DAT's own (a swapped mechanism) */
      swap?: (block: number) => Attention2d;
      /** block d's drop-path rate (training only); all 0 when absent */
      dropPath?: readonly number[];
    },
  ) {
    super();
    const depth = spec.length;
    this.layer_norms = this.child(
      'layer_norms',
      new ModuleList(Array.from({ length: 2 * depth }, () => new LayerNormProxy(dim))),
    );
    this.mlps = this.child(
      'mlps',
      new ModuleList<Module & Layer>(
        spec.map(() =>
          opts.useDwcMlp
            ? new TransformerMLPWithConv(dim, dim * opts.expansion)
            : new TransformerMLP(dim, opts.expansion),
        ),
      ),
    );
    this.attns = this.child(
      'attns',
      new ModuleList<DATAttention>(
        spec.map((k, d) =>
          opts.swap
            ? (opts.swap(d) as DATAttention)
            : k === 'N'
              ? new NeighborhoodAttention2D(dim, opts.attention.numHeads, opts.natKsize)
              : new DAttentionBaseline(dim, opts.attention),
        ),
      ),
    );
    this.local_perception_units = this.child(
      'local_perception_units',
      new ModuleList<Module & Layer>(
        spec.map(() => (opts.useLpu ? new Conv2d(dim, dim, 3, { padding: 1, groups: dim }) : new Identity())),
      ),
    );
    this.drop_path = this.child('drop_path', new ModuleList(spec.map((_, d) => new DropPath(opts.dropPath?.[d] ?? 0))));
  }

  /** Block d: x [B,H,W,C] → [B,H,W,C]. */
  block(d: number, x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let h: tf.Tensor4D = x;
      if (this.local_perception_units.at(d) instanceof Conv2d)
        h = tf.add(h, this.local_perception_units.at(d).forward(h));
      const dp = this.drop_path.at(d);
      h = tf.add(h, dp.forward(this.attns.at(d).forward(this.layer_norms.at(2 * d).forward(h) as tf.Tensor4D)));
      return tf.add(h, dp.forward(this.mlps.at(d).forward(this.layer_norms.at(2 * d + 1).forward(h))));
    });
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.spec.reduce((h, _, d) => this.block(d, h), x));
  }
}

// ---------------------------------------------------------------------------------------------------
// Model

/**
 * DAT / DAT++. As a classifier (`outIndices` unset): stem → 4 stages with down-sampling → LayerNorm →
 * global mean → linear head. As a dense backbone (`outIndices` set, DAT-Segmentation/-Detection): the
 * four stage outputs, each LayerNormed if listed in `outIndices`; the next stage always consumes the
 * un-normalised map.
 */
export class DAT extends StagedModel {
  readonly kind: 'classifier' | 'backbone';
  readonly patch_proj: Sequential;
  readonly stages: ModuleList<TransformerStage>;
  readonly norms: ModuleList<Module & Layer> | null = null;
  readonly down_projs: ModuleList<Sequential>;
  readonly cls_norm: LayerNormProxy | null = null;
  readonly cls_head: Linear | null = null;
  readonly featureInfo: readonly FeatureInfo[];
  readonly numClasses: number;

  constructor(readonly config: DATConfig) {
    super('DAT');
    const c = config;
    validateConfig(c);
    this.kind = c.outIndices ? 'backbone' : 'classifier';
    this.patch_proj = this.child(
      'patch_proj',
      c.useConvPatches
        ? new Sequential([
            new Conv2d(3, c.dimStem / 2, 3, { stride: 2, padding: 1 }),
            new LayerNormProxy(c.dimStem / 2),
            new GELU(),
            new Conv2d(c.dimStem / 2, c.dimStem, 3, { stride: 2, padding: 1 }),
            new LayerNormProxy(c.dimStem),
          ])
        : new Sequential([new Conv2d(3, c.dimStem, 4, { stride: 4 }), new LayerNormProxy(c.dimStem)]),
    );
    const q0 = Math.floor(c.imgSize / 4);
    const dpr = dropPathRates(c.dropPathRate ?? 0, c.depths);
    this.stages = this.child(
      'stages',
      new ModuleList(
        c.dims.map(
          (dim, i) =>
            new TransformerStage(dim, c.stageSpec[i]!, {
              expansion: c.expansion,
              useDwcMlp: c.useDwcMlps[i]!,
              useLpu: c.useLpus[i]!,
              natKsize: c.natKsizes[i]!,
              dropPath: dpr[i]!,
              ...(c.attention?.[i]
                ? {
                    swap: (d: number) =>
                      c.attention![i]!({
                        dim,
                        numHeads: c.heads[i]!,
                        stage: i,
                        numStages: c.dims.length,
                        block: d,
                        mapSize: [q0 >> i, q0 >> i],
                        reduction: 4 << i,
                        window: c.natKsizes[i]!,
                        kernel: c.ksizes[i]!,
                      }),
                  }
                : {}),
              attention: {
                numHeads: c.heads[i]!,
                groups: c.groups[i]!,
                stride: c.strides[i]!,
                ksize: c.ksizes[i]!,
                qSize: [q0 >> i, q0 >> i],
                offsetRangeFactor: c.offsetRangeFactor[i]!,
                usePe: c.usePes[i]!,
              },
            }),
        ),
      ),
    );
    if (c.outIndices) {
      const outs = new Set(c.outIndices);
      const norms = c.dims.map((d, i) => (outs.has(i) ? new LayerNormProxy(d) : new Identity()));
      this.norms = this.child('norms', new ModuleList<Module & Layer>(norms));
    }
    this.down_projs = this.child(
      'down_projs',
      new ModuleList(
        c.dims.slice(0, -1).map((d, i) => {
          const next = c.dims[i + 1]!;
          const conv = c.useConvPatches
            ? new Conv2d(d, next, 3, { stride: 2, padding: 1, bias: false })
            : new Conv2d(d, next, 2, { stride: 2, bias: false });
          return new Sequential([conv, new LayerNormProxy(next)]);
        }),
      ),
    );
    if (!c.outIndices) {
      this.cls_norm = this.child('cls_norm', new LayerNormProxy(c.dims[3]!));
      this.cls_head = this.child('cls_head', new Linear(c.dims[3]!, c.numClasses));
    }
    this.numClasses = c.outIndices ? 0 : c.numClasses;
    this.featureInfo = c.dims.map((channels, i) => ({
      channels,
      reduction: 4 << i,
      module: c.outIndices ? `norms.${i}` : `stages.${i}`,
    }));
  }

  /** Spatial side of each stage map for an input side (DAT++: ⌈·/2⌉ per conv; dat_plus: floors). */
  featureSizes(side: number): number[] {
    return stageSizes(side, this.config.useConvPatches);
  }

  /** Stage i runs DAT's own deformable attention (not swapped out). */
  #deformable(i: number): boolean {
    return this.config.stageSpec[i]!.includes('D') && this.config.attention?.[i] === undefined;
  }

  /** Every deformable stage needs a map of at least 2×2 (the reference points divide by H−1, W−1). */
  protected override sizesOk(sizes: readonly number[]): boolean {
    return sizes.every((h, i) => h >= 1 && (!this.#deformable(i) || h >= 2));
  }

  protected override tooSmallReason(side: number): string {
    const i = this.featureSizes(side).findIndex((h, j) => h < 1 || (this.#deformable(j) && h < 2));
    return `the deformable attention of stage ${i} would see a 1-pixel map, where the reference divides by zero`;
  }

  protected downsample(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return (i === 0 ? this.patch_proj : this.down_projs.at(i - 1)).forward(x) as tf.Tensor4D;
  }

  protected stage(i: number, x: tf.Tensor4D): tf.Tensor4D {
    return this.stages.at(i).forward(x);
  }

  protected get outputNorms(): ModuleList<Module & Layer> | null {
    return this.norms;
  }

  /** LayerNorm → global mean → linear. */
  protected applyHead(last: tf.Tensor4D): tf.Tensor2D {
    return this.cls_head!.forward(tf.mean(this.cls_norm!.forward(last), [1, 2])) as tf.Tensor2D;
  }
}

function validateConfig(c: DATConfig): void {
  const perStage = [
    'dims',
    'depths',
    'stageSpec',
    'heads',
    'groups',
    'strides',
    'ksizes',
    'natKsizes',
    'offsetRangeFactor',
    'usePes',
    'useDwcMlps',
    'useLpus',
  ] as const;
  for (const k of perStage)
    if (c[k].length !== 4)
      throw new InvalidArgumentError(`DAT config: ${k} must have 4 entries (one per stage), got ${c[k].length}`);
  c.stageSpec.forEach((s, i) => {
    if (s.length !== c.depths[i])
      throw new InvalidArgumentError(`DAT config: stage ${i} has depth ${c.depths[i]} but ${s.length} block kinds`);
  });
  if (c.dimStem !== c.dims[0])
    throw new InvalidArgumentError(`DAT config: dim_stem (${c.dimStem}) must equal dims[0] (${c.dims[0]})`);
  c.dims.slice(1).forEach((d, i) => {
    if (d !== 2 * c.dims[i]!)
      throw new InvalidArgumentError(
        `DAT config: dims must double per stage (the official proj would crash otherwise), got ${c.dims.join(',')}`,
      );
  });
}

// ---------------------------------------------------------------------------------------------------
// Official configs

/** The official constructor kwargs (`DAT(**config.MODEL.DAT)`), as in the configs and golden metadata. */
export type DATOfficialConfig = OfficialConfig;

/**
 * Read official kwargs. Options that no released model uses and this port does not implement
 * (dwc_pes, fixed_pes, no_offs, layer scale, block kinds other than N/D) are refused by name.
 */
export function fromOfficialConfig(cfg: DATOfficialConfig, dense: boolean): DATConfig {
  const r = configReader('DAT config', cfg);
  const allFalse = (v: unknown) => Array.isArray(v) && v.every((x) => x === false);
  r.refuse('dwc_pes', allFalse);
  r.refuse('fixed_pes', allFalse);
  r.refuse('no_offs', allFalse);
  r.refuse('layer_scale_values', (v) => Array.isArray(v) && v.every((x) => typeof x === 'number' && x <= 0));
  const stageSpec = r.list<string[]>('stage_spec');
  for (const s of stageSpec)
    for (const k of s)
      if (k !== 'N' && k !== 'D')
        throw new NotImplementedError(
          `DAT config: block kind "${k}" is not supported (released models use only N and D)`,
        );
  const outIndices = dense ? r.numbers('out_indices', [0, 1, 2, 3]) : undefined;
  return {
    imgSize: r.num('img_size', 224),
    numClasses: r.num('num_classes', 1000),
    expansion: r.num('expansion', 4),
    dimStem: r.num('dim_stem'),
    dims: r.numbers('dims'),
    depths: r.numbers('depths'),
    stageSpec: stageSpec as BlockKind[][],
    heads: r.numbers('heads'),
    groups: r.numbers('groups'),
    strides: r.numbers('strides'),
    ksizes: r.numbers('ksizes'),
    natKsizes: r.numbers('nat_ksizes', [7, 7, 7, 7]),
    offsetRangeFactor: r.numbers('offset_range_factor', [-1, -1, -1, -1]),
    usePes: r.list<boolean>('use_pes', [true, true, true, true]),
    useDwcMlps: r.list<boolean>('use_dwc_mlps', [true, true, true, true]),
    useLpus: r.list<boolean>('use_lpus', [true, true, true, true]),
    useConvPatches: cfg['use_conv_patches'] === undefined ? true : cfg['use_conv_patches'] === true,
    dropPathRate: r.num('drop_path_rate', 0),
    ...(outIndices ? { outIndices } : {}),
  };
}

const DENSE_REFERENCES = ['LeapLabTHU/DAT-Segmentation', 'LeapLabTHU/DAT-Detection'];

/**
 * The model official metadata describes: `config` (the constructor kwargs as JSON) and `reference`
 * (a DAT-Segmentation / DAT-Detection reference builds the dense backbone).
 */
export function datFromReference(metadata: ReferenceMetadata): DAT {
  const repo = referenceRepo(metadata['reference'] ?? '').toLowerCase();
  const dense = DENSE_REFERENCES.some((r) => r.toLowerCase() === repo);
  return new DAT(fromOfficialConfig(referenceJson<DATOfficialConfig>(metadata, 'config', 'DAT'), dense));
}

// ---------------------------------------------------------------------------------------------------
// Variants

/** DAT's evaluation (`data/build.py`, `TEST.CROP`): Resize((256, 256)) — aspect NOT kept — then CenterCrop(224). */
const CLS_INPUT: InputConfig = { ...imagenetInput(224 / 256), cropMode: 'squash' };
const common = {
  img_size: 224,
  patch_size: 4,
  num_classes: 1000,
  expansion: 4,
  depths: [2, 4, 18, 2],
  stage_spec: [['N', 'D'], ['N', 'D', 'N', 'D'], Array.from({ length: 18 }, (_, i) => (i % 2 ? 'D' : 'N')), ['D', 'D']],
  window_sizes: [7, 7, 7, 7],
  use_pes: [true, true, true, true],
  dwc_pes: [false, false, false, false],
  strides: [8, 4, 2, 1],
  offset_range_factor: [-1, -1, -1, -1],
  no_offs: [false, false, false, false],
  fixed_pes: [false, false, false, false],
  use_dwc_mlps: [true, true, true, true],
  use_lpus: [true, true, true, true],
  use_conv_patches: true,
  ksizes: [9, 7, 5, 3],
  nat_ksizes: [7, 7, 7, 7],
};
const T = { dim_stem: 64, dims: [64, 128, 256, 512], heads: [2, 4, 8, 16], groups: [1, 2, 4, 8] };
const S = { dim_stem: 96, dims: [96, 192, 384, 768], heads: [3, 6, 12, 24], groups: [1, 2, 3, 6] };
const Bs = { dim_stem: 128, dims: [128, 256, 512, 1024], heads: [4, 8, 16, 32], groups: [2, 4, 8, 16] };
const DENSE = { out_indices: [0, 1, 2, 3] };
/**
 * DAT-Segmentation: mmseg Resize to (2048, 512) keep-ratio and no padding; DAT-Detection: the mmdet COCO
 * test pipeline, (1333, 800) with Pad(size_divisor=32).
 */
const DENSE_EVAL: DenseEvalConfig = {
  segmentation: { scale: [2048, 512] },
  detection: { scale: [1333, 800], padTo: 32 },
};
const SRC = 'LeapLabTHU/DAT@32173fc';
/**
 * Small models to train from scratch (`dynavit train --model dat_fmnist --data fashion-mnist`): the
 * reduced configuration of the public golden case `dat_pp_reduced` (0.66 M parameters) with 10
 * classes. Fashion-MNIST's 28×28 is resized straight to 64×64 (the reduced RPE tables are built for
 * 64), bilinear, no crop, ImageNet normalisation, as training resizes.
 */
const FMNIST_INPUT: InputConfig = { ...imagenetInput(1, 64), interpolation: 'bilinear', cropMode: 'squash' };
const FMNIST = {
  ...common,
  img_size: 64,
  num_classes: 10,
  dim_stem: 16,
  dims: [16, 32, 64, 128],
  depths: [2, 2, 2, 2],
  stage_spec: [
    ['N', 'D'],
    ['N', 'D'],
    ['N', 'D'],
    ['D', 'D'],
  ],
  heads: [2, 4, 4, 8],
  groups: [1, 2, 4, 2],
  drop_path_rate: 0.0,
};
const DENSE_SRC = 'LeapLabTHU/DAT-Segmentation@fdd2039 (same backbone in DAT-Detection; keys prefixed backbone.)';

export const variants = {
  dat_pp_tiny: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 23_962_876,
    source: `${SRC} configs/dat_tiny.yaml`,
    input: CLS_INPUT,
    config: { ...common, ...T, drop_path_rate: 0.2 },
  },
  dat_pp_small: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 53_127_366,
    source: `${SRC} configs/dat_small.yaml`,
    input: CLS_INPUT,
    config: { ...common, ...S, drop_path_rate: 0.4 },
  },
  dat_pp_base: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 93_690_640,
    source: `${SRC} configs/dat_base.yaml`,
    input: CLS_INPUT,
    config: { ...common, ...Bs, drop_path_rate: 0.7 },
  },
  dat_pp_base_384: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 93_690_640,
    source: `${SRC} configs/dat_base_384.yaml (img_size stays 224: same tensors as dat_pp_base, evaluated at 384 without crop)`,
    input: { ...CLS_INPUT, size: [384, 384], cropPct: 1 }, // `TEST.CROP: False`: Resize((384, 384)), no crop
    config: { ...common, ...Bs, drop_path_rate: 0.6 },
  },
  dat_plus_tiny: {
    kind: 'classifier',
    checkpointKey: 'model', // the official loader reads checkpoint['model']
    params: 22_772_796,
    source: `${SRC} configs/dat_p.yaml (no released weights)`,
    input: CLS_INPUT,
    config: {
      ...common,
      ...T,
      use_dwc_mlps: [false, false, false, false],
      use_lpus: [false, false, false, false],
      use_conv_patches: false,
      drop_path_rate: 0.2,
    },
  },
  dat_fmnist: {
    kind: 'classifier',
    params: 662_046,
    source: `${SRC}: golden case dat_pp_reduced, 10 classes, 64×64 (to train with dynavit train)`,
    input: FMNIST_INPUT,
    config: FMNIST,
  },
  dat_pp_tiny_dense: {
    kind: 'backbone',
    params: 23_450_772,
    source: DENSE_SRC,
    denseEval: DENSE_EVAL,
    config: { ...common, ...T, ...DENSE },
  },
  dat_pp_small_dense: {
    kind: 'backbone',
    denseEval: DENSE_EVAL,
    params: 52_359_710,
    source: DENSE_SRC,
    config: { ...common, ...S, ...DENSE },
  },
  dat_pp_base_dense: {
    kind: 'backbone',
    denseEval: DENSE_EVAL,
    params: 92_667_432,
    source: DENSE_SRC,
    config: { ...common, ...Bs, ...DENSE },
  },
} satisfies Record<string, Variant<DATOfficialConfig>>;

export type DATVariantName = keyof typeof variants;

/**
 * DAT's mechanisms for other families' stages, with DAT-T++'s per-stage settings: deformable attention
 * with offset groups heads/2, key stride 8 >> stage, offset kernel 9 − 2·stage, the deformable RPE table
 * built for the stage's map; neighbourhood attention with a 7×7 window (natten pads smaller maps).
 */
export const datAttention: readonly AttentionMechanism[] = [
  {
    name: 'dat.deformable',
    packageName: '@dynavit/dat',
    description:
      'DAT++ deformable attention (query-agnostic sampling points, deformable RPE), DAT-T++ settings per stage',
    constraints: 'channels divisible by the heads; a map of at least 2×2 at run time (reference points divide by H−1)',
    check: (ctx) =>
      divisibleHeads(ctx) ??
      (ctx.mapSize[0] < 2 || ctx.mapSize[1] < 2 ? 'the deformable reference points need a map of at least 2×2' : null),
    create: (ctx) =>
      new DAttentionBaseline(ctx.dim, {
        numHeads: ctx.numHeads,
        groups: largestDivisor(ctx.numHeads / 2, ctx.numHeads, ctx.dim),
        stride: Math.max(1, 8 >> ctx.stage),
        ksize: Math.max(3, 9 - 2 * ctx.stage),
        qSize: ctx.mapSize,
        offsetRangeFactor: -1,
        usePe: true,
      }),
  },
  {
    name: 'dat.neighborhood',
    packageName: '@dynavit/dat',
    description: 'neighbourhood attention (natten 0.14) with a relative position bias, 7×7 window',
    constraints: 'channels divisible by the heads; maps smaller than 7×7 are zero-padded as natten does',
    check: divisibleHeads,
    create: (ctx) => new NeighborhoodAttention2D(ctx.dim, ctx.numHeads, 7),
  },
];

export const dat: ModelFamily<DATOfficialConfig, DATVariantName> = {
  name: 'dat',
  packageName: '@dynavit/dat',
  references: ['LeapLabTHU/DAT', ...DENSE_REFERENCES],
  variants,
  create(name, options) {
    const v = variants[name];
    const cfg = fromOfficialConfig(v.config, v.kind === 'backbone');
    const attention = familyAttention(options?.attention, datAttention, cfg.dims.length, name);
    return asBuiltModel(
      new DAT({
        ...cfg,
        ...(options?.numClasses !== undefined ? { numClasses: options.numClasses } : {}),
        ...(options?.dropPathRate !== undefined ? { dropPathRate: options.dropPathRate } : {}),
        ...(attention ? { attention } : {}),
      }),
    );
  },
  fromReference: (metadata) => asBuiltModel(datFromReference(metadata)),
  attention: datAttention,
  classifierKeys: ['cls_norm.', 'cls_head.'],
  pretrained,
};
