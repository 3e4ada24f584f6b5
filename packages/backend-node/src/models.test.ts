/**
 * The generic model test (timm's `tests/test_models.py` is the example): every registered variant of
 * every family, freshly initialised, at a small non-square input — its kind and parameter count against
 * the registry's listing (the official counts), the feature pyramid against `featureInfo` and
 * `featureSizes`, the classifier contract `forward = forwardHead(forwardFeatures)`, a backbone's typed
 * refusal of `forward`, the heads' contract, and no tensor leaked. The forwards run on wasm in one child
 * process (`test-utils/model-contract.mjs`, on the built packages): DeBiFormer-B's detection backbone
 * pads every stage to 32×32 regions and takes ~2 minutes there, longer than vitest's worker RPC waits.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FeatureInfo } from '@dynavit/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from './registry.js';

interface Facts {
  name: string;
  kind: string;
  params: number;
  leaked: number;
  task?: string;
  inChannels?: number[];
  numClasses?: number;
  input?: [number, number];
  featureInfo?: FeatureInfo[];
  featureSizes?: { h: number[]; w: number[]; 224: number[] };
  shapes?: number[][];
  finite?: boolean;
  logitsShape?: number[];
  forwardVsHead?: number;
  forwardError?: string | null;
}

const models = createRegistry().listModels();
const facts = new Map<string, Facts>();

describe('every registered model', () => {
  beforeAll(async () => {
    const script = fileURLToPath(new URL('./test-utils/model-contract.mjs', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [script], {
      maxBuffer: 1 << 26,
      timeout: 1_500_000,
    });
    for (const line of stdout.trim().split('\n')) {
      const f = JSON.parse(line) as Facts;
      facts.set(f.name, f);
    }
  }, 1_600_000);

  it('covers every family, each model once', () => {
    expect(new Set(models.map((m) => m.family))).toEqual(new Set(['dat', 'dbra', 'glmix', 'heads']));
    expect([...facts.keys()]).toEqual(models.map((m) => m.name));
  });

  for (const listing of models) {
    it(`${listing.name} (${listing.kind})`, () => {
      const f = facts.get(listing.name)!;
      expect(f.kind).toBe(listing.kind);
      expect(f.params).toBe(listing.params);
      expect(f.leaked).toBe(0);
      if (f.kind === 'head') {
        expect(['segmentation', 'detection']).toContain(f.task);
        expect(f.inChannels!.length).toBeGreaterThan(0);
        expect(f.numClasses).toBeGreaterThan(0);
        return;
      }
      const info = f.featureInfo!;
      // strides 4·2^i, so a 224 input gives 56, 28, 14, 7
      expect(info.map((i) => i.reduction)).toEqual(info.map((_, i) => 4 << i));
      expect(f.featureSizes![224]).toEqual(info.map((i) => 224 / i.reduction));
      // the maps are what featureInfo and featureSizes say, and finite
      const [h] = f.input!;
      expect(f.input).toEqual([h, h + 32]);
      expect(f.shapes).toEqual(info.map((i, k) => [1, f.featureSizes!.h[k], f.featureSizes!.w[k], i.channels]));
      expect(f.finite).toBe(true);
      if (f.kind === 'classifier') {
        expect(f.logitsShape).toEqual([1, f.numClasses]);
        expect(f.forwardVsHead).toBeLessThanOrEqual(1e-5);
      } else expect(f.forwardError).toMatch(/dense backbone \(no classifier\); use forwardFeatures/);
    });
  }
});
