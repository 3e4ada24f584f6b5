/**
 * Attention swapping, the matrix: every registered mechanism in every family's skeleton (the reduced
 * configs of the golden cases, loaded with their official-code weights) at every stage — forward shapes,
 * featureInfo unchanged, the partial load reporting exactly the swapped slots as fresh, finite non-zero
 * gradients for the new parameters (cpu: tfjs-wasm has no gather gradient), no tensor leaks; the forward
 * on wasm too. Then: strict loading of an official checkpoint into a hybrid lists exactly the swapped
 * keys, un-swapped models are what they were, constraints and bad input are one typed line, and the CLI.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {
  type AttentionFactories,
  AttentionConstraintError,
  asBuiltModel,
  type Classifier,
  readSafetensors,
  resolveAttention,
  type StateDict,
  StateDictError,
  writeSafetensors,
} from '@dynavit/core';
import { seededWeights } from '@dynavit/core/testing';
import { DAT, fromOfficialConfig as datConfig } from '@dynavit/dat';
import { DeBiFormer, fromOfficialConfig as dbraConfig } from '@dynavit/dbra';
import { GLNet, fromOfficialConfig as glnetConfig } from '@dynavit/glmix';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backends.js';
import { createRegistry } from './registry.js';
import { runCli } from './test-utils/run-cli.js';

const registry = createRegistry();
const MECHANISMS = [...registry.attentionMechanisms().keys()];
const golden = (pkg: string, name: string) =>
  readSafetensors(
    new Uint8Array(
      readFileSync(
        fileURLToPath(new URL(`../../${pkg}/src/__fixtures__/golden/${name}.weights.safetensors`, import.meta.url)),
      ),
    ),
  );

interface Skeleton {
  family: string;
  /** a fresh model, with the given stages swapped */
  build(attention?: AttentionFactories): Classifier;
  weights: StateDict;
  input: [number, number];
  /** the state-dict prefix of stage s's attention slot(s) in block j */
  slots(stage: number, block: number): string[];
  /** the prefixes of the official mixer's tensors a swap replaces in block j (default: the slots) */
  replaced?(stage: number, block: number): string[];
  depth(stage: number): number;
}

function skeletons(): Skeleton[] {
  const d = golden('dat', 'dat_pp_reduced');
  const b = golden('dbra', 'cls_tiny_reduced');
  const g = golden('glmix', 'g_reduced_96x128');
  const dc = datConfig(JSON.parse(d.metadata['config']!), false);
  const bc = dbraConfig(JSON.parse(b.metadata['config']!), false, JSON.parse(b.metadata['derived']!));
  const gc = glnetConfig(JSON.parse(g.metadata['config']!), { modelClass: 'GLNet', dense: false });
  return [
    {
      family: 'dat',
      build: (attention) => classifier(new DAT({ ...dc, ...(attention ? { attention } : {}) })),
      weights: d.tensors,
      input: [64, 64],
      slots: (s, j) => [`stages.${s}.attns.${j}`],
      depth: (s) => dc.depths[s]!,
    },
    {
      family: 'dbra',
      build: (attention) =>
        classifier(
          new DeBiFormer({
            ...bc,
            stages: bc.stages.map((st, i) => (attention?.[i] ? { ...st, swap: attention[i] } : st)),
          }),
        ),
      weights: b.tensors,
      input: [112, 112],
      slots: (s, j) => [`stages.${s}.${j}.attn1`, `stages.${s}.${j}.attn2`],
      depth: (s) => bc.stages[s]!.depth,
    },
    {
      family: 'glmix',
      build: (attention) => classifier(new GLNet({ ...gc, ...(attention ? { attention } : {}) })),
      weights: g.tensors,
      input: [64, 64],
      slots: (s, j) => [`stages.${s}.blocks.${j}.attn`],
      // GLNet's mixers live in the block itself: GLMix's relation MHA, local branch and slot scale, or MHSA's mha_op
      replaced: (s, j) =>
        ['relation_mha', 'feature_conv', 'slot_scale', 'init_slots', 'mha_op'].map(
          (m) => `stages.${s}.blocks.${j}.${m}`,
        ),
      depth: (s) => gc.depth[s]!,
    },
  ];
}

