import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { isKreproError } from '../lib/index.js';
import { diff } from '../lib/diff/compare.js';
import type { DiffReport } from '../lib/diff/types.js';
import { renderHtml } from '../lib/report/html.js';
import { renderJson } from '../lib/report/json.js';
import { renderText } from '../lib/report/text.js';
import { diffCli as cli, elfLike, pinned, tarOf, write } from './helpers/diff-pairs.js';
import { testWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';
import { CHROMIUM, dumpDom, pngColours, screenshot } from './helpers/browser.js';

const validate = new Ajv2020({ strict: true, allErrors: true }).compile(JSON.parse(readFileSync(path.resolve('schemas/diff-report.schema.json'), 'utf8')));

/** One pair with a bit of everything: nested src diff, ELF build path, embedded date, umask, owner, order, hostile names. */
async function richPair(dir: string): Promise<[string, string]> {
  const src = (line: string) => tarOf([{ name: 'src/' }, { name: 'src/main.go', body: `package main\n\nfunc main() {\n\t${line}\n}\n` }]).then((t) => pinned(t));
  const elf = (n: string) => elfLike([`\xff Go build ID: "id${n}/x"\n \xff`, `/home/builder${n}/go/src/k8s.io/kubernetes/cmd/kubectl/main.go`]);
  const stamp = (d: string) => Buffer.concat([Buffer.alloc(300), Buffer.from(`\0built ${d}\0`), Buffer.alloc(300, 7)]);
  const left = await tarOf([
    { name: 'kubernetes/' },
    { name: 'kubernetes/a.txt', body: 'same\n' },
    { name: 'kubernetes/b.txt', body: 'same\n', mode: 0o644 },
    { name: 'kubernetes/kubectl', body: elf('1'), mode: 0o755 },
    { name: 'kubernetes/kubernetes-src.tar.gz', body: await src('println("a")') },
    { name: 'kubernetes/stamp', body: stamp('2024-01-01T00:00:00Z') },
  ]);
  const right = await tarOf([
    { name: 'kubernetes/' },
    { name: 'kubernetes/b.txt', body: 'same\n', mode: 0o664, uid: 1000, uname: 'me' },
    { name: 'kubernetes/a.txt', body: 'same\n' },
    { name: 'kubernetes/kubectl', body: elf('22'), mode: 0o755 },
    { name: 'kubernetes/kubernetes-src.tar.gz', body: await src('println("b")') },
    { name: 'kubernetes/stamp', body: stamp('2024-02-02T10:10:10Z') },
    { name: '../escape', body: 'x' },
  ]);
  return [write(dir, 'left.tar.gz', await pinned(left)), write(dir, 'right.tar.gz', await pinned(right))];
}


let rich: DiffReport;
let dir: string;
test.before(async () => {
  dir = tempDir();
  const [l, r] = await richPair(dir);
  rich = await diff(l, r);
});

test('the rich pair: every cause found where it was put', () => {
  const at = (cause: string) => rich.summary.causes.find((c) => c.cause === cause)?.count ?? 0;
  for (const cause of ['order', 'umask', 'owner', 'build-path', 'go-build-id', 'timestamp', 'content', 'file-set']) assert.ok(at(cause) > 0, cause);
  assert.equal(rich.refused.map((x) => x.kind), ['unsafe-name']);
});

test('--json: valid against schemas/diff-report.schema.json (ajv, draft 2020-12), for different, identical and directory reports', async () => {
  const ok = validate(JSON.parse(renderJson(rich)));
  assert.ok(ok, JSON.stringify(validate.errors));
  const [l] = await richPair(tempDir());
  const same = await diff(l, l);
  assert.ok(validate(JSON.parse(renderJson(same))), JSON.stringify(validate.errors));
  const dirs = await diff(path.resolve('fixtures/release-stage/client'), path.resolve('fixtures/release-stage/node'));
  assert.ok(validate(JSON.parse(renderJson(dirs))), JSON.stringify(validate.errors));
  assert.not.ok(validate({ ...rich, schema: 'x' }), 'the schema rejects a wrong version');
});

test('text: grouped by cause with why and fix, refusals listed, details with the unified diff and byte ranges', () => {
  const text = renderText(rich);
  assert.match(text, /^.*left\.tar\.gz and .*right\.tar\.gz differ: \d+ findings, \d+ causes, 1 refused\n/);
  assert.match(text, /\n\[build-path\] build paths \(1\)\n {2}why: .*\n {2}fix: Go: go build -trimpath/);
  assert.match(text, /embedded build path: \/home\/builder1 → \/home\/builder22/);
  assert.match(text, /\[umask\] umask \(1\)[\s\S]*mode: 0644 → 0664\n {6}in kubernetes\/b\.txt/);
  assert.match(text, /Refused or not followed \(1\):\n {2}- right: \.\.\/escape: unsafe-name/);
  assert.match(text, /-\tprintln\("a"\)\n.*\+\tprintln\("b"\)/);
  assert.match(text, /@0x[0-9a-f]+, \d+ bytes:\n.*- 0000/);
});

test('--html: self-contained and collapsible per member', () => {
  const html = renderHtml(rich);
  assert.not.match(html, /<script|<link|<img|src=|url\(/i);
  const members = (html.match(/<details data-kind="member">/g) ?? []).length;
  assert.ok(members >= 6, `${members} collapsible member sections`);
});

testWhen(existsSync(CHROMIUM) ? undefined : 'chromium is not installed (apt-get install chromium)', '--html renders in headless Chromium', () => {
  const html = renderHtml(rich);
  const members = (html.match(/<details data-kind="member">/g) ?? []).length;
  const file = path.join(dir, 'report.html');
  writeFileSync(file, html);
  const png = screenshot(file, 1280, 1600);
  assert.ok(statSync(png).size > 20_000, `screenshot is ${statSync(png).size} bytes`);
  const colours = pngColours(png);
  assert.ok(colours > 16, `${colours} colours: not a blank page`);
  const dom = dumpDom(file);
  assert.match(dom, /<h3>build paths <span class="badge">1<\/span><\/h3>/);
  assert.is((dom.match(/<details data-kind="member">/g) ?? []).length, members);
});

test('CLI: exit 1 with text, --json and --html; exit 0 identical; usage and bad input errors name the problem', async () => {
  const different = await cli(['left.tar.gz', 'right.tar.gz', '--html', 'out.html'], dir);
  assert.is(different.code, 1);
  assert.match(different.stdout, /^left\.tar\.gz and right\.tar\.gz differ/);
  assert.match(readFileSync(path.join(dir, 'out.html'), 'utf8'), /^<!doctype html>/);
  const json = await cli(['--json', 'left.tar.gz', 'right.tar.gz'], dir);
  assert.is(json.code, 1);
  assert.ok(validate(JSON.parse(json.stdout)));
  assert.is(JSON.parse(json.stdout).source1, 'left.tar.gz');
  const same = await cli(['left.tar.gz', 'left.tar.gz'], dir);
  assert.is(same.code, 0);
  assert.is(same.stdout, 'left.tar.gz and left.tar.gz are identical\n');
  assert.is((await cli(['left.tar.gz'], dir)).code, 2);
  assert.is((await cli(['--max-depth', 'x', 'a', 'b'], dir)).code, 2);
  writeFileSync(path.join(dir, 'notes.txt'), 'hello\n');
  assert.is((await cli(['left.tar.gz', 'notes.txt'], dir)).code, 1, 'any two files are compared');
  const bad = await cli(['left.tar.gz', 'missing.txt'], dir).catch((e: unknown) => e);
  // cli/main.ts turns every KreproError into exit status 2 with this message.
  assert.ok(isKreproError(bad) && bad.code === 'E_IO' && bad.message.includes('missing.txt'), String(bad));
  assert.is((await cli(['--json', '--markdown', 'a', 'b'], dir)).code, 2);
  assert.match((await cli(['--help'], dir)).stdout, /^Usage: krepro diff/);
});

test.run();
