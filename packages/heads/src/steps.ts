/**
 * Detection inference alternates device work (convs, fcs) with host work whose shapes depend on the
 * data (top-k, NMS, RoIAlign, pasting). The pipelines are written once as generators that yield the
 * float32 tensors they need on the host and receive their contents back; a synchronous driver
 * (`dataSync`, for the parity harness) and an asynchronous one (`data()`, for apps: no blocking
 * read on WebGL/WebGPU) run them. The driver owns what is yielded: it reads, then disposes it.
 */
import type * as tf from '@tensorflow/tfjs-core';

export type Steps<R> = Generator<tf.Tensor[], R, Float32Array[]>;

const asF32 = (d: tf.TypedArray | Float32Array): Float32Array => (d instanceof Float32Array ? d : Float32Array.from(d));

/** A batch's contents, or why reading it failed. */
type Read = { host: Float32Array[] } | { error: unknown };

/**
 * The driver's part after reading what the pipeline yielded: dispose those tensors, then resume the
 * pipeline with their contents or, when the read failed, close it (its `finally` blocks run) and rethrow.
 */
function resume<R>(steps: Steps<R>, yielded: readonly tf.Tensor[], read: Read): IteratorResult<tf.Tensor[], R> {
  for (const t of yielded) t.dispose();
  if ('error' in read) {
    steps.return(undefined as R);
    throw read.error;
  }
  return steps.next(read.host);
}

/** Run a pipeline, reading each yielded batch with `dataSync`. */
export function runSync<R>(steps: Steps<R>): R {
  let r = steps.next([]);
  while (!r.done) {
    const ts = r.value;
    let read: Read;
    try {
      read = { host: ts.map((t) => asF32(t.dataSync())) };
    } catch (error) {
      read = { error };
    }
    r = resume(steps, ts, read);
  }
  return r.value;
}

/** Run a pipeline, reading each yielded batch with `await data()`. */
export async function runAsync<R>(steps: Steps<R>): Promise<R> {
  let r = steps.next([]);
  while (!r.done) {
    const ts = r.value;
    const read = await Promise.all(ts.map((t) => t.data())).then(
      (data): Read => ({ host: data.map(asF32) }),
      (error: unknown): Read => ({ error }),
    );
    r = resume(steps, ts, read);
  }
  return r.value;
}
