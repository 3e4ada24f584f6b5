/**
 * WebGPU in Node through Dawn (`webgpu` package) on SwiftShader, Debian chromium's Vulkan CPU driver:
 * one golden case per family, and the Mask R-CNN case, pass `dynavit parity --backend webgpu` (tolerance 1e-3
 * relative).
 * SwiftShader is slow (~0.3 GFLOP/s), so only the reduced cases run here. Each run is a child process
 * because the Vulkan loader reads its environment when Dawn starts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { findRepoRoot } from './testing/index.js';

const root = findRepoRoot(fileURLToPath(import.meta.url))!;
const cli = `${root}/packages/backend-node/dist/cli.js`;
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const env = { ...process.env, VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: '/usr/lib/chromium', XDG_RUNTIME_DIR: '/tmp' };

/** Run a Node script in a child process on SwiftShader and parse the JSON on its last line. */
async function lastJsonOf<T>(args: string[]): Promise<T> {
  const { stdout } = await promisify(execFile)(process.execPath, args, { env, maxBuffer: 1 << 24 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as T;
}
/** A test-utils script of this package. */
const script = (name: string) => fileURLToPath(new URL(`./test-utils/${name}`, import.meta.url));

const cases = [
  ['dat', 'packages/dat/src/__fixtures__/golden/dat_pp_reduced'],
  ['dbra', 'packages/dbra/src/__fixtures__/golden/cls_tiny_reduced'],
  ['glmix', 'packages/glmix/src/__fixtures__/golden/g_reduced_96x128'],
  ['heads', 'packages/heads/src/__fixtures__/golden/upernet_small'],
  // a detector reads top-k and NMS inputs back mid-way: with data(), as WebGPU in Node has no synchronous read
  ['heads', 'packages/heads/src/__fixtures__/golden/maskrcnn_small'],
] as const;

describe('WebGPU in Node (Dawn on SwiftShader)', () => {
  it('has the SwiftShader Vulkan driver from Debian chromium (.ci/run installs it)', () => {
    expect(existsSync(ICD), `${ICD} missing: apt-get install chromium`).toBe(true);
  });

  for (const [family, c] of cases) {
    it(`${family}: ${c.split('/').pop()} passes parity on webgpu`, async () => {
      const last = await lastJsonOf<{
        ok: boolean;
        backend: string;
        outputs: { name: string; maxAbs: number; maxRef: number }[];
      }>([
        cli,
        'parity',
        '--backend',
        'webgpu',
        '--weights',
        `${root}/${c}.weights.safetensors`,
        '--io',
        `${root}/${c}.io.safetensors`,
      ]);
      expect(last.backend).toBe('webgpu');
      for (const o of last.outputs) expect(o.maxAbs, o.name).toBeLessThanOrEqual(1e-3 * Math.max(1, o.maxRef));
      expect(last.ok).toBe(true);
    }, 240_000);
  }

  it('the fused kernels (WGSL: neighbourhood attention, grid sampling, routed attention, soft clustering and dispatch, GELU; convolutions and products with their bias) equal their composite paths on cpu', async () => {
    const r = await lastJsonOf<{
      backend: string;
      leaked: number;
      cases: { case: string; maxAbs: number; maxRef: number }[];
    }>([script('fused-webgpu.mjs')]);
    expect(r.backend).toBe('webgpu');
    expect(r.leaked).toBe(0);
    // NA: 5 shapes (windows 3, 5, 7; dilation 1-3) × rpb or none × fused qkv or heads-first;
    // grid sampling: 2 shapes × aligned corners or not × zeros or border padding; routed attention: 4
    // shapes; soft dispatch and soft clustering: 2 each; GELU: 2 shapes; layers with a fused bias: 8
    expect(r.cases).toHaveLength(20 + 8 + 4 + 2 + 2 + 2 + 8);
    // GELU is elementwise, its error ~2e-7·|x|: a bound of its own, tighter than the attention kernels'
    for (const c of r.cases)
      expect(c.maxAbs, c.case).toBeLessThanOrEqual((c.case.startsWith('gelu') ? 2e-6 : 1e-5) * Math.max(1, c.maxRef));
  }, 240_000);

  // one hybrid per family: its skeleton with a stage swapped, WebGPU against cpu (1e-3 relative)
  for (const [family, stage, mechanism] of [
    ['dat', '2', 'glmix.glmix'],
    ['dbra', '3', 'core.window'],
    ['glmix', '1', 'dat.deformable'],
  ] as const) {
    it(`${family} hybrid (stage ${stage} → ${mechanism}) matches cpu on webgpu`, async () => {
      const r = await lastJsonOf<{ backend: string; maxAbs: number; maxRef: number }>([
        script('hybrid-webgpu.mjs'),
        family,
        stage,
        mechanism,
      ]);
      expect(r.backend).toBe('webgpu');
      expect(r.maxAbs).toBeLessThanOrEqual(1e-3 * Math.max(1, r.maxRef));
    }, 240_000);
  }
  it('a synchronous read of a GPU result is one typed line (Node has no OffscreenCanvas); data() and host values still read', async () => {
    const r = await lastJsonOf<{
      backend: string;
      thrown: { name: string; code: string; message: string } | null;
      host: number[];
      read: number[];
      leaked: number;
    }>([script('sync-read-webgpu.mjs')]);
    expect(r.backend).toBe('webgpu');
    expect(r.thrown).toEqual({
      name: 'NotImplementedError',
      code: 'NOT_IMPLEMENTED',
      message: expect.stringMatching(
        /^WebGPU in Node cannot read a tensor synchronously .*await tensor\.data\(\).*async variant of the op$/,
      ),
    });
    expect(r.host).toEqual([0, 1, 2]);
    expect(r.read).toEqual([10, 12, 14]);
    expect(r.leaked).toBe(0);
  }, 120_000);

  it('compileGpuPrograms compiles every pipeline of a forward in parallel: the forward after it compiles none and equals cpu', async () => {
    const r = await lastJsonOf<{
      backend: string;
      models: {
        name: string;
        report: { parallel: boolean; pipelines: number };
        compiledByForward: number;
        leakedByWarmUp: number;
        maxAbs: number;
        maxRef: number;
      }[];
    }>([script('compile-webgpu.mjs')]);
    expect(r.backend).toBe('webgpu');
    expect(r.models.map((m) => m.name)).toEqual(['dat_fmnist', 'debi_fmnist', 'glnet_fmnist']);
    for (const m of r.models) {
      expect(m.report.parallel, m.name).toBe(true);
      expect(m.report.pipelines, m.name).toBeGreaterThan(10);
      expect(m.compiledByForward, m.name).toBe(0);
      expect(m.leakedByWarmUp, m.name).toBe(0);
      expect(m.maxRef, m.name).toBeGreaterThan(1e-3);
      expect(m.maxAbs, m.name).toBeLessThanOrEqual(1e-3 * Math.max(1, m.maxRef));
    }
  }, 600_000);
});
