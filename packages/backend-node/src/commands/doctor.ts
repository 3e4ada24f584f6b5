/** `dynavit doctor`: every Node backend, whether it is available, why not, and which one would be used. */
import { autoChoice, probeBackends } from '../backends.js';
import { formatTable } from '../table.js';

export async function cmdDoctor(out: (s: string) => void): Promise<number> {
  const probes = await probeBackends();
  const chosen = autoChoice(probes);
  out(formatTable(['backend', 'available', 'detail'], probes.map((p) => [p.backend + (p.backend === chosen ? ' ←' : ''), p.available ? 'yes' : 'no', p.reason])));
  out(`\nwould use: ${chosen ?? 'none'} (override with --backend NAME)`);
  out(`node ${process.version}, ${process.platform}/${process.arch}`);
  return chosen ? 0 : 1;
}
