// The public API: its reports are current, its declarations reach no third-party type, its entry points load no
// engine client, and the CLI goes through it. Reads dist/ (npm run build first).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiReports, entryPoints } from './helpers/api-report.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

test('every entry point is a file of lib/api (or lib/index.ts) and every file of lib/api an entry point', () => {
  const declared = entryPoints().map((e) => path.relative(path.join(ROOT, 'dist'), e.types).replace(/\.d\.ts$/, '.ts')).sort();
  const files = ['lib/index.ts', ...readdirSync(path.join(ROOT, 'lib', 'api')).map((f) => `lib/api/${f}`)].sort();
  assert.equal(declared, files);
});

test('the API reports in docs/api match the surface, and every exported type, function, class and field is documented', () => {
  const outcomes = apiReports();
  const stale = outcomes.filter((o) => !o.current).map((o) => `docs/api/${o.report}`);
  assert.equal(stale, [], `the public surface changed: run npm run api-report and commit ${stale.join(', ')}`);
  const problems = outcomes.flatMap((o) => o.problems.map((p) => `${o.subpath}: ${p}`));
  assert.equal(problems, [], problems.join('\n'));
});

/** Module specifiers the declarations reachable from `file` import, other than relative ones. */
function declarationImports(file: string, seen = new Set<string>()): Set<string> {
  const found = new Set<string>();
  if (seen.has(file)) return found;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"]([^'"]+)['"]/g)) {
    const spec = m[1]!;
    if (spec.startsWith('.')) {
      for (const f of declarationImports(path.resolve(path.dirname(file), spec.replace(/\.js$/, '.d.ts')), seen)) found.add(f);
    } else found.add(spec);
  }
  return found;
}

test('the declarations of every entry point reach no third-party module, only Node built-ins', () => {
  for (const entry of entryPoints()) {
    const outside = [...declarationImports(entry.types)].filter((s) => !s.startsWith('node:'));
    assert.equal(outside, [], `krepro${entry.subpath.slice(1)} declarations import ${outside.join(', ')}`);
  }
});

test('importing any entry point loads no engine client (dockerode loads on the first connection)', () => {
  for (const entry of entryPoints()) {
    const spec = `krepro${entry.subpath.slice(1)}`;
    const script = `await import(${JSON.stringify(spec)}); const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache).map((f) => f.match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)/)?.[1]).filter(Boolean);
      console.log(JSON.stringify([...new Set(loaded)].sort()));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const loaded = JSON.parse(r.stdout) as string[];
    for (const heavy of ['dockerode', 'docker-modem', 'ssh2']) assert.not.ok(loaded.includes(heavy), `import '${spec}' loads ${heavy} (it loaded ${loaded.join(', ')})`);
  }
});

/**
 * What the CLI takes from lib/ besides the public entry points, and why: terminal quoting and path checks that are
 * the CLI's presentation and input handling, not an API release tooling needs.
 */
const CLI_INTERNALS: Record<string, string> = {
  'lib/quote.js': 'quoting values and names for terminal output',
  'lib/archive/pack.js': 'reports written whole or not at all (a temporary file, then a rename)',
  'lib/archive/libdeflate.js': '--version checks the WebAssembly file it ships against its pinned digest',
  'lib/backend/wrapper.js': 'krepro seccomp: the profile verify builds run under',
  'lib/checkout/beneath.js': 'command-line paths checked to lie inside the checkout',
  'lib/environment/build-image.js': 'proxy variables passed to builds, and redacted in messages',
  'lib/project/project.js': '--command and --output values checked as the project file checks them',
  'lib/report/check.js': "the headline of check's text output",
  'lib/source/git.js': 'whether --source is a git checkout, and the commit verify builds, before any work',
  'lib/source/source-date-epoch.js': '--mtime as seconds or an ISO 8601 date',
  'lib/verify/plan.js': "--plan's value checked, naming the plans verify knows",
};

test('the CLI imports the library through its entry points, and the few internals it uses are listed with why', () => {
  const used = new Set<string>();
  for (const f of readdirSync(path.join(ROOT, 'cli')).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(path.join(ROOT, 'cli', f), 'utf8').matchAll(/from '\.\.\/(lib\/[^']+)'/g)) {
      const mod = m[1]!;
      if (mod === 'lib/index.js' || mod.startsWith('lib/api/')) continue;
      assert.ok(mod in CLI_INTERNALS, `cli/${f} imports ${mod}, which is neither an entry point nor listed in CLI_INTERNALS`);
      used.add(mod);
    }
  }
  assert.equal([...used].sort(), Object.keys(CLI_INTERNALS).sort(), 'CLI_INTERNALS lists a module the CLI no longer imports');
});

test.run();
