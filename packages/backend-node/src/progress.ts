/**
 * A progress bar on stderr for work that takes more than a couple of seconds. Drawn only when stderr
 * is a TTY (never in CI logs or pipes); otherwise every call is a no-op.
 */
export interface Progress {
  update(done: number, label?: string): void;
  done(): void;
}

export function progressBar(total: number, title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || total <= 0) return { update() {}, done() {} };
  const start = Date.now();
  let last = 0;
  const draw = (n: number, label = '') => {
    const width = 28;
    const frac = Math.min(1, n / total);
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const secs = ((Date.now() - start) / 1000).toFixed(1);
    stream.write(
      `\r${title} ${bar} ${n}/${total} ${secs}s ${label}`
        .slice(0, (stream.columns ?? 100) - 1)
        .padEnd(Math.min(stream.columns ?? 100, 100) - 1),
    );
  };
  return {
    update(n, label) {
      const now = Date.now();
      if (now - last < 100 && n < total) return;
      last = now;
      draw(n, label);
    },
    done() {
      draw(total);
      stream.write('\n');
    },
  };
}
