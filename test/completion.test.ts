import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { COMMON_OPTIONS } from '../cli/command.js';
import { COMMANDS } from '../cli/commands.js';
import { commandManPage } from '../cli/man.js';
import { cliEnv } from './helpers/cli.js';
import { testWhen } from './helpers/skip.js';
import { tempDir } from './helpers/stage.js';

// Shell completion as a person gets it: `krepro completion SHELL` loaded into a real bash, zsh and fish, asked for
// the completions of unfinished command lines. And the man pages npm run build writes, rendered by man(1).
const CLI = path.resolve('dist/cli/main.js');
const work = tempDir('krepro-completion-');
const scripts = Object.fromEntries(
  ['bash', 'zsh', 'fish'].map((shell) => {
    const file = path.join(work, `krepro.${shell}`);
    const r = spawnSync(process.execPath, [CLI, 'completion', shell], { encoding: 'utf8', env: cliEnv() });
    assert.is(r.status, 0, r.stderr);
    writeFileSync(file, r.stdout);
    return [shell, file];
  }),
) as Record<'bash' | 'zsh' | 'fish', string>;
const files = path.join(work, 'files');
mkdirSync(path.join(files, 'sub'), { recursive: true });
for (const f of ['key.pub', 'key.pem']) writeFileSync(path.join(files, f), '');

const has = (shell: string) => (spawnSync(shell, ['-c', 'true']).status === 0 ? undefined : `${shell} is not installed; apt-get install ${shell}`);

/** Completions per line, as names (a path's last part, no trailing slash or '='), sorted. */
function parse(output: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    if (line.startsWith('@@')) result.set(line.slice(2), (current = []));
    else if (line !== '' && current) current.push(path.basename(line.split('\t')[0]!.replace(/[/=]$/, '')));
  }
  for (const [k, v] of result) result.set(k, [...new Set(v)].sort());
  return result;
}

function complete(shell: 'bash' | 'zsh' | 'fish', lines: string[]): Map<string, string[]> {
  let r;
  if (shell === 'bash') {
    // COMP_WORDS as readline splits the line: a trailing space starts an empty word.
    const script = `source ${JSON.stringify(scripts.bash)}
while IFS= read -r line; do
  read -ra COMP_WORDS <<< "$line"; [[ $line == *' ' ]] && COMP_WORDS+=('')
  COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _krepro
  printf '@@%s\\n' "$line"; printf '%s\\n' "\${COMPREPLY[@]}"
done`;
    r = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { input: `${lines.join('\n')}\n`, encoding: 'utf8', env: cliEnv() });
  } else if (shell === 'fish') {
    const script = `source ${scripts.fish}; while read -l line; echo "@@$line"; complete -C "$line"; end`;
    r = spawnSync('fish', ['--no-config', '-c', script], { input: `${lines.join('\n')}\n`, encoding: 'utf8', env: cliEnv() });
  } else {
    r = spawnSync('zsh', ['-f', path.resolve('test/helpers/zsh-complete.zsh'), scripts.zsh, ...lines], { encoding: 'utf8', env: cliEnv(), timeout: 120_000 });
  }
  assert.is(r.status, 0, `${shell}: ${r.stderr}`);
  return parse(r.stdout);
}

const CASES: [string, string[]][] = [
  ['krepro pa', ['package']],
  ['krepro -q ch', ['check']],
  ['krepro package --st', ['--stage']],
  ['krepro package --encoder ', ['1', '2']],
  ['krepro completion ', ['bash', 'fish', 'zsh']],
  ['krepro env b', ['build']],
  ['krepro help re', ['rebuild', 'release']],
  ['krepro verify --vary t', ['tz']],
  ['krepro attest ', ['verify']],
  [`krepro check --key ${files}/key.p`, ['key.pem', 'key.pub']],
  [`krepro check ${files}/s`, ['sub']],
  ['krepro diff --max-depth ', []],
];

for (const shell of ['bash', 'zsh', 'fish'] as const) {
  testWhen(has(shell), `krepro completion ${shell}, loaded in ${shell}: commands, options, option values, arguments, files and directories`, () => {
    const optionLines = COMMANDS.map((c) => `krepro ${c.definition.name} --`);
    const got = complete(shell, [...CASES.map(([line]) => line), ...optionLines]);
    for (const [line, expected] of CASES) assert.equal(got.get(line), expected, `${shell}: ${line}`);
    // Every option of every command, from its definition, and nothing else.
    for (const { definition } of COMMANDS) {
      const options = Object.keys({ ...definition.options, ...COMMON_OPTIONS }).map((n) => `--${n}`).sort();
      assert.equal(got.get(`krepro ${definition.name} --`), options, `${shell}: krepro ${definition.name} --`);
    }
  });
}

const man = spawnSync('man', ['--version']).status === 0 && spawnSync('groff', ['--version']).status === 0;
testWhen(man ? undefined : 'man or groff is not installed; apt-get install man-db groff-base', 'npm run build writes a man page per command, from its definition: no groff warnings, every option shown', () => {
  const dir = path.resolve('dist/man');
  const pages = readdirSync(dir).sort();
  assert.equal(pages, ['krepro.1', ...COMMANDS.map((c) => `krepro-${c.definition.name}.1`)].sort());
  for (const page of pages) {
    const groff = spawnSync('groff', ['-man', '-Tutf8', '-z', path.join(dir, page)], { encoding: 'utf8' });
    assert.is(groff.stderr, '', `${page}: ${groff.stderr}`);
  }
  for (const { definition } of COMMANDS) {
    assert.is(readFileSync(path.join(dir, `krepro-${definition.name}.1`), 'utf8'), commandManPage(definition), 'the same definition gives the same bytes');
    const r = spawnSync('man', ['-l', path.join(dir, `krepro-${definition.name}.1`)], { encoding: 'utf8', env: cliEnv({ MANWIDTH: '100', MAN_KEEP_FORMATTING: '', PAGER: 'cat', LANG: 'C.UTF-8' }) });
    assert.is(r.status, 0, r.stderr);
    const text = r.stdout.replace(/.\x08/g, '');
    assert.match(text, `krepro-${definition.name} - `);
    for (const name of Object.keys({ ...definition.options, ...COMMON_OPTIONS })) assert.match(text, `--${name}`, `${definition.name} --${name}`);
    for (const [code] of definition.exits) assert.match(text, new RegExp(`^ +${code} `, 'm'), `${definition.name} exit ${code}`);
  }
  const main = spawnSync('man', ['-l', path.join(dir, 'krepro.1')], { encoding: 'utf8', env: cliEnv({ MANWIDTH: '100', PAGER: 'cat', LANG: 'C.UTF-8' }) }).stdout.replace(/.\x08/g, '');
  for (const { definition } of COMMANDS) assert.match(main, `krepro-${definition.name}(1)`);
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
