/**
 * Memory budgets for the readers of untrusted files (.pth, pickle, safetensors, images): what a reader
 * will materialise is computed before it allocates, and refused above the budget with a `BudgetError`
 * naming the item and the sizes. The default budget is relative to the input's size plus a fixed
 * allowance (a legitimate file materialises about its own size; float16 upcast doubles it), so a small
 * hostile file cannot make a large allocation; `maxBytes` raises (or lowers) it.
 */
import { BudgetError } from '../errors.js';

/** A reader's memory limit: bytes it may materialise in all (default: `defaultBudget(input size)`). */
export interface ReadBudget {
  maxBytes?: number;
}

/** The fixed allowance on top of the size-relative part of the default budget. */
export const BUDGET_ALLOWANCE = 64 * 2 ** 20;

/** Default budget for an input of `inputBytes`: 4 × its size + 64 MiB. */
export function defaultBudget(inputBytes: number): number {
  return 4 * inputBytes + BUDGET_ALLOWANCE;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** Counts what a reader materialises against its limit. */
export class Budget {
  #used = 0;
  readonly limit: number;
  /**
   * @param inputBytes the input's size (for the default limit and the message)
   * @param what the input, for messages ("checkpoint x.pth")
   */
  constructor(
    readonly inputBytes: number,
    readonly what: string,
    opts: ReadBudget = {},
  ) {
    this.limit = opts.maxBytes ?? defaultBudget(inputBytes);
  }

  get used(): number {
    return this.#used;
  }

  /** Account for `bytes` more of `item`; throws before the caller allocates when over the limit. */
  take(bytes: number, item: string): void {
    if (!Number.isFinite(bytes) || bytes < 0 || this.#used + bytes > this.limit)
      throw new BudgetError(
        `${this.what}: ${item} would materialise ${Number.isFinite(bytes) ? mib(bytes) : 'an unbounded amount'}` +
          ` (${mib(this.#used)} already), over the memory budget of ${mib(this.limit)} for a ${mib(this.inputBytes)} input;` +
          ' raise it with the maxBytes option (CLI: --max-memory MiB) if the file is trusted',
      );
    this.#used += bytes;
  }
}
