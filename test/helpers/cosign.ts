import { randomBytes } from 'node:crypto';
import { pack } from 'tar-stream';
import type { Engine } from '../../lib/engine/engine.js';

/** The base the cosign image is made from; .ci/run makes it, as the engine tests need it anyway. */
const BASE = 'krepro-base:trixie';

let made: Promise<string> | undefined;

/**
 * An image with cosign from Debian trixie (apt, from Debian's mirror, which containers reach), made once per test
 * process under a tag unique to it and removed when the process ends; every test file that verifies with cosign
 * shares it. Built with the engine's classic builder from a one-line Dockerfile FROM krepro-base:trixie.
 */
export function cosignImage(engine: Engine): Promise<string> {
  made ??= build(engine);
  return made;
}

async function build(engine: Engine): Promise<string> {
  const tag = `krepro-test-cosign:${process.pid}-${randomBytes(4).toString('hex')}`;
  const dockerfile = `FROM ${BASE}\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends cosign && rm -rf /var/lib/apt/lists/*\n`;
  const context = pack();
  context.entry({ name: 'Dockerfile', mode: 0o644, mtime: new Date(0) }, dockerfile);
  context.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of context) chunks.push(chunk as Buffer);
  let removing = false;
  process.on('beforeExit', () => {
    if (removing) return;
    removing = true;
    void engine.images.remove(tag, { force: true }).catch(() => {});
  });
  const result = await engine.images.build(Buffer.concat(chunks), { tag, labels: { 'io.krepro.test': '1' } });
  if (result.errors.length > 0) throw new Error(`making ${tag} failed: ${result.errors.join('; ')}\n${result.tail.join('\n')}`);
  return tag;
}
