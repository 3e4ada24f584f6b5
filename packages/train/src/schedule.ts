/**
 * timm's `CosineLRScheduler` (timm/scheduler/cosine_lr.py) with its defaults as `train.py` builds it
 * (`cycle_mul` 1, `cycle_decay` 0.5, `cycle_limit` 1, `k_decay` 1, no noise): a linear warm-up from
 * `warmupLr` to the base rate over `warmupT` units, then a half cosine from the base rate to `minLr`
 * reached at `tInitial`; past `tInitial`, `minLr`. With timm's default `warmup_prefix = False` the warm-up
 * is part of the cosine's span (the cosine is evaluated at t, not t − warmupT).
 *
 * Units: epochs (timm's default, `t_in_epochs`: the rate is set once per epoch, from the epoch index) or
 * optimizer updates (`--sched-on-updates`: `tInitial` and `warmupT` are epochs × updates per epoch and
 * the rate changes every update). The rate of update k (0-based) is `cosineLr(k, …)` per step, and that
 * of every update in epoch e is `cosineLr(e, …)` per epoch.
 */
export interface CosineSchedule {
  /** the base (peak) learning rate */
  lr: number;
  /** length of the schedule (timm `t_initial`: epochs, or updates) */
  tInitial: number;
  /** rate at the end (timm `lr_min`), default 0 */
  minLr?: number;
  /** warm-up length in the same units (timm `warmup_t`), default 0 */
  warmupT?: number;
  /** rate at t = 0 of the warm-up (timm `warmup_lr_init`), default 0 */
  warmupLr?: number;
  /** timm `warmup_prefix`: the cosine starts after the warm-up (default false, timm's default) */
  warmupPrefix?: boolean;
}

/** The learning rate at time t (epoch index or update index, see {@link CosineSchedule}). */
export function cosineLr(t: number, s: CosineSchedule): number {
  const minLr = s.minLr ?? 0;
  const warmupT = s.warmupT ?? 0;
  const warmupLr = s.warmupLr ?? 0;
  if (t < warmupT) return warmupLr + (t * (s.lr - warmupLr)) / warmupT;
  const tt = s.warmupPrefix ? t - warmupT : t;
  const i = Math.floor(tt / s.tInitial); // cycle (cycle_mul = 1)
  if (i >= 1) return minLr; // cycle_limit = 1
  const tCurr = tt - s.tInitial * i;
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos((Math.PI * tCurr) / s.tInitial));
}
