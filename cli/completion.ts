import { COMMON_OPTIONS, type CommandDefinition, type OptionSpec, type PositionalSpec } from './command.js';

/**
 * Shell completion for bash, zsh and fish, generated from the command definitions: every command, its options,
 * what each option's value is (a file, a directory, one of a few words) and its arguments.
 */

type Kind = 'file' | 'dir' | 'none' | readonly string[];

/** What a value is completed with: the spec's `complete`, else guessed from its name (FILE, DIR). */
export function valueKind(spec: { complete?: Kind; value?: string }): Kind {
  if (spec.complete !== undefined) return spec.complete;
  if (/^(FILE|F|PUB|KEY|REPORT)$/.test(spec.value ?? '')) return 'file';
  if (/^(DIR|D)$/.test(spec.value ?? '')) return 'dir';
  return 'none';
}

function optionsOf(d: CommandDefinition): [string, OptionSpec][] {
  return Object.entries({ ...d.options, ...COMMON_OPTIONS });
}

/** The first clause of a help text, short enough for a completion menu. */
function brief(help: string): string {
  const first = help.split('\n')[0]!.split(/[:;(]| \(|, (?=[a-z])/)[0]!.trim();
  return first.length > 60 ? `${first.slice(0, 57)}...` : first;
}

const GLOBAL = [
  ['quiet', 'q', COMMON_OPTIONS.quiet.help],
  ['verbose', 'v', COMMON_OPTIONS.verbose.help],
  ['help', 'h', 'show the commands'],
  ['version', undefined, 'krepro, Node, gzip format and lock versions'],
] as const;

// ---------------------------------------------------------------------------------------------------------- bash

function bashWords(kind: Kind): string {
  if (kind === 'file') return '_krepro_files';
  if (kind === 'dir') return '_krepro_dirs';
  if (kind === 'none') return 'return';
  return `_krepro_words ${kind.map(shellWord).join(' ')}`;
}

function shellWord(word: string): string {
  return /^[A-Za-z0-9_.,:/=+-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

function bashPositionals(positionals: readonly PositionalSpec[]): string {
  if (positionals.length === 0) return '';
  const lines = positionals.map((p, i) => {
    const pattern = i === positionals.length - 1 && p.repeat ? '*' : String(i);
    return `        ${pattern}) ${bashWords(valueKind(p))}; return ;;`;
  });
  return `      case $n in\n${lines.join('\n')}\n      esac\n`;
}

export function bashCompletion(defs: readonly CommandDefinition[]): string {
  const commands = defs.map((d) => d.name).join(' ');
  const globals = GLOBAL.flatMap(([long, short]) => [`--${long}`, ...(short ? [`-${short}`] : [])]).join(' ');
  const valueOptions = defs.map((d) => `    ${d.name}) echo '${optionsOf(d).filter(([, s]) => s.type === 'string').map(([n]) => `--${n}`).join(' ')}' ;;`).join('\n');
  const perCommand = defs
    .map((d) => {
      const values = optionsOf(d)
        .filter(([, s]) => s.type === 'string')
        .map(([n, s]) => `        --${n}) ${bashWords(valueKind(s))}; return ;;`)
        .join('\n');
      const flags = optionsOf(d).flatMap(([n, s]) => [`--${n}`, ...(s.short ? [`-${s.short}`] : [])]);
      return `    ${d.name})
      case $prev in
${values || '        --) ;;'}
      esac
      if [[ $cur == -* && $dashdash == 0 ]]; then _krepro_words ${flags.join(' ')}; return; fi
${bashPositionals(d.positionals ?? [])}      ;;`;
    })
    .join('\n');
  return `# bash completion for krepro: source <(krepro completion bash)
# or: krepro completion bash > ~/.local/share/bash-completion/completions/krepro

_krepro_words() { mapfile -t COMPREPLY < <(compgen -W "$*" -- "$cur"); }
_krepro_files() { compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$cur"); }
_krepro_dirs() { compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$cur"); }

# The options of a command that take a value (the next word is that value, not an argument).
_krepro_value_options() {
  case $1 in
${valueOptions}
  esac
}

_krepro() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local cmd='' word skip=0 n=0 dashdash=0 i
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if ((skip)); then skip=0; continue; fi
    if [[ -z $cmd ]]; then
      [[ $word == -* ]] || cmd=$word
      continue
    fi
    if [[ $word == -- && $dashdash == 0 ]]; then dashdash=1; continue; fi
    if [[ $word == -* && $dashdash == 0 ]]; then
      [[ $word != *=* && " $(_krepro_value_options "$cmd") " == *" $word "* ]] && skip=1
      continue
    fi
    n=$((n + 1))
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then _krepro_words ${globals}; else _krepro_words ${commands}; fi
    return
  fi
  ((dashdash)) && prev=''
  case $cmd in
${perCommand}
  esac
}
complete -F _krepro krepro
`;
}

// ----------------------------------------------------------------------------------------------------------- zsh

/** A help text inside a zsh single-quoted _arguments spec: [], : and \\ escaped, ' closed and reopened. */
function zshQuoted(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/([[\]:])/g, '\\$1').replace(/'/g, "'\\''");
}

function zshAction(kind: Kind): string {
  if (kind === 'file') return '_files';
  if (kind === 'dir') return '_files -/';
  if (kind === 'none') return ' ';
  return `(${kind.map((w) => w.replace(/([\\ ()'])/g, '\\$1')).join(' ')})`;
}

function zshOption(name: string, spec: OptionSpec): string {
  const description = `[${zshQuoted(brief(spec.help))}]`;
  const value = spec.type === 'string' ? `:${zshQuoted(spec.value ?? 'VALUE')}:${zshAction(valueKind(spec))}` : '';
  const long = `--${name}${spec.type === 'string' ? '=' : ''}`;
  if (spec.short) return `'(-${spec.short} --${name})'{-${spec.short},${long}}'${description}${value}'`;
  return `'${spec.multiple ? '*' : ''}${long}${description}${value}'`;
}

export function zshCompletion(defs: readonly CommandDefinition[]): string {
  const functions = defs
    .map((d) => {
      const specs = optionsOf(d).map(([n, s]) => `    ${zshOption(n, s)}`);
      const positionals = (d.positionals ?? []).map((p, i) => {
        const position = i === (d.positionals ?? []).length - 1 && p.repeat ? '*' : String(i + 1);
        return `    '${position}:${zshQuoted(p.name)}:${zshAction(valueKind(p))}'`;
      });
      return `_krepro_${d.name.replace(/-/g, '_')}() {\n  _arguments -s -S \\\n${[...specs, ...positionals].join(' \\\n')}\n}`;
    })
    .join('\n\n');
  const commands = defs.map((d) => `    '${d.name}:${zshQuoted(d.summary)}'`).join('\n');
  const dispatch = defs.map((d) => `        ${d.name}) _krepro_${d.name.replace(/-/g, '_')} && ret=0 ;;`).join('\n');
  // --help and --version end the command line; --quiet and --verbose come before a command.
  const globals = GLOBAL.map(([long, short, help]) => {
    const exclude = long === 'help' || long === 'version' ? '(- *)' : `(-${short} --${long})`;
    return short ? `    '${exclude}'{-${short},--${long}}'[${zshQuoted(help)}]'` : `    '${exclude}--${long}[${zshQuoted(help)}]'`;
  }).join(' \\\n');
  return `#compdef krepro
# zsh completion for krepro: source <(krepro completion zsh) after compinit,
# or: krepro completion zsh > "\${fpath[1]}/_krepro"

${functions}

_krepro() {
  local curcontext=$curcontext state line ret=1
  typeset -A opt_args
  local -a commands=(
${commands}
  )
  _arguments -C \\
${globals} \\
    '1:command:->command' \\
    '*::argument:->argument' && ret=0
  case $state in
    command) _describe -t commands 'krepro command' commands && ret=0 ;;
    argument)
      curcontext=\${curcontext%:*:*}:krepro-$words[1]:
      case $words[1] in
${dispatch}
      esac ;;
  esac
  return ret
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _krepro "$@"
else
  compdef _krepro krepro
fi
`;
}

// ---------------------------------------------------------------------------------------------------------- fish

function fishQuoted(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishValue(kind: Kind): string {
  if (kind === 'file') return '-r -F';
  if (kind === 'dir') return "-x -a '(__fish_complete_directories)'";
  if (kind === 'none') return '-x';
  return `-x -a ${fishQuoted(kind.join(' '))}`;
}

export function fishCompletion(defs: readonly CommandDefinition[]): string {
  const lines: string[] = [];
  for (const [long, short, help] of GLOBAL) lines.push(`complete -c krepro -n __krepro_no_command${short ? ` -s ${short}` : ''} -l ${long} -d ${fishQuoted(help)}`);
  for (const d of defs) lines.push(`complete -c krepro -n __krepro_no_command -a ${d.name} -d ${fishQuoted(d.summary)}`);
  for (const d of defs) {
    const when = `-n '__krepro_is ${d.name}'`;
    for (const [n, s] of optionsOf(d)) {
      lines.push(`complete -c krepro ${when}${s.short ? ` -s ${s.short}` : ''} -l ${n}${s.type === 'string' ? ` ${fishValue(valueKind(s))}` : ''} -d ${fishQuoted(brief(s.help))}`);
    }
    (d.positionals ?? []).forEach((p, i) => {
      const last = i === (d.positionals ?? []).length - 1;
      const at = `-n '__krepro_argument ${d.name} ${i}${last && p.repeat ? ' or-later' : ''}'`;
      const kind = valueKind(p);
      if (kind === 'file') lines.push(`complete -c krepro ${at} -F`);
      else if (kind === 'dir') lines.push(`complete -c krepro ${at} -a '(__fish_complete_directories)'`);
      else if (kind !== 'none') lines.push(`complete -c krepro ${at} -a ${fishQuoted(kind.join(' '))}`);
    });
  }
  const valueOptions = defs.map((d) => `        case ${d.name}\n            echo ${optionsOf(d).filter(([, s]) => s.type === 'string').map(([n]) => `--${n}`).join(' ')}`).join('\n');
  return `# fish completion for krepro: krepro completion fish > ~/.config/fish/completions/krepro.fish

# The command: the first word after krepro that is not an option.
function __krepro_command
    for token in (commandline -opc)[2..-1]
        string match -q -- '-*' $token; and continue
        echo $token
        return 0
    end
    return 1
end

function __krepro_no_command
    not __krepro_command >/dev/null
end

function __krepro_is
    set -l command (__krepro_command)
    and test "$command" = $argv[1]
end

# The options of a command that take a value (the next word is that value, not an argument).
function __krepro_value_options
    switch $argv[1]
${valueOptions}
    end
end

# The arguments typed so far after the command: neither options nor their values.
function __krepro_arguments
    set -l command ''
    set -l skip 0
    set -l dashdash 0
    for token in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
        else if test -z "$command"
            string match -q -- '-*' $token; or set command $token
        else if test $dashdash = 0; and test "$token" = --
            set dashdash 1
        else if test $dashdash = 0; and string match -q -- '-*' $token
            string match -q -- '*=*' $token; or contains -- $token (string split ' ' (__krepro_value_options $command)); and set skip 1
        else
            echo $token
        end
    end
end

# __krepro_argument CMD N [or-later]: the word being completed is CMD's argument N (from 0), or a later one.
function __krepro_argument
    __krepro_is $argv[1]; or return 1
    set -l n (count (__krepro_arguments))
    test $n -eq $argv[2]; and return 0
    test (count $argv) -ge 3; and test $n -gt $argv[2]
end

complete -c krepro -f
${lines.join('\n')}
`;
}
