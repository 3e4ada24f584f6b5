/**
 * Backend selection in Node. This package registers backends and picks one; it holds no model code.
 * Order of preference (first available wins): wasm → cpu. GPU/native backends (tfjs-node-gpu,
 * tfjs-node, WebGPU through Dawn) join this list with the backend-node issue; their absence is
 * reported, never thrown.
 */
import * as tf from '@tensorflow/tfjs-core';
import { InvalidArgumentError } from '@dynavit/core';

export const NODE_BACKENDS = ['wasm', 'cpu'] as const;
export type NodeBackend = (typeof NODE_BACKENDS)[number];

export interface BackendChoice {
  backend: NodeBackend;
  /** why it was chosen */
  reason: string;
}

export function isNodeBackend(name: string): name is NodeBackend {
  return (NODE_BACKENDS as readonly string[]).includes(name);
}

async function register(name: NodeBackend): Promise<void> {
  // Importing a backend package registers it with tfjs-core (its documented side effect).
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  else await import('@tensorflow/tfjs-backend-cpu');
}

/**
 * Register and activate a backend. `prefer` forces one (an error if it cannot start); otherwise the
 * first of NODE_BACKENDS that initialises is used. Returns the choice and why.
 */
export async function selectBackend(opts: { prefer?: string } = {}): Promise<BackendChoice> {
  if (opts.prefer !== undefined) {
    if (!isNodeBackend(opts.prefer))
      throw new InvalidArgumentError(`unknown backend "${opts.prefer}"; available in Node: ${NODE_BACKENDS.join(', ')}`);
    await register(opts.prefer);
    if (!(await tf.setBackend(opts.prefer))) throw new InvalidArgumentError(`backend "${opts.prefer}" failed to initialise`);
    await tf.ready();
    return { backend: opts.prefer, reason: 'requested' };
  }
  const failures: string[] = [];
  for (const name of NODE_BACKENDS) {
    try {
      await register(name);
      if (await tf.setBackend(name)) {
        await tf.ready();
        return { backend: name, reason: failures.length ? `first available (${failures.join('; ')})` : 'first available' };
      }
      failures.push(`${name} failed to initialise`);
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  throw new InvalidArgumentError(`no tfjs backend could start: ${failures.join('; ')}`);
}
