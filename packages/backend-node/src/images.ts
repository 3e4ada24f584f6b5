/**
 * Image I/O in Node with sharp: decode JPEG/PNG/WebP (and anything else libvips reads) to RGB as PIL
 * decodes it, within a pixel budget. Pre-processing is the pipelines' (`@dynavit/pipelines`).
 */
import { BudgetError, InvalidArgumentError, printable } from '@dynavit/core';
import sharp from 'sharp';
import { checkInputFile, readInputFile } from './files.js';
import { IMAGE_MAX_MEGAPIXELS, MP, mp } from './options.js';

/** A decoder's message on one line: libvips joins its warnings with newlines. */
const oneLine = (m: string): string => printable(m.trim().replace(/\s*\n\s*/g, '; '), Number.POSITIVE_INFINITY);

export interface RGBImage {
  width: number;
  height: number;
  /** row-major RGB bytes, height·width·3 */
  data: Uint8Array;
}

export interface ImageHeader {
  path: string;
  width: number;
  height: number;
}

/**
 * Check an image before decoding it: it is a readable file, sharp recognises its format, and its
 * declared width × height is within `maxPixels` (default 64 MP). Reads the header only.
 */
export async function readImageHeader(path: string, maxPixels = IMAGE_MAX_MEGAPIXELS * MP): Promise<ImageHeader> {
  await checkInputFile(path);
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = await sharp(path, { limitInputPixels: false }).metadata());
  } catch (e) {
    throw new InvalidArgumentError(`not a readable image: ${path} (${oneLine((e as Error).message)})`);
  }
  if (!width || !height) throw new InvalidArgumentError(`not a readable image: ${path} (no width and height)`);
  if (width * height > maxPixels)
    throw new BudgetError(
      `${path}: the image is ${width}×${height} = ${mp(width * height)}, over the pixel budget of ${mp(maxPixels)}; ` +
        'raise it with --max-megapixels N if the image is trusted',
    );
  return { path, width, height };
}

/**
 * Decode an image file to 8-bit RGB as PIL's `Image.open(f).convert('RGB')` does for the official
 * evaluations (alpha dropped, EXIF orientation applied, embedded ICC profiles ignored), within `maxPixels`.
 */
export async function readImage(path: string, maxPixels = IMAGE_MAX_MEGAPIXELS * MP): Promise<RGBImage> {
  return decodeImage(await readInputFile(path), path, maxPixels);
}

/** Decode encoded image bytes (JPEG, PNG, WebP, …) to 8-bit sRGB within `maxPixels`; `source` names them in messages. */
export async function decodeImage(
  bytes: Uint8Array,
  source: string,
  maxPixels = IMAGE_MAX_MEGAPIXELS * MP,
): Promise<RGBImage> {
  try {
    // ignoreIcc: the official evaluations decode with PIL, which ignores embedded colour profiles (a phone's
    // Display P3 photo is read as its raw values); sharp would colour-manage them into sRGB
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, ignoreIcc: true })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion`);
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (e) {
    throw new InvalidArgumentError(`not a readable image: ${source} (${oneLine((e as Error).message)})`);
  }
}
