/**
 * Minimal read-only ZIP reader for PyTorch checkpoints.
 *
 * `torch.save` (torch ≥ 1.6) writes an uncompressed ZIP archive: every member is STORED (method 0)
 * and PyTorch pads local headers so that tensor data starts on a 64-byte boundary. This reader only
 * needs what such archives use:
 *
 *   1. the End Of Central Directory record (EOCD, signature `PK\x05\x06`) found by scanning back
 *      from the end of the file (it is followed by a comment of at most 65535 bytes);
 *   2. when a count/size/offset there is saturated (0xFFFF / 0xFFFFFFFF) or a ZIP64 EOCD locator
 *      (`PK\x06\x07`) sits just before it, the ZIP64 EOCD record (`PK\x06\x06`) it points to, which
 *      holds the 64-bit entry count, central directory size and offset;
 *   3. the central directory entries (`PK\x01\x02`): name, method, sizes, local header offset,
 *      with 64-bit values taken from the ZIP64 extended-information extra field (id 0x0001) for
 *      each field saturated at 0xFFFFFFFF;
 *   4. each local header (`PK\x03\x04`), only to skip its name and extra field (the padding) and
 *      reach the data. Sizes always come from the central directory, which is authoritative even
 *      when the writer used a trailing data descriptor.
 *
 * Only method 0 (STORED) is supported; anything else, encryption, or multi-disk archives raise a
 * `CheckpointError` (there is no inflation at all, so no decompression bomb). Bounds: the EOCD scan
 * covers at most the last 64 KiB + 22 bytes; the central directory must lie inside the file, declare
 * at most `MAX_ZIP_ENTRIES` entries and no more than its size can hold (46 bytes each), and every
 * entry must lie inside it; every member's declared size must fit the file before it is returned. CRCs are not verified (checkpoints can be gigabytes; the pickle and storage
 * size checks downstream catch truncation). Member data is returned as zero-copy `subarray` views
 * of the input.
 */
import { CheckpointError, printable } from '../errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_MIN_SIZE = 56;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;

/**
 * Most members an archive may list. torch.save writes one member per storage plus three, so a
 * checkpoint of a few thousand tensors has a few thousand; a million leaves room for any real model
 * while bounding the entry table (each entry also needs its 46 bytes in the central directory, which
 * must lie inside the file).
 */
export const MAX_ZIP_ENTRIES = 1_000_000;

/** One archive member as described by the central directory. */
export interface ZipEntry {
  name: string;
  /** Compression method (0 = STORED; the only one this reader can extract). */
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
  /** Offset of the member's data in the archive bytes. */
  dataOffset: number;
}

