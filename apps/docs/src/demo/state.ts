/** What the demo page publishes on `window.__dynavitDemo` after each step (read by the site test and any automation). */
import type { DrawStats } from './draw.js';

export interface DemoState {
  state: 'idle' | 'running' | 'done' | 'error';
  error?: string;
  backend?: string;
  /** mechanism modules recorded */
  traces?: number;
  /** how many of each kind (dat, bra, dbra, glmix) */
  traceKinds?: Record<string, number>;
  /** the top class (classify, segment) or the best detection's name (detect) */
  top?: string;
  /** detect: boxes drawn on the result canvas, and the detections (for cross-backend checks) */
  boxes?: number;
  objects?: { name: string; score: number; box: number[] }[];
  /** what the mechanism canvas shows */
  drawn?: DrawStats | null;
  timings?: { step: string; ms: number }[];
}