function classifier(m: Parameters<typeof asBuiltModel>[0]): Classifier {
  const b = asBuiltModel(m);
  if (b.kind !== 'classifier') throw new Error(`a ${b.kind}, not a classifier`);
  return b;
}

const factories = (stage: number, name: string) =>
  resolveAttention({ [stage]: name }, registry.attentionMechanisms(), 4, 'skeleton')!;

beforeAll(async () => {
  await import('@tensorflow/tfjs'); // registers the gradients on the shared engine (tfjs-core's Node bundle has none)
});

describe.each(skeletons().map((s) => [s.family, s] as const))('%s skeleton', (_, sk) => {
  let plainInfo: Classifier['featureInfo'] = [];
  let plainKeys = new Set<string>();
  beforeAll(async () => {
    await selectBackend({ prefer: 'cpu' });
    const plain = sk.build();
    plainInfo = plain.featureInfo;
    plainKeys = new Set(plain.stateDictShapes().map(([k]) => k));
    plain.dispose();
  });

  it.each(
    MECHANISMS.flatMap((m) => [0, 1, 2, 3].map((s) => [m, s] as const)),
  )('%s at stage %i: shapes, featureInfo, fresh slots, gradients (cpu), forward on wasm, no leaks', async (mechanism, stage) => {
    await selectBackend({ prefer: 'cpu' });
    const start = tf.memory().numTensors;
    const model = sk.build(factories(stage, mechanism));
    try {
      expect(model.featureInfo).toEqual(plainInfo);
      // the official weights load into everything but the swapped slots, which are reported
      const r = model.loadStateDict(sk.weights, { strict: false });
      const blocks = Array.from({ length: sk.depth(stage) }, (_, j) => j);
      const under = (prefixes: string[]) => (k: string) => prefixes.some((p) => k === p || k.startsWith(`${p}.`));
      const inSlot = under(blocks.flatMap((j) => sk.slots(stage, j)));
      const replaced = under(blocks.flatMap((j) => (sk.replaced ?? sk.slots)(stage, j)));
      expect(r.missing.filter((k) => !inSlot(k))).toEqual([]);
      expect(r.unexpected.filter((k) => !replaced(k) || !plainKeys.has(k))).toEqual([]);
      const x = tf.randomNormal([1, ...sk.input, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
      const c = tf.randomNormal([1, model.numClasses], 0, 1, 'float32', 4);
      const fresh = [...model.namedParameters()].filter(([k]) => inSlot(k)).map(([, p]) => p.variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.forward(x), c)) as tf.Scalar, fresh);
      expect(Number.isFinite((await value.data())[0]!)).toBe(true);
      let nonZero = 0;
      for (const g of Object.values(grads)) {
        const v = await g.data();
        expect(v.every(Number.isFinite)).toBe(true);
        if (v.some((e) => e !== 0)) nonZero++;
      }
      // every swapped tensor gets a gradient; the mechanism learns (most tensors move, some biases may not)
      expect(Object.keys(grads)).toHaveLength(fresh.length);
      expect(nonZero).toBeGreaterThan(fresh.length / 2);
      tf.dispose([value, ...Object.values(grads)]);
      const yc = model.forward(x);
      const cpu = await yc.data();
      yc.dispose();
      // the same hybrid forward on wasm
      await selectBackend({ prefer: 'wasm' });
      const onWasm = sk.build(factories(stage, mechanism));
      onWasm.loadStateDict(model.stateDict());
      const xw = tf.tensor4d(await x.data(), x.shape);
      const yw = onWasm.forward(xw);
      expect(yw.shape).toEqual([1, model.numClasses]);
      const w = await yw.data();
      const scale = Math.max(1, ...Array.from(cpu, Math.abs));
      expect(Math.max(...Array.from(w, (v, i) => Math.abs(v - cpu[i]!)))).toBeLessThanOrEqual(1e-4 * scale);
      tf.dispose([xw, yw]);
      onWasm.dispose();
      await selectBackend({ prefer: 'cpu' });
      tf.dispose([x, c]);
    } finally {
      model.dispose();
    }
    expect(tf.memory().numTensors).toBe(start);
  });
});

