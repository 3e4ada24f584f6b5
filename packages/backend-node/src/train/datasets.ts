/**
 * Training data from disk for `dynavit train` / `dynavit eval`, as `@dynavit/train` Datasets:
 *
 * - `fashion-mnist`: Debian's `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist), or any folder
 *   holding `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]` and the `t10k-*` pair (IDX,
 *   gzipped or not; grey → RGB and resized on access by `idxDataset`);
 * - a folder with one sub-folder per class (torchvision's ImageFolder; classes in sorted order), or the
 *   ImageNet layout `train/<class>/…` + `val/<class>/…`;
 * - a CSV file of `path,label` rows (paths relative to the CSV; an optional header row; labels are class
 *   indices).
 *
 * Image datasets stream: only paths and labels are held, each image is decoded (sharp, `ignoreIcc` as
 * everywhere in backend-node) when the trainer asks for it, so a folder larger than memory trains. Every
 * image header is checked when the dataset is opened (a non-image or an image smaller than the model's
 * smallest input is one clear error before training starts).
 */
import { readdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { FASHION_MNIST_CLASSES, FileError, InputSizeError, InvalidArgumentError, printable } from '@dynavit/core';
import { type Dataset, idxDataset, permutation, Rng, type Sample } from '@dynavit/train';
import { fileError, readInputFile } from '../files.js';
import { decodeImage, readImageHeader } from '../images.js';

/** Where `--data fashion-mnist` looks: `$DYNAVIT_FASHION_MNIST`, else Debian's `dataset-fashion-mnist`. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export type Split = 'train' | 'test';

export interface OpenDataOptions {
  /** which split: `train` (train-*, train/, the folder, the CSV) or `test` (t10k-*, val/, the folder, the CSV) */
  split: Split;
  /** model input side: IDX images are resized to it on access */
  size: number;
  /** images (folder, CSV) with a side below this are refused (the model's smallest input) */
  minSide: number;
  /** classes the labels index (eval: the trained model's); labels at or above are out of range */
  numClasses?: number;
  /** class names of the trained model (eval on a folder: its sub-folders are matched by name) */
  classes?: readonly string[];
  /** pixel budget of one image (decode and header check) */
  maxPixels: number;
  /** told how far the header check is: (done, total) */
  onScan?: (done: number, total: number) => void;
}

export interface OpenedData {
  dataset: Dataset;
  /** class names, index order */
  classes: string[];
  /** what was read, for messages and run.json: `fashion-mnist (…/train-images-idx3-ubyte.gz)`, a folder, a CSV */
  description: string;
  kind: 'idx' | 'folder' | 'csv';
  /** a separate test split exists (IDX t10k-*, the ImageNet layout's val/): training evaluates on it */
  hasTestSplit: boolean;
}

const gunzipAsync = promisify(gunzip);

async function statOrUndefined(path: string) {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(e, path, 'read');
  }
}

/** `dir/base` or `dir/base.gz`, whichever exists. */
async function idxFile(dir: string, base: string): Promise<string | undefined> {
  for (const p of [join(dir, base), join(dir, `${base}.gz`)]) if ((await statOrUndefined(p))?.isFile()) return p;
  return undefined;
}

async function readMaybeGzip(path: string): Promise<Uint8Array> {
  const bytes = await readInputFile(path);
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return new Uint8Array(await gunzipAsync(bytes));
  } catch (e) {
    throw new FileError(`cannot read ${path}: not valid gzip (${printable((e as Error).message)})`);
  }
}

async function openIdx(dir: string, options: OpenDataOptions, name: string): Promise<OpenedData> {
  const prefix = options.split === 'train' ? 'train' : 't10k';
  const images = await idxFile(dir, `${prefix}-images-idx3-ubyte`);
  const labels = await idxFile(dir, `${prefix}-labels-idx1-ubyte`);
  if (!images || !labels)
    throw new FileError(
      `${name}: ${dir} has no ${prefix}-images-idx3-ubyte[.gz] and ${prefix}-labels-idx1-ubyte[.gz] (the ${options.split} split)`,
    );
  const dataset = idxDataset(await readMaybeGzip(images), await readMaybeGzip(labels), {
    size: options.size,
    ...(options.numClasses !== undefined ? { numClasses: options.numClasses } : {}),
  });
  const classes =
    dataset.numClasses === FASHION_MNIST_CLASSES.length && name === 'fashion-mnist'
      ? [...FASHION_MNIST_CLASSES]
      : Array.from({ length: dataset.numClasses }, (_, i) => String(i));
  return { dataset, classes, description: `${name} (${images})`, kind: 'idx', hasTestSplit: true };
}

const hidden = (n: string) => n.startsWith('.');

