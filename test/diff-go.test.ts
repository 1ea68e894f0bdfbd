import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { planDirectory, writeTarball } from '../lib/api/archive.js';
import { diff } from '../lib/diff/compare.js';
import { allFindings } from '../lib/diff/difference.js';
import { engineOrSkip } from './helpers/engine.js';
import { suiteWhen } from './helpers/skip.js';
import { FIXTURES, tempDir } from './helpers/stage.js';

// A real Go binary with its build path embedded: kubectl of the Kubernetes-like fixture, built twice by the build
// image (krepro run) without -trimpath in two different directories, then packed by krepro and diffed.
const CLI = path.resolve('dist/cli/main.js');
const SDE = 1700000000;
const docker = await engineOrSkip();

function checkout(): string {
  const dir = tempDir('krepro-diff-go-');
  cpSync(path.join(FIXTURES, 'kube-like'), dir, { recursive: true });
  const env = { ...process.env, GIT_AUTHOR_DATE: `@${SDE} +0000`, GIT_COMMITTER_DATE: `@${SDE} +0000`, GIT_AUTHOR_NAME: 'k', GIT_AUTHOR_EMAIL: 'k@x.invalid', GIT_COMMITTER_NAME: 'k', GIT_COMMITTER_EMAIL: 'k@x.invalid' };
  for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'fixture']]) execFileSync('git', args, { cwd: dir, env });
  return dir;
}

suiteWhen(docker, 'no Docker engine', (_docker, test) => {
  let dir = '';
  test.after(() => {
    if (!dir) return;
    spawnSync(process.execPath, [CLI, 'clean'], { cwd: dir });
    rmSync(dir, { recursive: true, force: true });
  });

  test('a Go binary built in another directory without -trimpath: build path roots and Go build ID named', async () => {
    dir = checkout();
    // GOFLAGS= undoes the image's -trimpath; each build copies the module to its own directory first.
    const script = [
      'set -e',
      'out=$PWD/_output/dockerized/bin/linux/amd64',
      'mkdir -p "$out"',
      'for d in /tmp/build-a /tmp/build-bb; do rm -rf "$d"; mkdir -p "$d"; cp -r go.mod cmd pkg vendor "$d"/; (cd "$d" && GOFLAGS= go build -o "$out/kubectl-${d##*-}" ./cmd/kubectl); done',
    ].join('\n');
    const r = spawnSync(process.execPath, [CLI, 'run', '--', 'sh', '-c', script], { cwd: dir, encoding: 'utf8', timeout: 900_000 });
    assert.is(r.status, 0, r.stderr);
    const bin = path.join(dir, '_output/dockerized/bin/linux/amd64');
    const tarballs: string[] = [];
    for (const side of ['a', 'bb']) {
      const stage = path.join(dir, `stage-${side}`, 'kubernetes/client/bin');
      mkdirSync(stage, { recursive: true });
      cpSync(path.join(bin, `kubectl-${side}`), path.join(stage, 'kubectl'));
      const entries = await planDirectory(path.join(dir, `stage-${side}`, 'kubernetes'), { prefix: 'kubernetes' });
      const out = path.join(dir, `client-${side}.tar.gz`);
      await writeTarball(entries, { mtime: SDE }, out, { gzip: { level: 6 } });
      tarballs.push(out);
    }
    const report = await diff(tarballs[0]!, tarballs[1]!);
    const fs = allFindings(report.tree);
    const pathFinding = fs.find((f) => f.cause === 'build-path');
    assert.ok(pathFinding, JSON.stringify(fs, null, 1));
    assert.equal([pathFinding!.left, pathFinding!.right], ['/tmp/build-a', '/tmp/build-bb']);
    assert.equal(pathFinding!.path, ['kubernetes/client/bin/kubectl']);
    const id = fs.find((f) => f.cause === 'go-build-id');
    assert.ok(id && id.left && id.right && id.left !== id.right, JSON.stringify(id));
  });
});

test.run();
