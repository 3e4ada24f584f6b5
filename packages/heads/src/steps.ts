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

function disposeAll(ts: readonly tf.Tensor[]): void {
  for (const t of ts) t.dispose();
}

/** Run a pipeline, reading each yielded batch with `dataSync`. */
export function runSync<R>(steps: Steps<R>): R {
  let r = steps.next([]);
  while (!r.done) {
    const ts = r.value;
    let host: Float32Array[];
    try {
      host = ts.map((t) => asF32(t.dataSync()));
    } catch (e) {
      disposeAll(ts);
      steps.return(undefined as R);
      throw e;
    }
    disposeAll(ts);
    r = steps.next(host);
  }
  return r.value;
}

/** Run a pipeline, reading each yielded batch with `await data()`. */
export async function runAsync<R>(steps: Steps<R>): Promise<R> {
  let r = steps.next([]);
  while (!r.done) {
    const ts = r.value;
    let host: Float32Array[];
    try {
      host = (await Promise.all(ts.map((t) => t.data()))).map(asF32);
    } catch (e) {
      disposeAll(ts);
      steps.return(undefined as R);
      throw e;
    }
    disposeAll(ts);
    r = steps.next(host);
  }
  return r.value;
}
