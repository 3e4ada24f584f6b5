import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { macsCell, renderModelZoo, renderParity, renderReleases } from './zoo.js';

const docs = fileURLToPath(new URL('..', import.meta.url));
const readJson = <T>(p: string): T => JSON.parse(readFileSync(`${docs}${p}`, 'utf8')) as T;

describe('renderModelZoo', () => {
  it('renders one sorted row per model with parameters in millions', () => {
    const md = renderModelZoo([
      { name: 'b', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 53_127_366 },
      { name: 'a', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 23_962_876 },
    ]);
    const lines = md.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toBe('| `a` | dat | classifier | 23.96 M |');
    expect(lines[3]).toBe('| `b` | dat | classifier | 53.13 M |');
  });

  it('adds MACs and the paper numbers; the parity status is one sentence per family', () => {
    const md = renderModelZoo(
      [{ name: 'dat_pp_tiny', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 23_962_876 }],
      {
        gmacs: { dat_pp_tiny: 4.259 },
        papers: { dat_pp_tiny: { name: 'DAT-T++', flops: 4.3, top1: 83.9 } },
      },
    );
    expect(md.split('\n')[2]).toBe('| DAT-T++<br>`dat_pp_tiny` | classifier | 23.96 M | 4.26 G | 4.3 G | 83.9 |');
    const parity = {
      date: '2026-12-02',
      machine: '2 × CPU',
      backends: ['wasm', 'cpu'],
      cases: [
        {
          name: 'dat/a',
          family: 'dat',
          results: { wasm: { status: 'pass', worst: 2e-6 }, cpu: { status: 'pass', worst: 3e-6 } },
        },
        {
          name: 'dat/b',
          family: 'dat',
          results: { wasm: { status: 'pass', worst: 1e-6 }, cpu: { status: 'pass', worst: 1e-6 } },
        },
        {
          name: 'glmix/c',
          family: 'glmix',
          results: { wasm: { status: 'fail', worst: 1 }, cpu: { status: 'pass', worst: 0 } },
        },
      ],
    };
    expect(renderParity('dat', { parity })).toBe(
      '**Parity with the official code**: ✓ all 2 golden cases pass on wasm and cpu (worst max|out − ref| / max(1, |ref|) = 3.0e-6; measured 2026-12-02 by `dynavit golden --report`) — `a`, `b`.',
    );
    expect(renderParity('glmix', { parity })).toBe(
      '**Parity with the official code**: ✗ 1 of 2 runs fail on wasm and cpu (measured 2026-12-02 by `dynavit golden --report`) — `c`.',
    );
    expect(renderParity('heads', { parity })).toBe('');
  });

  it('leaves out the data columns no row has a value for (heads: no MACs, FLOPs or top-1), never prints a column of dashes', () => {
    const head = { family: 'heads', packageName: '@dynavit/heads', kind: 'head' as const };
    const md = renderModelZoo(
      [
        { name: 'semfpn_ade20k', params: 4_250_000, ...head },
        { name: 'upernet_ade20k', params: 30_310_000, ...head },
      ],
      { gmacs: {}, papers: {} },
    ).split('\n');
    expect(md[0]).toBe('| model | kind | parameters |');
    expect(md[1]).toBe('|---|---|---:|');
    expect(md[2]).toBe('| `semfpn_ade20k` | head | 4.25 M |');
    expect(md.join('\n')).not.toContain('—');
    // a column with one value stays, with dashes where a row has none
    const mixed = renderModelZoo(
      [
        { name: 'a', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 1e6 },
        { name: 'b', family: 'dat', packageName: '@dynavit/dat', kind: 'classifier', params: 2e6 },
      ],
      { gmacs: { a: 1 }, papers: { b: { top1: 80, note: 'n' } } },
    ).split('\n');
    expect(mixed[0]).toBe('| model | kind | parameters | MACs @224 | top-1 % (paper) | notes |');
    expect(mixed[2]).toBe('| `a` | classifier | 1.00 M | 1.00 G | — |  |');
    expect(mixed[3]).toBe('| `b` | classifier | 2.00 M | — | 80.0 | n |');
  });

  it('shows the counted MACs, with the input side when it is not 224', () => {
    const extras = { gmacs: { a: 4.259, big: 49.5 }, macsSize: { big: 384 } };
    expect(macsCell('a', extras)).toBe('4.26 G');
    expect(macsCell('big', extras)).toBe('49.50 G @384');
    expect(macsCell('none', extras)).toBe('—');
  });
});

