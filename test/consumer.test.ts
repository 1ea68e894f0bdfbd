// The package as a new user gets it: `npm pack` from a fresh clone (only the files git knows, so nothing built here
// leaks in), `npm install` of the tarball into a new project, `tsc --strict` without skipLibCheck under TypeScript 5
// and 6, and the README's release script run from what was installed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOLDEN, makeSourceRepo, materializeStage, tempDir } from './helpers/stage.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = path.join(ROOT, 'test', 'consumer', 'release.ts');
const dir = tempDir('krepro-consumer-');
const consumer = path.join(dir, 'consumer');
let tarball = '';

// npm run by `npm test` exports its settings as npm_config_*: the npm calls here run as a user's would, without them.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_|^INIT_CWD$|^SOURCE_DATE_EPOCH$/i.test(k)));

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return r;
}

function ok(cmd: string, args: string[], cwd: string): string {
  const r = run(cmd, args, cwd);
  assert.is(r.status, 0, `${cmd} ${args.join(' ')} in ${cwd} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('npm pack from a fresh clone builds first and ships the runtime, its types and LICENSE, nothing else', () => {
  const clone = path.join(dir, 'clone');
  // Tracked files and new ones not ignored: a fresh clone of what would be committed.
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
    cpSync(path.join(ROOT, f), path.join(clone, f), { verbatimSymlinks: true });
  }
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
  const [packed] = JSON.parse(ok('npm', ['pack', '--json', '--pack-destination', dir], clone)) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(dir, packed!.filename);
  const names = packed!.files.map((f) => f.path);
  const manifest = JSON.parse(readFileSync(path.join(clone, 'package.json'), 'utf8')) as { bin: Record<string, string>; exports: Record<string, string | Record<string, string>> };
  const targets = Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
  for (const required of ['LICENSE', 'README.md', 'CHANGELOG.md', 'wasm/libdeflate.wasm', 'build-image/environment.lock.json', 'dist/man/krepro.1', ...Object.values(manifest.bin), ...targets]) {
    if (required.includes('*')) continue;
    assert.ok(names.includes(required.replace(/^\.\//, '')), `the package lacks ${required}`);
  }
  const unwanted = names.filter((n) => n.endsWith('.map') || (n.endsWith('.ts') && !n.endsWith('.d.ts')) || /^dist\/cli\/.*\.d\.ts$/.test(n) || /^(test|fixtures|bench|docs|lib|cli)\//.test(n));
  assert.equal(unwanted, [], 'source maps, TypeScript sources, CLI declarations or repository-only folders in the package');
});

test('it installs into a new project with npm, with TypeScript 5 and 6 in the same install', () => {
  mkdirSync(consumer);
  writeFileSync(path.join(consumer, 'package.json'), `${JSON.stringify({ name: 'krepro-consumer', private: true, type: 'module' }, null, 2)}\n`);
  // --prefer-online: dependency versions as the registry has them now, as a new user would get them.
  ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-online', tarball, 'typescript@5', 'typescript-6@npm:typescript@6', '@types/node@20'], consumer);
  const version = (pkg: string) => (JSON.parse(readFileSync(path.join(consumer, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  assert.match(version('typescript'), /^5\./);
  assert.match(version('typescript-6'), /^6\./);
  assert.match(ok(path.join(consumer, 'node_modules', '.bin', 'krepro'), ['--version'], consumer), new RegExp(`^krepro ${version('krepro').replaceAll('.', '\\.')}\\b`));
});

const strict = { strict: true, target: 'ES2022', types: ['node'], outDir: 'out', rootDir: '.' };

test('the release script type-checks with --strict and without skipLibCheck under TypeScript 5 (NodeNext) and 6 (NodeNext and bundler)', () => {
  cpSync(SCRIPT, path.join(consumer, 'release.ts'));
  writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...strict, module: 'NodeNext' }, files: ['release.ts'] }));
  writeFileSync(path.join(consumer, 'tsconfig.bundler.json'), JSON.stringify({ compilerOptions: { ...strict, module: 'preserve', moduleResolution: 'bundler', noEmit: true }, files: ['release.ts'] }));
  const tsc = (pkg: string, ...args: string[]) => ok(process.execPath, [path.join(consumer, 'node_modules', pkg, 'bin', 'tsc'), ...args], consumer);
  tsc('typescript', '-p', 'tsconfig.json');
  tsc('typescript-6', '-p', 'tsconfig.json', '--noEmit');
  tsc('typescript-6', '-p', 'tsconfig.bundler.json');
});

test('the release script runs from the installed package: golden digests, sums checked, signature verified, the difference explained', () => {
  const stage = materializeStage(path.join(dir, 'stage'));
  const source = makeSourceRepo(path.join(dir, 'source'), GOLDEN.sourceDateEpoch);
  const work = path.join(dir, 'work');
  mkdirSync(work);
  const out = ok(process.execPath, [path.join(consumer, 'out', 'release.js'), stage, source, work], consumer);
  for (const [name, sha256] of Object.entries(GOLDEN.sha256)) assert.ok(out.includes(`${sha256}  ${name}\n`), `${name} is not ${sha256}:\n${out}`);
  assert.match(out, /^checked \d+ files against \d+ lists$/m);
  assert.match(out, /^krepro\.intoto\.jsonl: signed by [0-9a-f]{64}, \d+ subjects$/m);
  assert.match(out, /^kubernetes-client-linux-amd64\.tar\.gz differs: \d+ × [a-z-]+ \(fix: .+\)$/m);
});

test("the README's library section shows the release script as it is tested", () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  assert.ok(readme.includes(`\`\`\`ts\n${readFileSync(SCRIPT, 'utf8')}\`\`\`\n`), 'README.md does not hold test/consumer/release.ts verbatim in a ```ts block');
});

test.run();
