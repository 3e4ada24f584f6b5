/**
 * Loading the WebAssembly modules of `ops/wasm/` (each a .wat compiled by `pnpm --filter @dynavit/core
 * gen:wasm`, its bytes in base64): instantiated once, synchronously (they are under 1 KB), with their own
 * memory; null where WebAssembly or its SIMD is missing, so the caller takes its other path.
 */
const instances = new Map<string, WebAssembly.Exports | null>();

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The module's exports (`memory` and its functions), or null where it cannot be compiled here. */
export function wasmExports<T extends { memory: WebAssembly.Memory }>(base64: string): T | null {
  if (!instances.has(base64)) {
    let exports: WebAssembly.Exports | null = null;
    try {
      const bytes = decodeBase64(base64);
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes))
        exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
    } catch {
      exports = null;
    }
    instances.set(base64, exports);
  }
  return instances.get(base64) as T | null;
}

/** The module's memory as float32 values, grown to at least `bytes`. */
export function wasmFloats(memory: WebAssembly.Memory, bytes: number): Float32Array {
  const have = memory.buffer.byteLength;
  if (have < bytes) memory.grow(Math.ceil((bytes - have) / 65536));
  return new Float32Array(memory.buffer);
}

/** The working memory a kernel copies into its module at most, in bytes (16 MiB); larger work goes in chunks. */
export const WASM_WORKING_BYTES = 16 * 2 ** 20;