describe('the zoo data', () => {
  it('counted MACs agree with the porting specs (DAT, GLNet) and the DeBiFormer README', () => {
    const counted = readJson<{ gmacs: Record<string, number>; sizes: Record<string, number> }>('data/macs.json');
    const spec = readJson<{ gmacs: Record<string, number> }>('data/spec-macs.json');
    const papers = readJson<{ models: Record<string, { flops?: number }> }>('data/papers.json').models;
    // the specs' own reference counts (every product) at 224 (DAT-B++ 384 at 384)
    for (const name of Object.keys(spec.gmacs)) expect(counted.gmacs[name], name).toBeCloseTo(spec.gmacs[name]!, 1);
    expect(counted.gmacs['dat_pp_tiny']).toBe(4.26);
    expect(counted.gmacs['glnet_4g']).toBe(4.48);
    expect(counted.sizes['dat_pp_base_384']).toBe(384);
    // DeBiFormer: T and S equal the README's rounded numbers; B is 0.9 % below the README's 11.8 G
    // (the README's B row does not describe the released code: it also states 77 M parameters, the code builds 95.5 M)
    expect(Math.abs(counted.gmacs['debi_tiny']! - papers['debi_tiny']!.flops!)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(counted.gmacs['debi_small']! - papers['debi_small']!.flops!)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(counted.gmacs['debi_base']! / papers['debi_base']!.flops! - 1)).toBeLessThan(0.01);
    // a dense backbone does at least its classifier's work minus the classification head
    expect(counted.gmacs['debi_tiny_seg']).toBeGreaterThanOrEqual(counted.gmacs['debi_tiny']! - 0.01);
    expect(counted.gmacs['glnet_4g_dense']).toBeGreaterThanOrEqual(counted.gmacs['glnet_4g']! - 0.01);
  });

  it('the generated zoo lists every registered model with its numbers', async () => {
    const file = `${docs}generated/zoo.md`;
    if (!existsSync(file)) return expect.fail('generated/zoo.md is missing: run the build first (pnpm build)');
    const md = readFileSync(file, 'utf8');
    const { Registry } = await import('@dynavit/core');
    const { dat } = await import('@dynavit/dat');
    const { dbra } = await import('@dynavit/dbra');
    const { glmix } = await import('@dynavit/glmix');
    const { heads } = await import('@dynavit/heads');
    for (const m of new Registry().use(dat).use(dbra).use(glmix).use(heads).listModels())
      expect(md, m.name).toContain(`\`${m.name}\``);
    const row = (name: string) => md.split('\n').find((l) => l.includes(`\`${name}\``))!;
    expect(row('dat_pp_tiny')).toContain('| 4.26 G | 4.3 G | 83.9 |');
    expect(row('glnet_4g')).toContain('| 4.48 G | 4.5 G | 83.7 |');
    expect(row('debi_tiny')).toContain('| 2.64 G | 2.6 G | 81.9 |');
    expect(md).not.toMatch(/[†‡≥]/);
    expect(row('debi_tiny')).toContain('2.6 G | 81.9');
    expect(md).toContain('✓ all 6 golden cases pass on wasm and cpu');
    expect(md).toContain('✓ all 5 golden cases pass on wasm and cpu');
  });
});

describe('renderReleases', () => {
  it('one row per release: model and head, the paper metric, a download link or how to get it by hand (links clickable), the key; long names get break points', () => {
    const md = renderReleases([
      {
        id: 'dat_pp_tiny',
        model: 'dat_pp_tiny',
        task: 'image-classification',
        dataset: 'ImageNet-1k',
        resolution: '224²',
        metrics: [{ name: 'top-1', value: 83.9 }],
        urls: ['https://cloud.example/f/1/?dl=1'],
        key: 'model',
        file: 'a.pth',
        source: 'x',
      },
      {
        id: 'x.cascade',
        model: 'dat_pp_base_dense',
        head: 'unsupported:cascade_maskrcnn',
        task: 'instance-segmentation',
        dataset: 'COCO',
        resolution: '1333×800',
        metrics: [],
        urls: [],
        manual: 'open a | b, see https://drive.example/f/1K_Zk for debiformer_tiny_in1k.pth',
        file: 'b.pth',
        source: 'x',
      },
      {
        id: 'dat_fmnist',
        model: 'dat_fmnist',
        task: 'image-classification',
        dataset: 'Fashion-MNIST',
        resolution: '64²',
        metrics: [{ name: 'top-1', value: 90.1 }],
        urls: ['file:///home/someone/dynavit/packages/dat/weights/dat_fmnist.safetensors'],
        bundled: true,
        file: 'dat_fmnist.safetensors',
        source: 'x',
      },
    ]).split('\n');
    expect(md).toHaveLength(5);
    // a bundled file: named, never linked (its URL is a path on the machine that built the page)
    expect(md[4]).toBe(
      '| <code>dat_<wbr>fmnist</code> | <code>dat_<wbr>fmnist</code> | image-classification | Fashion-MNIST | 64² | top-1 90.1 (trained by dynavit) | bundled with the package (<code>dat_<wbr>fmnist.<wbr>safetensors</code>) | — |',
    );
    expect(md.join('\n')).not.toContain('file:');
    expect(md[2]).toBe(
      '| <code>dat_<wbr>pp_<wbr>tiny</code> | <code>dat_<wbr>pp_<wbr>tiny</code> | image-classification | ImageNet-1k | 224² | top-1 83.9 | [download](https://cloud.example/f/1/?dl=1) | <code>model</code> |',
    );
    expect(md[3]).toBe(
      '| <code>x.<wbr>cascade</code> | <code>dat_<wbr>pp_<wbr>base_<wbr>dense</code> + cascade_maskrcnn (not implemented) | instance-segmentation | COCO | 1333×800 | — | by hand: open a &#124; b, see <a href="https://drive.example/f/1K_Zk">https:/<wbr>/<wbr>drive.<wbr>example/<wbr>f/<wbr>1K_<wbr>Zk</a> for debiformer_<wbr>tiny_<wbr>in1k.<wbr>pth | — |',
    );
  });
});
