/**
 * The model registry. Families register explicitly (`new Registry([dat, dbra])` or `registry.use(dat)`),
 * never as an import side effect; `createModel(name)` builds a registered variant by its official
 * builder name, and an unknown name fails listing the known names. Each family also says which
 * reference repositories its official configs come from and builds a model from such a config
 * (`fromReference`), which is how golden files and checkpoints with a config are read.
 */
import type { BuiltModel, DenseEvalConfig, InputConfig, ModelKind } from './contracts.js';
import { InvalidArgumentError, UnknownModelError } from './errors.js';
import { type AttentionMechanism, type AttentionOverrides, CORE_ATTENTION, resolveAttention } from './attention.js';
import { findPretrained, type PipelineTask, type PretrainedCheckpoint } from './zoo.js';

export interface Variant<C> {
  config: C;
  kind: ModelKind;
  /** parameter count of the official model (from the official code, not its README) */
  params: number;
  /** classifiers: the official evaluation transform */
  input?: InputConfig;
  /** dense backbones: the official segmentation/detection test pipelines */
  denseEval?: DenseEvalConfig;
  /** official repository and file the configuration comes from */
  source: string;
  /**
   * The top-level key of a released checkpoint that the official loader reads for this variant
   * (`model`; GLNet-16G: `model_ema`); absent: the reader's automatic choice.
   */
  checkpointKey?: string;
}

export interface CreateModelOptions {
  /** override the number of classes (classifiers, heads) */
  numClasses?: number;
  /**
   * per-stage attention (0-based stage → a registered mechanism's name, or a factory): every block of
   * the stage gets it instead of the family's own; classifiers and dense backbones
   */
  attention?: AttentionOverrides;
  /** heads: the channels of the backbone levels they take (default: the variant's `in_channels`) */
  inChannels?: readonly number[];
  /**
   * stochastic depth for training (timm's `drop_path_rate`: linspace(0, rate, Σ depths) over the
   * blocks), in [0, 1); default the variant's official training rate. No effect at inference.
   */
  dropPathRate?: number;
}

/** Metadata naming an official config: `reference` ("owner/repo@commit"), `config` (the constructor kwargs as JSON), and family-specific keys. */
export type ReferenceMetadata = Readonly<Record<string, string>>;

export interface ModelFamily<C = unknown, N extends string = string> {
  /** short family name: "dat", "dbra", "glmix", "heads" */
  readonly name: string;
  /** npm package that provides it */
  readonly packageName: string;
  /** reference repositories (owner/name) whose configs `fromReference` understands */
  readonly references: readonly string[];
  readonly variants: Readonly<Record<N, Variant<C>>>;
  create(name: N, options?: CreateModelOptions): BuiltModel;
  /** Build from official metadata: `reference` ("owner/repo@commit") and `config` (JSON kwargs). */
  fromReference(metadata: ReferenceMetadata): BuiltModel;
  /** the attention mechanisms the family registers (`dat.deformable`, …) */
  readonly attention?: readonly AttentionMechanism[];
  /** the family's released checkpoints (its model zoo), default release of each model first */
  readonly pretrained?: readonly PretrainedCheckpoint[];
  /**
   * State-dict keys (exact, or prefixes ending in ".") that only a classifier has: dropped when an
   * ImageNet checkpoint is loaded into one of the family's dense backbones.
   */
  readonly classifierKeys?: readonly string[];
}

export interface ModelListing {
  name: string;
  family: string;
  packageName: string;
  kind: ModelKind;
  params: number;
}

/** Split "owner/repo@commit" → "owner/repo". */
export function referenceRepo(reference: string): string {
  return reference.split('@')[0]!.trim();
}

/** Parse one JSON entry of reference metadata, with a typed error naming the key. */
export function referenceJson<T>(metadata: ReferenceMetadata, key: string, what: string): T {
  try {
    return JSON.parse(metadata[key] ?? '') as T;
  } catch {
    throw new InvalidArgumentError(
      `${what}: the "${key}" metadata is not JSON (reference ${metadata['reference'] ?? '?'})`,
    );
  }
}

