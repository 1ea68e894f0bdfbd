// Benchmark: what the SBOMs add to `krepro package`, on the bench stage (real Go and C binaries), in one run.
//   node bench/sbom.mjs [STAGE_DIR] [ROUNDS]     (default /tmp/krepro-bench-stage, 3 rounds; best of each is kept)
// Times `package --no-source` as bench/package.sh does, then the SBOM step alone (writeSboms over the same tarballs
// and members, which packageRelease runs after packing), and prints the SBOM step's share as a ratio.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { planDirectory } from '../dist/lib/api/archive.js';
import { packageRelease } from '../dist/lib/api/package.js';
import { sbomArtifact, writeSboms } from '../dist/lib/api/sbom.js';
import { planReleaseTarballs } from '../dist/lib/layout/release-layout.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const shared = process.env.KREPRO_SHARED ?? path.join(here, '..', '..', 'shared');
const stage = process.argv[2] ?? '/tmp/krepro-bench-stage';
const rounds = Number(process.argv[3] ?? 3);
if (!existsSync(stage)) execFileSync('bash', [path.join(shared, 'bench', 'make-stage.sh'), stage], { stdio: 'inherit' });
const SDE = 1700000000;
const work = mkdtempSync(path.join(tmpdir(), 'krepro-bench-sbom-'));
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

let best = { pack: Infinity, sbom: Infinity };
let sizes = {};
try {
  for (let r = 1; r <= rounds; r++) {
    const out = path.join(work, `out${r}`);
    let t0 = process.hrtime.bigint();
    const result = await packageRelease({ stage, out, sourceDateEpoch: SDE });
    const pack = seconds(t0);
    // The same SBOM step on the same inputs: the tarballs as written and the members they were packed from.
    const jobs = await planReleaseTarballs(stage);
    const artifacts = [];
    for (const job of jobs) {
      const entries = await planDirectory(path.join(job.stagedDir, 'kubernetes'), { prefix: 'kubernetes', allowExternalSymlinks: false });
      artifacts.push(sbomArtifact(result.tarballs.find((t) => t.name === job.name), entries));
    }
    const dir = path.join(work, `sbom${r}`);
    execFileSync('mkdir', ['-p', dir]);
    t0 = process.hrtime.bigint();
    const written = await writeSboms({ dir, artifacts, sourceDateEpoch: SDE });
    const sbom = seconds(t0);
    sizes = Object.fromEntries(written.map((w) => [w.name, statSync(w.path).size]));
    process.stderr.write(`round ${r}: package ${pack.toFixed(2)} s, of which the SBOM step ${sbom.toFixed(2)} s\n`);
    best = { pack: Math.min(best.pack, pack), sbom: Math.min(best.sbom, sbom) };
    rmSync(out, { recursive: true, force: true });
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
const mib = Number(execFileSync('du', ['-sm', stage], { encoding: 'utf8' }).split('\t')[0]);
console.log(`stage: ${stage}, ${mib} MiB, best of ${rounds} rounds`);
console.log(`package (with SBOMs)   ${best.pack.toFixed(2)} s`);
console.log(`SBOM step alone        ${best.sbom.toFixed(2)} s`);
console.log(`ratio SBOM step / package without it: ${(best.sbom / (best.pack - best.sbom)).toFixed(3)}`);
for (const [name, size] of Object.entries(sizes)) console.log(`${name}: ${size} bytes`);
