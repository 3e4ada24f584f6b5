import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('the WebAssembly kernels', () => {
  it('ship as their .wat source compiled (scripts/gen-wasm.mjs --check)', () => {
    const script = fileURLToPath(new URL('../../../scripts/gen-wasm.mjs', import.meta.url));
    // throws (exit 1, naming the file) when a committed *-wasm.ts is not its .wat compiled
    expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
