/**
 * `--attention STAGE=NAME[,STAGE=NAME…]` (info, bench, run): parsed and checked against the registry —
 * the mechanism names and the model's stages — before any backend starts or any model is built.
 */
import { type AttentionOverrides, InvalidArgumentError, parseAttentionOverrides, type Registry } from '@dynavit/core';

export function attentionOption(
  value: string | undefined,
  registry: Registry,
  model: string,
): AttentionOverrides | undefined {
  if (value === undefined) return undefined;
  const { variant } = registry.variant(model);
  if (variant.kind === 'head')
    throw new InvalidArgumentError(
      `--attention: ${model} is a head; swap attention in a classifier or a dense backbone`,
    );
  const overrides = parseAttentionOverrides(value);
  const known = registry.attentionMechanisms();
  for (const [stage, name] of Object.entries(overrides)) {
    if (Number(stage) > 3) throw new InvalidArgumentError(`--attention: ${model} has stages 0–3, got stage ${stage}`);
    if (!known.has(name))
      throw new InvalidArgumentError(
        `--attention: unknown mechanism "${name}"; known: ${[...known.keys()].sort().join(', ')} (dynavit list --attention)`,
      );
  }
  return overrides;
}

/** "stage 2 → dbra.dbra, stage 3 → glmix.glmix", for what a command prints. */
export function describeOverrides(o: AttentionOverrides): string {
  return Object.entries(o)
    .map(([s, n]) => `stage ${s} → ${typeof n === 'string' ? n : 'a factory'}`)
    .join(', ');
}