/** True when the bytes start with a ZIP local file header (`PK\x03\x04`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

const hex = (n: number) => `0x${n.toString(16).padStart(8, '0')}`;

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(offset: number, length: number, what: string): void {
    if (offset < 0 || offset + length > this.bytes.length)
      throw new CheckpointError(
        `zip: truncated or corrupt archive: ${what} needs ${length} bytes at offset ${offset}, but the file is ${this.bytes.length} bytes long`,
      );
  }
  u16(offset: number): number {
    return this.view.getUint16(offset, true);
  }
  u32(offset: number): number {
    return this.view.getUint32(offset, true);
  }
  u64(offset: number, what: string): number {
    const v = this.view.getBigUint64(offset, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new CheckpointError(`zip: ${what} at offset ${offset} is too large (${v})`);
    return Number(v);
  }
}

interface Directory {
  entries: number;
  size: number;
  offset: number;
}

function findEocd(r: Reader): number {
  const len = r.bytes.length;
  if (len < EOCD_SIZE)
    throw new CheckpointError(
      `zip: file is ${len} bytes long, too short for an End Of Central Directory record (${EOCD_SIZE} bytes)`,
    );
  const lowest = Math.max(0, len - EOCD_SIZE - U16_MAX);
  let loose = -1;
  for (let i = len - EOCD_SIZE; i >= lowest; i--) {
    if (r.u32(i) !== SIG_EOCD) continue;
    // Prefer a record whose comment length reaches exactly the end of the file.
    if (i + EOCD_SIZE + r.u16(i + 20) === len) return i;
    if (loose < 0 && i + EOCD_SIZE + r.u16(i + 20) <= len) loose = i;
  }
  if (loose >= 0) return loose;
  throw new CheckpointError(
    `zip: no End Of Central Directory record (signature ${hex(SIG_EOCD)}) in the last ${len - lowest} bytes; the file is truncated or not a ZIP archive`,
  );
}

function readDirectory(r: Reader): Directory {
  const eocd = findEocd(r);
  const disk = r.u16(eocd + 4);
  const cdDisk = r.u16(eocd + 6);
  const dir: Directory = { entries: r.u16(eocd + 10), size: r.u32(eocd + 12), offset: r.u32(eocd + 16) };
  const locator = eocd - ZIP64_LOCATOR_SIZE;
  const hasLocator = locator >= 0 && r.u32(locator) === SIG_ZIP64_LOCATOR;
  const saturated = dir.entries === U16_MAX || dir.size === U32_MAX || dir.offset === U32_MAX;
  if (!hasLocator) {
    if (saturated)
      throw new CheckpointError(
        `zip: End Of Central Directory at offset ${eocd} has saturated fields but no ZIP64 locator before it (expected signature ${hex(SIG_ZIP64_LOCATOR)} at offset ${locator})`,
      );
    if (disk !== 0 || cdDisk !== 0) throw new CheckpointError('zip: multi-disk archives are not supported');
    return dir;
  }
  const z64 = r.u64(locator + 8, 'ZIP64 EOCD offset');
  r.need(z64, ZIP64_EOCD_MIN_SIZE, 'ZIP64 End Of Central Directory record');
  if (r.u32(z64) !== SIG_ZIP64_EOCD)
    throw new CheckpointError(
      `zip: expected a ZIP64 End Of Central Directory record (signature ${hex(SIG_ZIP64_EOCD)}) at offset ${z64}, found ${hex(r.u32(z64))}`,
    );
  if (r.u32(z64 + 16) !== 0 || r.u32(z64 + 20) !== 0)
    throw new CheckpointError('zip: multi-disk archives are not supported');
  return {
    entries: r.u64(z64 + 32, 'ZIP64 entry count'),
    size: r.u64(z64 + 40, 'ZIP64 central directory size'),
    offset: r.u64(z64 + 48, 'ZIP64 central directory offset'),
  };
}

const utf8 = new TextDecoder('utf-8');

/** Parse the central directory and local headers; no member data is touched. */
export function listZipEntries(bytes: Uint8Array): ZipEntry[] {
  const r = new Reader(bytes);
  const dir = readDirectory(r);
  r.need(dir.offset, dir.size, 'central directory');
  if (dir.entries > MAX_ZIP_ENTRIES)
    throw new CheckpointError(
      `zip: the archive declares ${dir.entries} entries, over the cap of ${MAX_ZIP_ENTRIES} (a checkpoint has one per tensor storage)`,
    );
  if (dir.entries * CENTRAL_HEADER_SIZE > dir.size)
    throw new CheckpointError(
      `zip: the archive declares ${dir.entries} entries, but its ${dir.size}-byte central directory holds at most ${Math.floor(dir.size / CENTRAL_HEADER_SIZE)}`,
    );
  const dirEnd = dir.offset + dir.size;
  const entries: ZipEntry[] = [];
  let p = dir.offset;
  for (let i = 0; i < dir.entries; i++) {
    if (p + CENTRAL_HEADER_SIZE > dirEnd)
      throw new CheckpointError(
        `zip: central directory entry ${i} at offset ${p} lies outside the central directory [${dir.offset}, ${dirEnd}) (the archive declares ${dir.entries} entries)`,
      );
    r.need(p, CENTRAL_HEADER_SIZE, `central directory entry ${i}`);
    if (r.u32(p) !== SIG_CENTRAL)
      throw new CheckpointError(
        `zip: expected central directory entry ${i} (signature ${hex(SIG_CENTRAL)}) at offset ${p}, found ${hex(r.u32(p))}`,
      );
    const flags = r.u16(p + 8);
    const method = r.u16(p + 10);
    let compressedSize = r.u32(p + 20);
    let uncompressedSize = r.u32(p + 24);
    const nameLen = r.u16(p + 28);
    const extraLen = r.u16(p + 30);
    const commentLen = r.u16(p + 32);
    let localHeaderOffset = r.u32(p + 42);
    r.need(p + CENTRAL_HEADER_SIZE, nameLen + extraLen + commentLen, `central directory entry ${i} name/extra/comment`);
    const name = utf8.decode(bytes.subarray(p + CENTRAL_HEADER_SIZE, p + CENTRAL_HEADER_SIZE + nameLen));

    // ZIP64 extended information: the 64-bit values, in this order, for each saturated field.
    const extraStart = p + CENTRAL_HEADER_SIZE + nameLen;
    const extraEnd = extraStart + extraLen;
    for (let q = extraStart; q + 4 <= extraEnd; ) {
      const id = r.u16(q);
      const size = r.u16(q + 2);
      if (q + 4 + size > extraEnd)
        throw new CheckpointError(
          `zip: extra field of entry "${printable(name)}" at offset ${q} overruns its ${extraLen}-byte extra area`,
        );
      if (id === 0x0001) {
        let f = q + 4;
        const take = (what: string): number => {
          if (f + 8 > q + 4 + size)
            throw new CheckpointError(
              `zip: ZIP64 extra field of entry "${printable(name)}" at offset ${q} lacks the ${what}`,
            );
          const v = r.u64(f, `ZIP64 ${what} of "${printable(name)}"`);
          f += 8;
          return v;
        };
        if (uncompressedSize === U32_MAX) uncompressedSize = take('uncompressed size');
        if (compressedSize === U32_MAX) compressedSize = take('compressed size');
        if (localHeaderOffset === U32_MAX) localHeaderOffset = take('local header offset');
      }
      q += 4 + size;
    }
    if (uncompressedSize === U32_MAX || compressedSize === U32_MAX || localHeaderOffset === U32_MAX)
      throw new CheckpointError(`zip: entry "${printable(name)}" has saturated 32-bit fields but no ZIP64 extra field`);
    if (flags & 0x1) throw new CheckpointError(`zip: entry "${printable(name)}" is encrypted`);

    r.need(localHeaderOffset, LOCAL_HEADER_SIZE, `local header of "${printable(name)}"`);
    if (r.u32(localHeaderOffset) !== SIG_LOCAL)
      throw new CheckpointError(
        `zip: expected the local header of "${printable(name)}" (signature ${hex(SIG_LOCAL)}) at offset ${localHeaderOffset}, found ${hex(r.u32(localHeaderOffset))}`,
      );
    const dataOffset =
      localHeaderOffset + LOCAL_HEADER_SIZE + r.u16(localHeaderOffset + 26) + r.u16(localHeaderOffset + 28);
    // declared sizes must fit the file: nothing is ever read or allocated from a size alone
    if (dataOffset + compressedSize > bytes.length)
      throw new CheckpointError(
        `zip: truncated archive: entry "${printable(name)}" declares ${compressedSize} bytes at offset ${dataOffset}, but the file is ${bytes.length} bytes long`,
      );
    if (method === 0 && uncompressedSize !== compressedSize)
      throw new CheckpointError(
        `zip: STORED entry "${printable(name)}" has compressed size ${compressedSize} != uncompressed size ${uncompressedSize}`,
      );
    entries.push({ name, method, compressedSize, uncompressedSize, localHeaderOffset, dataOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/**
 * Read a ZIP archive into a map from member name to its bytes (zero-copy views of `bytes`).
 * Throws `CheckpointError` for truncation, corruption, or a compressed member.
 */
export function readZip(bytes: Uint8Array): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const e of listZipEntries(bytes)) {
    if (e.method !== 0)
      throw new CheckpointError(
        `zip: entry "${printable(e.name)}" uses compression method ${e.method}; only STORED (0) entries are supported, as written by torch.save (re-save the checkpoint with torch.save)`,
      );
    if (e.compressedSize !== e.uncompressedSize)
      throw new CheckpointError(
        `zip: STORED entry "${printable(e.name)}" has compressed size ${e.compressedSize} != uncompressed size ${e.uncompressedSize}`,
      );
    if (e.dataOffset + e.compressedSize > bytes.length)
      throw new CheckpointError(
        `zip: truncated archive: entry "${printable(e.name)}" needs ${e.compressedSize} bytes at offset ${e.dataOffset}, but the file is ${bytes.length} bytes long`,
      );
    if (out.has(e.name)) throw new CheckpointError(`zip: duplicate entry "${printable(e.name)}"`);
    out.set(e.name, bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize));
  }
  return out;
}
