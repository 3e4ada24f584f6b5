/**
 * Attention mechanisms as swappable parts. Each package registers its mechanisms under a stable name
 * (`dat.deformable`, `dbra.dbra`, `glmix.glmix`, core's `core.window`, …) with a factory that takes what a
 * stage knows (`AttentionContext`) and fills the rest from the mechanism's own official configs. A
 * family builds a stage's blocks with the factory an override names:
 * `registry.createModel('dat_pp_tiny', { attention: { 2: 'dbra.dbra' } })` replaces the attention of every
 * block of stage 2 (0-based), the rest of each block (norms, MLP, position encodings, down-sampling) kept.
 *
 * A mechanism states its constraints; a stage that breaks one is an `AttentionConstraintError` naming the
 * stage, its map size and the constraint.
 */
import type { Attention2d } from './contracts.js';
import { DynavitError, InvalidArgumentError } from './errors.js';
import { DWConvMixer, GlobalAttention, WindowAttention } from './nn/attention-baselines.js';
import { initializeWeights } from './nn/init.js';

/** What a stage knows about the attention it needs. */
export interface AttentionContext {
  /** channels of the stage */
  dim: number;
  /** heads the family's own attention uses in this stage */
  numHeads: number;
  /** 0-based stage index */
  stage: number;
  /** the family's number of stages */
  numStages: number;
  /** 0-based index of the block within the stage, and of the attention within the block (DeBiFormer has two) */
  block: number;
  /**
   * [height, width] of the stage's map at the model's reference input (224² for the classifiers; DAT's
   * `imgSize`): what tables sized at construction (relative position biases) are built for
   */
  mapSize: readonly [number, number];
  /** the stage's stride relative to the input (4, 8, 16, 32) */
  reduction: number;
  /** hints a family may give: its window / region count, its kernel */
  window?: number;
  kernel?: number;
}

/** Builds an attention for one block of a stage. */
export type AttentionFactory = (ctx: AttentionContext) => Attention2d;

/** A registered mechanism. */
export interface AttentionMechanism {
  /** stable name, `<package>.<mechanism>` */
  readonly name: string;
  /** npm package that provides it */
  readonly packageName: string;
  /** one line: what it is, from which paper/code */
  readonly description: string;
  /** its constraints, as the user reads them (`dynavit list --attention`) */
  readonly constraints: string;
  /** the constraint `ctx` breaks, or null when it can be built */
  check(ctx: AttentionContext): string | null;
  create(ctx: AttentionContext): Attention2d;
}

/** An override: a registered mechanism's name, or a factory. */
export type AttentionOverride = string | AttentionFactory;

/** Per-stage overrides, by 0-based stage index. */
export type AttentionOverrides = Readonly<Record<number, AttentionOverride>>;

/** Per-stage factories, resolved from overrides (what `ModelFamily.create` receives). */
export type AttentionFactories = Readonly<Record<number, AttentionFactory>>;

/** A stage breaks a mechanism's constraint. */
export class AttentionConstraintError extends DynavitError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
    this.name = 'AttentionConstraintError';
  }
}

/** The one-line description of a stage in errors: "stage 3 (7×7 map, 512 channels, 16 heads)". */
export function describeStage(ctx: AttentionContext): string {
  return `stage ${ctx.stage} (${ctx.mapSize[0]}×${ctx.mapSize[1]} map, ${ctx.dim} channels, ${ctx.numHeads} heads)`;
}

/**
 * A factory that checks the mechanism's constraints, builds it, and initialises it for training as
 * official code does (`initializeWeights`; seeded by stage and block, so the same everywhere).
 */
export function checkedFactory(m: AttentionMechanism): AttentionFactory {
  return (ctx) => {
    const broken = m.check(ctx);
    if (broken) throw new AttentionConstraintError(`${m.name} cannot go in ${describeStage(ctx)}: ${broken}`);
    const a = m.create(ctx);
    initializeWeights(a, 1000 * ctx.stage + ctx.block + 1);
    return a;
  };
}

/** Check and resolve overrides against the mechanisms known and a family's stage count. */
export function resolveAttention(
  overrides: AttentionOverrides | undefined,
  mechanisms: ReadonlyMap<string, AttentionMechanism>,
  numStages: number,
  model: string,
): AttentionFactories | undefined {
  if (overrides === undefined) return undefined;
  const out: Record<number, AttentionFactory> = {};
  for (const [key, spec] of Object.entries(overrides)) {
    const stage = Number(key);
    if (!Number.isInteger(stage) || stage < 0 || stage >= numStages)
      throw new InvalidArgumentError(
        `attention: ${model} has stages 0–${numStages - 1}, got stage ${JSON.stringify(key)}`,
      );
    if (typeof spec === 'function') out[stage] = spec;
    else {
      const m = mechanisms.get(spec);
      if (!m)
        throw new InvalidArgumentError(
          `attention: unknown mechanism "${spec}"; known: ${[...mechanisms.keys()].sort().join(', ')}`,
        );
      out[stage] = checkedFactory(m);
    }
  }
  return out;
}

