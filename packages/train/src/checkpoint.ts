/**
 * Training checkpoints: the weights as safetensors (PyTorch layout and keys, loadable by any dynavit
 * model or by PyTorch), the optimizer moments and the EMA weights as safetensors, and a JSON training
 * state. `state.json` is written last: a run resumes only from a checkpoint whose state file exists,
 * so a store that writes each file atomically (write then rename, as a Node adapter does) never
 * resumes from a half-written checkpoint. Storage is the caller's: a {@link CheckpointStore}.
 */
import { CheckpointError, readSafetensors, type StateDict, writeSafetensors } from '@dynavit/core';

/** Where checkpoints go: files in a directory (Node), memory or IndexedDB (browser). */
export interface CheckpointStore {
  /** Store `bytes` under `name`, replacing what was there (atomically, if the store can). */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** The bytes stored under `name`, or undefined. */
  read(name: string): Promise<Uint8Array | undefined>;
}

/** A store in memory (tests, the browser). */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly files = new Map<string, Uint8Array>();
  async write(name: string, bytes: Uint8Array): Promise<void> {
    this.files.set(name, bytes.slice());
  }
  async read(name: string): Promise<Uint8Array | undefined> {
    return this.files.get(name)?.slice();
  }
}

/** The file names of a checkpoint. */
export const CHECKPOINT_FILES = {
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  ema: 'ema.safetensors',
  state: 'state.json',
} as const;

/** One epoch's summary. */
export interface EpochSummary {
  epoch: number;
  /** mean training loss (label-smoothed) over the epoch's samples */
  trainLoss: number;
  /** learning rate of the epoch's last update */
  lr: number;
  eval?: EvalResult;
  /** evaluation of the EMA weights */
  evalEma?: EvalResult;
}

export interface EvalResult {
  /** mean cross-entropy (no smoothing) */
  loss: number;
  /** top-1 / top-5 accuracy in [0, 1] */
  top1: number;
  top5: number;
  count: number;
}

/** Everything besides tensors a resumed run needs to continue exactly. */
export interface TrainingState {
  format: 'dynavit-train';
  version: 1;
  /** the epoch in progress (0-based) */
  epoch: number;
  /** micro-batches of `epoch` already done (0: the epoch starts afresh) */
  batchInEpoch: number;
  /** optimizer updates done */
  step: number;
  /** the augmentation generator's state */
  rng: number;
  /** the run's seed (epoch orders derive from it) */
  seed: number;
  /** the running sums of the epoch in progress */
  epochLossSum: number;
  epochSamples: number;
  /** the learning rate of the last update */
  lr: number;
  history: EpochSummary[];
  /** whether `ema.safetensors` is part of the checkpoint */
  ema: boolean;
  /**
   * the layout of the optimizer moments: 'torch' (PyTorch's, as the weights); absent in checkpoints
   * written before, which hold them in that version's device layout
   */
  momentsLayout?: 'torch';
}

export interface Checkpoint {
  state: TrainingState;
  model: StateDict;
  optimizer: StateDict;
  ema?: StateDict;
}

/** Write a checkpoint: tensors first, `state.json` last. */
export async function saveCheckpoint(store: CheckpointStore, ckpt: Checkpoint): Promise<void> {
  const meta = { format: 'pt', epoch: String(ckpt.state.epoch), step: String(ckpt.state.step) };
  await store.write(CHECKPOINT_FILES.model, writeSafetensors(ckpt.model, meta));
  await store.write(CHECKPOINT_FILES.optimizer, writeSafetensors(ckpt.optimizer, { step: String(ckpt.state.step) }));
  if (ckpt.ema) await store.write(CHECKPOINT_FILES.ema, writeSafetensors(ckpt.ema, meta));
  await store.write(CHECKPOINT_FILES.state, new TextEncoder().encode(JSON.stringify(ckpt.state, null, 1)));
}

/** Read the checkpoint in `store`, or undefined when it holds none (no `state.json`). */
export async function loadCheckpoint(store: CheckpointStore): Promise<Checkpoint | undefined> {
  const stateBytes = await store.read(CHECKPOINT_FILES.state);
  if (!stateBytes) return undefined;
  let state: TrainingState;
  try {
    state = JSON.parse(new TextDecoder().decode(stateBytes)) as TrainingState;
  } catch {
    throw new CheckpointError(`${CHECKPOINT_FILES.state}: not JSON`);
  }
  if (state.format !== 'dynavit-train' || state.version !== 1)
    throw new CheckpointError(
      `${CHECKPOINT_FILES.state}: not a dynavit training state (format ${state.format}, version ${state.version})`,
    );
  const need = async (name: string) => {
    const b = await store.read(name);
    if (!b) throw new CheckpointError(`training checkpoint: ${name} is missing beside ${CHECKPOINT_FILES.state}`);
    return readSafetensors(b, name).tensors;
  };
  return {
    state,
    model: await need(CHECKPOINT_FILES.model),
    optimizer: await need(CHECKPOINT_FILES.optimizer),
    ...(state.ema ? { ema: await need(CHECKPOINT_FILES.ema) } : {}),
  };
}
