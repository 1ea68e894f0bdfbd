// Benchmark of syncSources on a Kubernetes-sized tree: first sync, no-op re-sync, one-file change.
// Run through bench/sync.sh. Targets: no-op ≤ 2 s and < 1 MiB sent; a one-file change sends about that file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CONTAINER_SOURCE_DIR } from '../lib/checkout/names.js';
import { openEngine } from '../lib/engine/connect.js';
import type { SyncResult } from '../lib/backend/session.js';
import { syncSources, type SyncProgress } from '../lib/backend/docker/sync/source-sync.js';

const [treeArg, imageArg, filesArg] = process.argv.slice(2);
const tree = treeArg ?? '/tmp/krepro-bench-sync-tree';
const image = imageArg ?? 'krepro-test-node:trixie';
const FILES = Number(filesArg ?? 20_000);

/** Deterministic tree: FILES files over ~1,000 directories three levels deep, sizes 200 B to ~40 KB (mean ~8 KB). */
function makeTree(root: string): void {
  mkdirSync(root, { recursive: true });
  let seed = 42;
  const rand = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const line = 'func example() { return strings.Repeat("k8s", 3) } // filler line for size\n';
  for (let i = 0; i < FILES; i++) {
    const rel = `staging/src/k8s.io/m${i % 10}/pkg${Math.floor(i / 10) % 10}/d${Math.floor(i / 100) % 10}/sub${Math.floor(i / 1000)}/file${i}.go`;
    const size = Math.floor(200 + (rand() ** 2) * 24_000);
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), line.repeat(Math.ceil(size / line.length)).slice(0, size));
  }
  writeFileSync(path.join(root, '.gitignore'), '/_output/\n');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: root, stdio: 'ignore' });
  git('init', '-q');
  git('add', '-A');
  git('-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '-q', '-m', 'tree');
}

async function main(): Promise<void> {
  if (!existsSync(path.join(tree, '.git'))) {
    const t = Date.now();
    makeTree(tree);
    console.log(`made ${FILES}-file git tree at ${tree} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const docker = await openEngine({ env: process.env });
  const volume = `krepro-bench-sync-${randomBytes(4).toString('hex')}`;
  await docker.volumes.create(volume, { 'io.krepro.bench': '1' });
  const owner = { uid: 1000, gid: 1000 };

  const run = async (label: string): Promise<SyncResult> => {
    const t0 = performance.now();
    const marks: string[] = [];
    const onProgress = (e: SyncProgress): void => {
      if (e.phase !== 'send') marks.push(`${e.phase} ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    };
    const r = await syncSources(docker, { checkoutRoot: tree, volume, image, containerDir: CONTAINER_SOURCE_DIR, owner, onProgress });
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `${label.padEnd(16)} ${secs.toFixed(2).padStart(6)} s  sent ${String(r.sent).padStart(5)} files ${fmt(r.sentBytes).padStart(10)}  tar ${fmt(r.tarBytes).padStart(10)}` +
        `  unchanged ${r.unchanged}  deleted ${r.deleted}   [${marks.join(', ')}]`,
    );
    return r;
  };

  try {
    const first = await run('first sync');
    const noop = await run('no-op re-sync');
    const changed = path.join(tree, 'staging/src/k8s.io/m3/pkg3/d3/sub3/file3333.go');
    writeFileSync(changed, `// edited ${Date.now()}\n` + 'x'.repeat(5000));
    const one = await run('one-file change');
    const noopSecs = await timeIt(() => run('no-op again'));
    console.log(
      `files ${first.scanned}, tree ${fmt(first.sentBytes)}; changed file ${fmt(statSync(changed).size)}; ` +
        `${process.versions.node} on ${(await import('node:os')).cpus().length} cores; max RSS ${fmt(process.resourceUsage().maxRSS * 1024)}`,
    );
    const ok = noop.tarBytes < 1024 * 1024 && noopSecs <= 2 && one.sent === 1;
    console.log(`targets: no-op ≤ 2 s and < 1 MiB sent, one-file change sends 1 file: ${ok ? 'met' : 'NOT met'}`);
  } finally {
    await docker.volumes.remove(volume).catch(() => {});
  }
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

function fmt(n: number): string {
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

await main();