/** A file list (absolute paths) with labels, decoded on access. */
class ImageFilesDataset implements Dataset {
  constructor(
    readonly files: readonly string[],
    readonly labels: readonly number[],
    readonly numClasses: number,
    readonly maxPixels: number,
  ) {}
  get length(): number {
    return this.files.length;
  }
  async get(index: number): Promise<Sample> {
    const path = this.files[index];
    if (path === undefined)
      throw new InvalidArgumentError(`dataset: index ${index} out of range (${this.files.length})`);
    const image = await decodeImage(await readInputFile(path), path, this.maxPixels);
    return { image, label: this.labels[index]! };
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    for (let i = 0; i < this.files.length; i++) yield this.get(i);
  }
}

/** Check every image header (a readable image, within the pixel budget, each side ≥ minSide), 16 at a time. */
async function scanImages(files: readonly string[], options: OpenDataOptions, where: (p: string) => string) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < files.length) {
      const path = files[next++]!;
      let h: { width: number; height: number };
      try {
        h = await readImageHeader(path, options.maxPixels);
      } catch (e) {
        if (e instanceof InvalidArgumentError)
          throw new InvalidArgumentError(`${where(path)} is not an image that can be read (${e.message})`);
        throw e;
      }
      if (Math.min(h.width, h.height) < options.minSide)
        throw new InputSizeError(
          `${where(path)} is ${h.width}×${h.height}, smaller than the model's smallest input side (${options.minSide} px); ` +
            'leave out images that small or upscale them first',
        );
      options.onScan?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, files.length) }, worker));
}

async function listDir(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  } catch (e) {
    throw fileError(e, dir, 'read');
  }
}

async function openFolder(dir: string, options: OpenDataOptions): Promise<OpenedData> {
  const entries = (await listDir(dir)).filter((e) => !hidden(e.name));
  const classDirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  if (classDirs.length === 0)
    throw new InvalidArgumentError(
      `${dir}: no class folders (expected one sub-folder of images per class${entries.length ? `; found only files such as ${entries[0]!.name}` : ', the folder is empty'})`,
    );
  const strays = entries.filter((e) => !e.isDirectory());
  if (strays.length)
    throw new InvalidArgumentError(
      `${dir}: ${strays[0]!.name} is a file beside the class folders (every image goes into its class's sub-folder)`,
    );
  let index: (name: string) => number;
  let classes: string[];
  if (options.classes) {
    classes = [...options.classes];
    const known = new Map(classes.map((c, i) => [c, i]));
    const unknown = classDirs.filter((c) => !known.has(c));
    if (unknown.length)
      throw new InvalidArgumentError(
        `${dir}: class folder "${unknown[0]}" is not one of the model's ${classes.length} classes (${classes.slice(0, 8).join(', ')}${classes.length > 8 ? ', …' : ''})`,
      );
    index = (c) => known.get(c)!;
  } else {
    classes = classDirs;
    index = (c) => classDirs.indexOf(c);
  }
  const numClasses = options.numClasses ?? classes.length;
  if (classes.length > numClasses)
    throw new InvalidArgumentError(`${dir}: ${classes.length} class folders, but the model has ${numClasses} classes`);
  const files: string[] = [];
  const labels: number[] = [];
  for (const c of classDirs) {
    const sub = join(dir, c);
    const inside = (await listDir(sub)).filter((e) => !hidden(e.name));
    const nested = inside.find((e) => e.isDirectory());
    if (nested) throw new InvalidArgumentError(`${sub}: ${nested.name} is a folder; a class folder holds images only`);
    for (const e of inside) {
      files.push(join(sub, e.name));
      labels.push(index(c));
    }
  }
  if (files.length === 0) throw new InvalidArgumentError(`${dir}: the class folders hold no images`);
  const empty = classDirs.filter((c) => !labels.includes(index(c)));
  if (empty.length && !options.classes) throw new InvalidArgumentError(`${dir}: class folder "${empty[0]}" is empty`);
  await scanImages(files, options, (p) => `${relative(dir, p)} (in ${dir})`);
  return {
    dataset: new ImageFilesDataset(files, labels, numClasses, options.maxPixels),
    classes,
    description: dir,
    kind: 'folder',
    hasTestSplit: false,
  };
}

