import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { cleanCheckout, isKreproError, openEngine } from '../lib/index.js';
import { type CommandIO, EXIT } from './io.js';

export const CLEAN_HELP = `Usage: krepro clean [--host URL]

Removes _output/ and this checkout's build images, containers and data volumes (all versions). Other
checkouts' state on the same engine is untouched. Without a reachable engine, _output/ is still removed
and the engine part is reported as skipped.
`;

export async function cleanCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { host: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    io.stdout.write(CLEAN_HELP);
    return EXIT.ok;
  }
  const engine = await openEngine({ env: io.env, ...(values.host ? { host: values.host } : {}), signal: io.signal }).catch((err: unknown) => {
    if (isKreproError(err) && err.code === 'E_ENGINE_UNREACHABLE') {
      io.stderr.write(`engine not reachable, so only _output/ is removed: ${err.message}\n`);
      return undefined;
    }
    throw err;
  });
  const r = await cleanCheckout(io.cwd, { hostname: hostname(), ...(engine ? { engine } : {}), signal: io.signal });
  io.stderr.write(`removed ${r.output}\n`);
  if (r.removed) {
    io.stderr.write(`removed ${r.removed.containers.length} containers, ${r.removed.images.length} images, ${r.removed.volumes.length} volumes\n`);
  }
  return EXIT.ok;
}
