// A pool test worker: squares numbers; workerData.mode makes it fail on purpose:
// 'fail-start' throws before ready, 'exit-on' exits (code 3) when given that number,
// 'throw-on' reports an error for that number.
import { parentPort, workerData } from 'node:worker_threads';

const { mode, at } = workerData ?? {};
if (mode === 'fail-start') throw new Error('no backend here');
parentPort.on('message', (m) => {
  if (mode === 'exit-on' && m.task === at) process.exit(3);
  if (mode === 'throw-on' && m.task === at) {
    parentPort.postMessage({ type: 'error', id: m.id, name: 'NumericError', message: `cannot square ${at}` });
    return;
  }
  setTimeout(() => parentPort.postMessage({ type: 'result', id: m.id, value: m.task * m.task }), 5);
});
parentPort.postMessage({ type: 'ready' });