/**
 * Parse `STAGE=NAME[,STAGE=NAME…]` (the CLI's `--attention`) into overrides; a typed error for anything else.
 */
export function parseAttentionOverrides(text: string): Record<number, string> {
  const out: Record<number, string> = {};
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*=\s*([\w.-]+)\s*$/.exec(part);
    if (!m)
      throw new InvalidArgumentError(`--attention must be STAGE=NAME[,STAGE=NAME…] (e.g. 2=dbra.dbra), got "${text}"`);
    const stage = Number(m[1]);
    if (stage in out) throw new InvalidArgumentError(`--attention names stage ${stage} twice`);
    out[stage] = m[2]!;
  }
  return out;
}

/** The constraint every multi-head mechanism has: null when the stage's channels divide into its heads. */
export const divisibleHeads = (ctx: AttentionContext): string | null =>
  ctx.dim % ctx.numHeads === 0 ? null : `its ${ctx.dim} channels are not divisible by ${ctx.numHeads} heads`;

/** The largest g ≤ `want` that divides every value (1 at least): e.g. a mechanism's offset groups for another family's heads. */
export function largestDivisor(want: number, ...values: number[]): number {
  for (let g = Math.max(1, Math.floor(want)); g > 1; g--) if (values.every((v) => v % g === 0)) return g;
  return 1;
}

/** The model-free baselines (core's own mechanisms). */
export const CORE_ATTENTION: readonly AttentionMechanism[] = [
  {
    name: 'core.global',
    packageName: '@dynavit/core',
    description: 'plain multi-head self-attention over all H·W tokens (ViT), O((HW)²)',
    constraints: 'channels divisible by the heads',
    check: divisibleHeads,
    create: (ctx) => new GlobalAttention(ctx.dim, ctx.numHeads),
  },
  {
    name: 'core.window',
    packageName: '@dynavit/core',
    description:
      'Swin shifted-window attention, 7×7 windows (the stage’s window hint if given), relative position bias; odd blocks shifted by ⌊w/2⌋',
    constraints: 'channels divisible by the heads; maps are padded to multiples of the window',
    check: divisibleHeads,
    create: (ctx) => {
      const w = Math.max(1, Math.min(ctx.window ?? 7, ctx.mapSize[0], ctx.mapSize[1]));
      return new WindowAttention(ctx.dim, ctx.numHeads, w, ctx.block % 2 === 1 ? Math.floor(w / 2) : 0);
    },
  },
  {
    name: 'core.dwconv',
    packageName: '@dynavit/core',
    description: 'depthwise 7×7 convolution then a pointwise projection (ConvNeXt-style mixing)',
    constraints: 'none',
    check: () => null,
    create: (ctx) => new DWConvMixer(ctx.dim, ctx.kernel !== undefined && ctx.kernel % 2 === 1 ? ctx.kernel : 7),
  },
];

/**
 * Overrides given to a family's own `create` (without a Registry): names resolve against the family's
 * mechanisms and core's; another package's mechanism needs a `Registry` that has its family.
 */
export function familyAttention(
  overrides: AttentionOverrides | undefined,
  own: readonly AttentionMechanism[],
  numStages: number,
  model: string,
): AttentionFactories | undefined {
  const known = new Map([...CORE_ATTENTION, ...own].map((m) => [m.name, m] as const));
  for (const spec of Object.values(overrides ?? {}))
    if (typeof spec === 'string' && !known.has(spec) && /^\w+\./.test(spec) && !spec.startsWith('core.'))
      throw new InvalidArgumentError(
        `attention: "${spec}" belongs to another package; build ${model} through a Registry that has that family ` +
          `(new Registry([…]).createModel('${model}', { attention }))`,
      );
  return resolveAttention(overrides, known, numStages, model);
}

/**
 * The largest modules whose every tensor is in `fresh` (what a partial load left as initialised), by
 * state-dict path: for a hybrid loaded from its family's checkpoint these are the swapped attention slots
 * (`stages.2.attns.0`, …). A key whose module also holds loaded tensors is listed itself.
 */
export function freshModules(allKeys: Iterable<string>, fresh: Iterable<string>): string[] {
  const freshSet = new Set(fresh);
  const total = new Map<string, number>();
  const unfilled = new Map<string, number>();
  for (const k of allKeys) {
    const parts = k.split('.');
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('.');
      total.set(p, (total.get(p) ?? 0) + 1);
      if (freshSet.has(k)) unfilled.set(p, (unfilled.get(p) ?? 0) + 1);
    }
  }
  const whole = (p: string) => total.has(p) && total.get(p) === unfilled.get(p);
  const out: string[] = [];
  for (const k of freshSet) {
    const parts = k.split('.');
    let top: string | null = null;
    for (let i = 1; i < parts.length; i++) {
      const p = parts.slice(0, i).join('.');
      if (whole(p)) {
        top = p;
        break;
      }
    }
    const name = top ?? k;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}
