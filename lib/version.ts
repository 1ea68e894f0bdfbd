import { createRequire } from 'node:module';

/** krepro's own version, recorded in manifests and provenance. Read through the package's self-reference. */
export const KREPRO_VERSION: string = (createRequire(import.meta.url)('krepro/package.json') as { version: string }).version;
