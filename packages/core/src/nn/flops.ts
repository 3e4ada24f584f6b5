/**
 * Multiply-accumulate counting, the way the papers count "FLOPs": MACs of convolutions, linears and
 * attention products (norms, softmax, sampling and element-wise ops excluded). `Conv2d` and `Linear`
 * report themselves; models report their attention products with `addMacs` at the matMul sites.
 * Counting happens during a real forward at the size of interest.
 */
let active: { macs: number } | null = null;

/** Add `n` multiply-accumulates to the running count (no-op unless counting). */
export function addMacs(n: number): void {
  if (active) active.macs += n;
}

/** Run `fn` and count the MACs the modules report during it. Not re-entrant. */
export function countMacs<T>(fn: () => T): { result: T; macs: number } {
  const count = openCount();
  try {
    const result = fn();
    return { result, macs: count.macs };
  } finally {
    count.close();
  }
}

/**
 * `countMacs` for a pass that awaits on the way (a detector reading its scores back with `data()`): the
 * count stays open until `fn`'s promise settles, so nothing else that reports MACs may run meanwhile.
 */
export async function countMacsAsync<T>(fn: () => Promise<T>): Promise<{ result: T; macs: number }> {
  const count = openCount();
  try {
    const result = await fn();
    return { result, macs: count.macs };
  } finally {
    count.close();
  }
}

/** Start a count that MACs reported from now go to; `close` restores the enclosing one (counts nest). */
function openCount(): { readonly macs: number; close(): void } {
  const prev = active;
  const c = { macs: 0 };
  active = c;
  return {
    get macs() {
      return c.macs;
    },
    close: () => {
      active = prev;
    },
  };
}
