/**
 * Loaded by every Node vitest config (`setupFiles`, through `vitest-node.ts`). Vitest's worker gives the
 * main process 60 s to acknowledge each progress report and can read the reply only when its event loop
 * turns. A file of synchronous tests (building full-size models, running them on tfjs-cpu) keeps the loop busy from one
 * test to the next, so on a slow machine a file longer than 60 s fails with `Timeout calling
 * "onTaskUpdate"` although every test passed (CI, packages/pipelines, 66 s). After each test the loop
 * turns once through its poll phase, where the reply is read: a timer, then an immediate. (An immediate
 * alone resolves in the same turn, before any poll, and does not help.) The timers are node's own, which
 * `vi.useFakeTimers()` does not replace. It bounds the time between turns, not a file's length: one test
 * (or a `beforeAll` with the first test) of over 60 s of synchronous work still fails.
 */
import { setImmediate, setTimeout } from 'node:timers';
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setTimeout(() => setImmediate(resolve), 0)));
