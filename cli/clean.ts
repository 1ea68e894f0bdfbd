import { hostname } from 'node:os';
import { cleanCheckout } from '../lib/api/backend.js';
import { isKreproError } from '../lib/index.js';
import { defineCommand, parseCommand, SIGNAL_EXITS } from './command.js';
import { showHelp } from './help.js';
import { backendFor } from './build-options.js';
import { type CommandIO, EXIT } from './io.js';
import { uiFor } from './ui.js';

export const CLEAN = defineCommand({
  name: 'clean',
  summary: "remove _output/ and this checkout's build images, containers and volumes",
  usage: ['clean [--host URL]'],
  description: `Removes _output/ and this checkout's build images, containers and data volumes (all versions). Other
checkouts' state on the same engine is untouched. Without a reachable engine, _output/ is still removed
and the engine part is reported as skipped.`,
  options: {
    host: { type: 'string', value: 'URL', complete: 'none', help: 'Docker engine (default: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH as the docker CLI reads them)' },
  },
  exits: [
    [0, 'removed'],
    [2, 'usage or environment error'],
    ...SIGNAL_EXITS,
  ],
});

export async function cleanCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseCommand(CLEAN, argv);
  if (values.help) return showHelp(CLEAN, io);
  const ui = uiFor(io, values);
  const backend = await backendFor(values.host, io, ui).catch((err: unknown) => {
    if (isKreproError(err) && err.code === 'E_ENGINE_UNREACHABLE') {
      ui.note(`engine not reachable, so only _output/ is removed: ${err.message}`);
      return undefined;
    }
    throw err;
  });
  const r = await cleanCheckout(io.cwd, { hostname: hostname(), ...(backend ? { backend } : {}), signal: io.signal });
  ui.note(`removed ${r.output}`);
  if (r.removed) ui.note(`removed ${r.removed.containers.length} containers, ${r.removed.images.length} images, ${r.removed.volumes.length} volumes`);
  return EXIT.ok;
}
