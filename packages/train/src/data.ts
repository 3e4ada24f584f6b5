/**
 * Datasets: what the trainer reads (samples with an image and a class index), an in-memory dataset, and
 * the IDX format of MNIST / Fashion-MNIST parsed from bytes (reading and un-gzipping files is the
 * runtime's job).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError, type RgbImage, resamplePixels } from '@dynavit/core';

/**
 * One training example: an image, either a float tensor [H, W, 3] with values in [0, 1] (the dataset
 * owns it; the trainer never disposes it) or 8-bit RGB pixels (row-major HWC), and its class index.
 */
export interface Sample {
  image: tf.Tensor3D | RgbImage;
  label: number;
}

/**
 * A labelled image dataset. Iterating yields every sample once, in order. With `get` (random access)
 * the trainer shuffles each epoch, as PyTorch's `DataLoader(shuffle=True)`; without it (a stream) it
 * reads in order.
 */
export interface Dataset extends AsyncIterable<Sample> {
  readonly length: number;
  readonly numClasses: number;
  get?(index: number): Sample | Promise<Sample>;
}

/** Samples held in an array. */
export class InMemoryDataset implements Dataset {
  constructor(
    readonly samples: readonly Sample[],
    readonly numClasses: number,
  ) {
    for (const [i, s] of samples.entries())
      if (!Number.isInteger(s.label) || s.label < 0 || s.label >= numClasses)
        throw new InvalidArgumentError(`InMemoryDataset: sample ${i} has label ${s.label}, not in [0, ${numClasses})`);
  }
  get length(): number {
    return this.samples.length;
  }
  get(index: number): Sample {
    const s = this.samples[index];
    if (!s) throw new InvalidArgumentError(`InMemoryDataset: index ${index} out of range (${this.samples.length})`);
    return s;
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    for (const s of this.samples) yield s;
  }
}

/** A parsed IDX file: its dimensions and its unsigned bytes (row-major). */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parse an IDX file (LeCun's MNIST format, also Fashion-MNIST): magic 0x00 0x00, type byte (0x08:
 * unsigned byte, the only type these datasets use), number of dimensions, each dimension as a big-endian
 * uint32, then the data. The returned data is a view on `bytes`.
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX file'): IdxArray {
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0)
    throw new InvalidArgumentError(`${source}: not an IDX file (bad magic number; is it still gzipped?)`);
  if (bytes[2] !== 0x08)
    throw new InvalidArgumentError(
      `${source}: IDX type 0x${bytes[2]!.toString(16)} is not supported (only 0x08, unsigned bytes)`,
    );
  const nd = bytes[3]!;
  const head = 4 + 4 * nd;
  if (nd === 0 || bytes.length < head) throw new InvalidArgumentError(`${source}: truncated IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i, false));
  const n = dims.reduce((a, b) => a * b, 1);
  if (bytes.length < head + n)
    throw new InvalidArgumentError(
      `${source}: truncated IDX data (${bytes.length - head} bytes for ${dims.join('×')})`,
    );
  return { dims, data: bytes.subarray(head, head + n) };
}

export interface IdxDatasetOptions {
  /** side (or [height, width]) the grey images are resized to (Pillow bilinear, core's `resamplePixels`); default: unchanged */
  size?: number | readonly [number, number];
  /** default: 1 + the largest label (10 for MNIST / Fashion-MNIST) */
  numClasses?: number;
}

/**
 * A dataset from an IDX image file [N, H, W] (grey) and an IDX label file [N]: each image is converted
 * grey → RGB (the grey value in each channel) and resized on access, so memory holds only the file bytes.
 */
export function idxDataset(images: Uint8Array, labels: Uint8Array, options: IdxDatasetOptions = {}): Dataset {
  const im = parseIdx(images, 'IDX images');
  const lb = parseIdx(labels, 'IDX labels');
  if (im.dims.length !== 3)
    throw new InvalidArgumentError(`IDX images: expected [N, H, W], got [${im.dims.join(', ')}]`);
  if (lb.dims.length !== 1 || lb.dims[0] !== im.dims[0])
    throw new InvalidArgumentError(`IDX labels: expected [${im.dims[0]}], got [${lb.dims.join(', ')}]`);
  const [n, h, w] = im.dims as [number, number, number];
  const size = options.size ?? [h, w];
  const [oh, ow] = typeof size === 'number' ? [size, size] : size;
  const numClasses = options.numClasses ?? lb.data.reduce((a, b) => Math.max(a, b), 0) + 1;
  for (let i = 0; i < n; i++)
    if (lb.data[i]! >= numClasses)
      throw new InvalidArgumentError(`IDX labels: label ${lb.data[i]} at ${i} is not in [0, ${numClasses})`);
  const get = (i: number): Sample => {
    if (!(i >= 0 && i < n)) throw new InvalidArgumentError(`IDX dataset: index ${i} out of range (${n})`);
    const grey = im.data.subarray(i * h * w, (i + 1) * h * w);
    const sized = oh === h && ow === w ? grey : resamplePixels(grey, w, h, 1, ow, oh, 'bilinear');
    const data = new Uint8Array(oh * ow * 3);
    for (let p = 0; p < oh * ow; p++) data.fill(sized[p]!, 3 * p, 3 * p + 3);
    return { image: { width: ow, height: oh, data }, label: lb.data[i]! };
  };
  return {
    length: n,
    numClasses,
    get,
    async *[Symbol.asyncIterator]() {
      for (let i = 0; i < n; i++) yield get(i);
    },
  };
}
