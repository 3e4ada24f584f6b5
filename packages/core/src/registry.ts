/**
 * The model registry. Families register explicitly (`registry.use(dat)`), never as an import side effect;
 * `createModel(name)` builds a registered variant by its official builder name, and an unknown name
 * fails listing the known names. Each family also says which reference repositories its golden/official
 * configs come from and how to build a model from such a config (used by the parity harness).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Classifier, DenseBackbone, InputConfig } from './contracts.js';
import { InvalidArgumentError, NotImplementedError, UnknownModelError } from './errors.js';
import type { SafetensorsFile } from './io/safetensors.js';
import type { Module } from './nn/module.js';
import type { OutputParity } from './parity.js';

export type ModelKind = 'classifier' | 'backbone' | 'head';

export interface Variant<C> {
  config: C;
  kind: ModelKind;
  /** parameter count of the official model (from the official code, not its README) */
  params: number;
  input?: InputConfig;
  /** official repository and file the configuration comes from */
  source: string;
}

export interface CreateModelOptions {
  /** override the number of classes (classifiers) */
  numClasses?: number;
}

/** A model built from a golden file's `reference` + `config` metadata, producing the golden outputs. */
export interface ParityModel {
  readonly model: Module;
  /**
   * The golden inputs (`input`, or `input.0`, `input.1`, … for heads fed with feature maps), laid out as
   * the golden stores them (NCHW) → outputs named and laid out as in the golden io file.
   */
  run(inputs: Readonly<Record<string, tf.Tensor>>, ioMetadata: Readonly<Record<string, string>>): Record<string, tf.Tensor>;
  /**
   * Compare outputs whose semantics are not plain tensors (e.g. detections matched as sets). Called
   * with the host copies of `run`'s outputs; outputs it does not return are compared element-wise.
   */
  compare?(outputs: Readonly<Record<string, HostTensor>>, io: SafetensorsFile, tolerance: number): OutputParity[];
}

/** A tensor read back to the host. */
export interface HostTensor {
  shape: number[];
  data: ArrayLike<number>;
}

export type BuiltModel = Classifier | DenseBackbone;

export interface ModelFamily<C = unknown, N extends string = string> {
  /** short family name: "dat", "dbra", "glmix", "heads" */
  readonly name: string;
  /** npm package that provides it */
  readonly packageName: string;
  /** reference repositories (owner/name) whose configs `fromReference` understands */
  readonly references: readonly string[];
  readonly variants: Readonly<Record<N, Variant<C>>>;
  /** false while the family is only declared (its variants are listed but cannot be built yet) */
  readonly implemented: boolean;
  create(name: N, options?: CreateModelOptions): BuiltModel;
  /** build from golden/official metadata: `reference` ("owner/repo@commit") and `config` (JSON) */
  fromReference(metadata: Readonly<Record<string, string>>): ParityModel;
}

export interface ModelListing {
  name: string;
  family: string;
  packageName: string;
  kind: ModelKind;
  params: number;
  implemented: boolean;
}

/** Split "owner/repo@commit" → "owner/repo". */
export function referenceRepo(reference: string): string {
  return reference.split('@')[0]!.trim();
}

export class Registry {
  readonly #families = new Map<string, ModelFamily>();

  /** Register a family (idempotent for the same object). */
  use(family: ModelFamily): this {
    const prev = this.#families.get(family.name);
    if (prev && prev !== family) throw new InvalidArgumentError(`a different family named "${family.name}" is already registered`);
    for (const name of Object.keys(family.variants)) {
      const owner = this.#ownerOf(name);
      if (owner && owner !== family) throw new InvalidArgumentError(`model "${name}" is registered by both ${owner.packageName} and ${family.packageName}`);
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
        implemented: f.implemented,
      })),
    );
  }

  variant(name: string): { family: ModelFamily; variant: Variant<unknown> } {
    const family = this.#ownerOf(name);
    if (!family) throw new UnknownModelError(name, this.listModels().map((m) => m.name));
    return { family, variant: (family.variants as Record<string, Variant<unknown>>)[name]! };
  }

  createModel(name: string, options?: CreateModelOptions): BuiltModel {
    const { family } = this.variant(name);
    if (!family.implemented) throw new NotImplementedError(`model "${name}" belongs to the ${family.name} family (${family.packageName}), which is not implemented yet`);
    return family.create(name, options);
  }

  /** The family whose reference repositories include `reference` ("owner/repo@commit"). */
  familyForReference(reference: string): ModelFamily | undefined {
    const repo = referenceRepo(reference).toLowerCase();
    return this.families().find((f) => f.references.some((r) => r.toLowerCase() === repo));
  }
}

/**
 * A family whose variants are declared (names, official parameter counts, sources) but whose model
 * code has not landed yet: it lists its models, and building one fails with a NotImplementedError that
 * names the package, instead of an unknown-model error or a crash.
 */
export function declaredFamily<C, N extends string>(spec: {
  name: string;
  packageName: string;
  references: readonly string[];
  variants: Readonly<Record<N, Variant<C>>>;
}): ModelFamily<C, N> {
  const fail = (what: string): never => {
    throw new NotImplementedError(`${what}: the ${spec.name} family (${spec.packageName}) is declared but not implemented yet`);
  };
  return {
    ...spec,
    implemented: false,
    create: (name) => fail(`cannot build "${name}"`),
    fromReference: (md) => fail(`cannot build a model from ${md['reference'] ?? 'this reference'}`),
  };
}