/** One CSV field list: commas split, double quotes group (`""` is a quote). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}

async function openCsv(path: string, options: OpenDataOptions): Promise<OpenedData> {
  const text = new TextDecoder().decode(await readInputFile(path));
  const lines = text.split(/\r?\n/);
  const files: string[] = [];
  const labels: number[] = [];
  const lineOf: number[] = [];
  const base = dirname(resolve(path));
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === '') continue;
    const f = csvFields(raw);
    if (f.length !== 2)
      throw new InvalidArgumentError(`${path} line ${i + 1}: expected 2 fields (path,label), got ${f.length}`);
    const [p, l] = f as [string, string];
    if (!/^\d+$/.test(l)) {
      if (files.length === 0 && i === lines.findIndex((x) => x.trim() !== '')) continue; // a header row
      throw new InvalidArgumentError(
        `${path} line ${i + 1}: label "${printable(l, 40)}" is not a class index (an integer from 0)`,
      );
    }
    files.push(resolve(base, p));
    labels.push(Number(l));
    lineOf.push(i + 1);
  }
  if (files.length === 0) throw new InvalidArgumentError(`${path}: no rows (expected path,label lines)`);
  const numClasses = options.numClasses ?? Math.max(...labels) + 1;
  const bad = labels.findIndex((l) => l >= numClasses);
  if (bad >= 0)
    throw new InvalidArgumentError(
      `${path} line ${lineOf[bad]}: label ${labels[bad]} is out of range: the model has ${numClasses} classes (labels 0–${numClasses - 1})`,
    );
  await scanImages(files, options, (p) => `${p} (${path} line ${lineOf[files.indexOf(p)]})`);
  const classes = options.classes ? [...options.classes] : Array.from({ length: numClasses }, (_, i) => String(i));
  return {
    dataset: new ImageFilesDataset(files, labels, numClasses, options.maxPixels),
    classes,
    description: path,
    kind: 'csv',
    hasTestSplit: false,
  };
}

/** Open `--data SPEC` (see the module comment) for `options.split`. */
export async function openData(spec: string, options: OpenDataOptions): Promise<OpenedData> {
  if (spec === 'fashion-mnist') {
    const dir = process.env['DYNAVIT_FASHION_MNIST'] ?? FASHION_MNIST_DIR;
    if (!(await statOrUndefined(dir))?.isDirectory())
      throw new FileError(
        `fashion-mnist: ${dir} not found (Debian: apt-get install dataset-fashion-mnist; or set DYNAVIT_FASHION_MNIST to a folder with the IDX files)`,
      );
    return openIdx(dir, options, 'fashion-mnist');
  }
  const s = await statOrUndefined(spec);
  if (!s)
    throw new FileError(`--data ${spec}: no such file or folder (a folder of class folders, a CSV, or fashion-mnist)`);
  if (s.isFile()) {
    if (!/\.csv$/i.test(spec))
      throw new InvalidArgumentError(`--data ${spec}: a file must be a CSV of path,label rows (named *.csv)`);
    return openCsv(spec, options);
  }
  if (!s.isDirectory()) throw new FileError(`cannot read ${spec}: not a regular file or folder`);
  if (await idxFile(spec, 'train-images-idx3-ubyte')) return openIdx(spec, options, spec);
  const train = await statOrUndefined(join(spec, 'train'));
  const val = await statOrUndefined(join(spec, 'val'));
  if (train?.isDirectory() && val?.isDirectory())
    return {
      ...(await openFolder(join(spec, options.split === 'train' ? 'train' : 'val'), options)),
      hasTestSplit: true,
    };
  return openFolder(spec, options);
}

/** A view on some of `ds`'s samples (random access kept). */
export function subset(ds: Dataset, indices: readonly number[]): Dataset {
  if (!ds.get) throw new InvalidArgumentError('subset: the dataset has no random access');
  const get = ds.get.bind(ds);
  return {
    length: indices.length,
    numClasses: ds.numClasses,
    get: (i: number) => {
      const j = indices[i];
      if (j === undefined) throw new InvalidArgumentError(`dataset: index ${i} out of range (${indices.length})`);
      return get(j);
    },
    async *[Symbol.asyncIterator]() {
      for (const j of indices) yield get(j);
    },
  };
}

/** `--limit N`: N samples spread evenly over the dataset (every class of a sorted folder is represented). */
export function limitDataset(ds: Dataset, limit: number | undefined): Dataset {
  if (limit === undefined || limit >= ds.length) return ds;
  return subset(
    ds,
    Array.from({ length: limit }, (_, i) => Math.floor((i * ds.length) / limit)),
  );
}

/** `--val-split F`: hold out a seeded random fraction F of `ds` for validation. */
export function splitDataset(ds: Dataset, fraction: number, seed: number): { train: Dataset; val: Dataset } {
  const order = permutation(ds.length, new Rng(seed >>> 0));
  const nVal = Math.round(fraction * ds.length);
  if (nVal === 0 || nVal === ds.length)
    throw new InvalidArgumentError(
      `--val-split ${fraction} of ${ds.length} samples leaves ${nVal === 0 ? 'no validation' : 'no training'} samples`,
    );
  const sorted = (a: number[]) => a.sort((x, y) => x - y);
  return { val: subset(ds, sorted(order.slice(0, nVal))), train: subset(ds, sorted(order.slice(nVal))) };
}

/** A dataset whose iteration reports progress (evaluation's bar). */
export function countingDataset(ds: Dataset, onSample: (n: number) => void): Dataset {
  let n = 0;
  return {
    length: ds.length,
    numClasses: ds.numClasses,
    ...(ds.get ? { get: ds.get.bind(ds) } : {}),
    async *[Symbol.asyncIterator]() {
      n = 0;
      for await (const s of ds) {
        onSample(++n);
        yield s;
      }
    },
  };
}