describe('hybrids and their checkpoints', () => {
  it('strict loading of the official weights into a hybrid fails listing exactly the swapped keys', async () => {
    await selectBackend({ prefer: 'cpu' });
    const [dat] = skeletons();
    const hybrid = dat!.build(factories(2, 'dbra.dbra'));
    const err = (() => {
      try {
        hybrid.loadStateDict(dat!.weights);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StateDictError);
    const e = err as StateDictError;
    expect(e.missing.every((k) => /^stages\.2\.attns\.[01]\./.test(k))).toBe(true);
    expect(e.unexpected.every((k) => /^stages\.2\.attns\.[01]\./.test(k))).toBe(true);
    expect(e.missing.length + e.unexpected.length).toBeGreaterThan(0);
    expect(e.misshapen).toEqual([]);
    hybrid.dispose();
  });

  it('an un-swapped model is what it was: the same keys, the same output', async () => {
    await selectBackend({ prefer: 'cpu' });
    for (const sk of skeletons()) {
      const a = sk.build();
      const b = sk.build({});
      a.loadStateDict(sk.weights);
      b.loadStateDict(sk.weights);
      const x = tf.randomNormal([1, ...sk.input, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
      const [ya, yb] = [a.forward(x), b.forward(x)];
      expect(Array.from(await yb.data())).toEqual(Array.from(await ya.data()));
      tf.dispose([x, ya, yb]);
      a.dispose();
      b.dispose();
    }
  });

  it('a stage that breaks a constraint is one typed line naming the stage, its map and the constraint', () => {
    const d = golden('dat', 'dat_pp_reduced');
    const small = datConfig({ ...JSON.parse(d.metadata['config']!), img_size: 32 }, false);
    expect(() => new DAT({ ...small, attention: factories(3, 'dat.deformable') })).toThrow(AttentionConstraintError);
    expect(() => new DAT({ ...small, attention: factories(3, 'dat.deformable') })).toThrow(
      /^dat\.deformable cannot go in stage 3 \(1×1 map, 128 channels, 8 heads\): the deformable reference points need a map of at least 2×2$/,
    );
  });

  it('the registry: names across packages, bad stages and names are typed errors; heads refuse', () => {
    const m = registry.createModel('glnet_4g', { attention: { 3: 'dat.neighborhood' } });
    expect(m.stateDictShapes().some(([k]) => k.startsWith('stages.3.blocks.0.attn.rpb'))).toBe(true);
    m.dispose();
    expect(() => registry.createModel('debi_tiny', { attention: { 4: 'core.window' } })).toThrow(
      'attention: debi_tiny has stages 0–3, got stage "4"',
    );
    expect(() => registry.createModel('debi_tiny', { attention: { 0: 'swin' } })).toThrow(
      /^attention: unknown mechanism "swin"; known: core\.dwconv, core\.global, core\.window, dat\.deformable/,
    );
    expect(() => registry.createModel('upernet_ade20k', { attention: { 0: 'core.window' } })).toThrow(
      'attention: upernet_ade20k is a head; swap attention in a classifier or a dense backbone',
    );
  });
});

describe('the CLI', () => {
  it('run: hybrids under UperNet and Mask R-CNN; official weights into a hybrid: strict fails, --partial reports the slots', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'dynavit-attn-'));
    const photo = fileURLToPath(new URL('./__fixtures__/images/chelsea.png', import.meta.url));
    const seg = await runCli([
      'run',
      photo,
      '--model',
      'debi_tiny_seg',
      '--task',
      'segment',
      '--attention',
      '3=glmix.glmix',
      '--scale',
      '256,128',
      '--out',
      tmp,
      '--backend',
      'wasm',
    ]);
    expect(seg.code, seg.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(tmp, 'chelsea.segment.json'), 'utf8')).result.head).toBe('upernet_ade20k');
    const det = await runCli([
      'run',
      photo,
      '--model',
      'dat_pp_tiny_dense',
      '--task',
      'detect',
      '--head',
      'maskrcnn_coco_dat',
      '--attention',
      '2=core.window',
      '--scale',
      '256,160',
      '--out',
      tmp,
      '--backend',
      'wasm',
    ]);
    expect(det.code, det.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(tmp, 'chelsea.detect.json'), 'utf8')).result.head).toBe('maskrcnn_coco_dat');
    // a debi_tiny checkpoint (seeded) into debi_tiny with stage 3 swapped
    await selectBackend({ prefer: 'cpu' });
    const m = registry.createModel('debi_tiny');
    const file = join(tmp, 'debi_tiny.safetensors');
    writeFileSync(file, writeSafetensors(seededWeights(m.stateDict(), 2)));
    m.dispose();
    const args = [
      'run',
      photo,
      '--model',
      'debi_tiny',
      '--weights',
      file,
      '--attention',
      '3=core.window',
      '--out',
      tmp,
      '--backend',
      'wasm',
    ];
    const strict = await runCli(args);
    expect(strict.code).toBe(1);
    expect(strict.stderr.trim().split('\n')).toHaveLength(1);
    // exactly the swapped slots: the window attention's keys missing, DBRA's keys of the same slots unexpected
    expect(strict.stderr).toMatch(
      /^dynavit: state dict does not match \(.*\): 10 missing key\(s\): stages\.3\.0\.attn1\.relative_position_bias_table, stages\.3\.0\.attn1\.qkv\.weight, .*; 58 unexpected key\(s\): stages\.3\.0\.attn1\.rpe_table, /,
    );
    expect(strict.stderr).not.toMatch(/stages\.[012]\.|stages\.3\.0\.(norm|mlp|pos_embed)/);
    const partial = await runCli([...args, '--partial']);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.stderr).toMatch(
      /^dynavit: \d+ tensors were not in the weights and are freshly initialised, in 2 module\(s\): stages\.3\.0\.attn1, stages\.3\.0\.attn2$/m,
    );
  });

  it('list --attention, info and bench with --attention, bad input in one line', async () => {
    const list = await runCli(['list', '--attention']);
    expect(list.code).toBe(0);
    for (const m of MECHANISMS) expect(list.stdout).toContain(m);
    const info = await runCli(['info', 'dat_pp_tiny', '--attention', '2=dbra.dbra', '--backend', 'wasm']);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain('attention: stage 2 → dbra.dbra');
    expect(info.stdout).toMatch(/MACs at 224×224: \d+\.\d\d G/);
    const bench = await runCli([
      'bench',
      '--model',
      'debi_tiny',
      '--attention',
      '3=glmix.glmix',
      '--size',
      '64',
      '--runs',
      '1',
      '--backend',
      'wasm',
    ]);
    expect(bench.code, bench.stderr).toBe(0);
    for (const [argv, msg] of [
      [['info', 'dat_pp_tiny', '--attention', '2=swin'], /^dynavit: --attention: unknown mechanism "swin"; known: /],
      [
        ['info', 'dat_pp_tiny', '--attention', '9=core.window'],
        /^dynavit: --attention: dat_pp_tiny has stages 0–3, got stage 9$/,
      ],
      [['info', 'dat_pp_tiny', '--attention', 'two=core.window'], /^dynavit: --attention must be STAGE=NAME/],
      [['bench', '--model', 'upernet_ade20k', '--attention', '0=core.window'], /^dynavit: upernet_ade20k is a head/],
    ] as const) {
      const r = await runCli([...argv]);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), argv.join(' ')).toMatch(msg);
    }
  });
});