export class Registry {
  readonly #families = new Map<string, ModelFamily>();

  constructor(families: readonly ModelFamily[] = []) {
    for (const f of families) this.use(f);
  }

  /** Register a family (idempotent for the same object). */
  use(family: ModelFamily): this {
    const prev = this.#families.get(family.name);
    if (prev && prev !== family)
      throw new InvalidArgumentError(`a different family named "${family.name}" is already registered`);
    for (const name of Object.keys(family.variants)) {
      const owner = this.#ownerOf(name);
      if (owner && owner !== family)
        throw new InvalidArgumentError(
          `model "${name}" is registered by both ${owner.packageName} and ${family.packageName}`,
        );
    }
    this.#families.set(family.name, family);
    return this;
  }

  families(): ModelFamily[] {
    return [...this.#families.values()];
  }

  #ownerOf(name: string): ModelFamily | undefined {
    for (const f of this.#families.values()) if (Object.hasOwn(f.variants, name)) return f;
    return undefined;
  }

  listModels(): ModelListing[] {
    return this.families().flatMap((f) =>
      Object.entries(f.variants as Record<string, Variant<unknown>>).map(([name, v]) => ({
        name,
        family: f.name,
        packageName: f.packageName,
        kind: v.kind,
        params: v.params,
      })),
    );
  }

  variant(name: string): { family: ModelFamily; variant: Variant<unknown> } {
    const family = this.#ownerOf(name);
    if (!family)
      throw new UnknownModelError(
        name,
        this.listModels().map((m) => m.name),
      );
    return { family, variant: (family.variants as Record<string, Variant<unknown>>)[name]! };
  }

  createModel(name: string, options?: CreateModelOptions): BuiltModel {
    const { family, variant } = this.variant(name);
    if (options?.attention === undefined) return family.create(name, options);
    if (variant.kind === 'head')
      throw new InvalidArgumentError(
        `attention: ${name} is a head; swap attention in a classifier or a dense backbone`,
      );
    // names resolve against every registered family's mechanisms; the family sees factories only
    const attention = resolveAttention(options.attention, this.attentionMechanisms(), 4, name);
    return family.create(name, { ...options, ...(attention ? { attention } : {}) });
  }

  /** Every mechanism a model can swap in: core's baselines and each registered family's, by name. */
  attentionMechanisms(): Map<string, AttentionMechanism> {
    const all = [...CORE_ATTENTION, ...this.families().flatMap((f) => [...(f.attention ?? [])])];
    return new Map(all.map((m) => [m.name, m] as const));
  }

  /** Every registered family's released checkpoints. */
  pretrained(): PretrainedCheckpoint[] {
    return this.families().flatMap((f) => [...(f.pretrained ?? [])]);
  }

  /** The default release of `model` for `task` (and `head`), or the release `id`; a typed error listing what exists. */
  findPretrained(query: { model: string; task?: PipelineTask; head?: string; id?: string }): PretrainedCheckpoint {
    if (query.id === undefined) this.variant(query.model); // an unknown model name lists the known ones
    return findPretrained(this.pretrained(), query);
  }

  /** The family whose reference repositories include `reference` ("owner/repo@commit"). */
  familyForReference(reference: string): ModelFamily | undefined {
    const repo = referenceRepo(reference).toLowerCase();
    return this.families().find((f) => f.references.some((r) => r.toLowerCase() === repo));
  }

  /** Build the model an official config describes; an unknown reference is a typed error listing the known ones. */
  fromReference(metadata: ReferenceMetadata): BuiltModel {
    const reference = metadata['reference'];
    if (!reference)
      throw new InvalidArgumentError('no "reference" metadata: cannot tell which official code the config belongs to');
    const family = this.familyForReference(reference);
    if (!family)
      throw new InvalidArgumentError(
        `no registered family reads configs from ${reference} (known: ${this.families()
          .flatMap((f) => f.references)
          .join(', ')})`,
      );
    return family.fromReference(metadata);
  }
}
