import { ATTEST, attestCommand } from './attest.js';
import { BASE_IMAGE, baseImageCommand } from './base-image.js';
import { CHECK, checkCommand } from './check.js';
import { CLEAN, cleanCommand } from './clean.js';
import { type CommandDefinition, defineCommand, didYouMean, parseCommand, SIGNAL_EXITS, UsageError } from './command.js';
import { bashCompletion, fishCompletion, zshCompletion } from './completion.js';
import { COPY_OUTPUT, copyOutputCommand } from './copy-output.js';
import { DIFF, diffCommand } from './diff.js';
import { ENV, envCommand } from './env.js';
import { renderHelp, renderOverview, showHelp } from './help.js';
import { IMAGES, imagesCommand } from './images.js';
import { quote } from '../lib/quote.js';
import { type CommandIO, EXIT } from './io.js';
import { PACKAGE, packageCommand } from './package.js';
import { REBUILD, rebuildCommand } from './rebuild.js';
import { RELEASE, releaseCommand } from './release.js';
import { RUN, runCommand } from './run.js';
import { SHELL, shellCommand } from './shell.js';
import { STAGE, stageCommand } from './stage.js';
import { VERIFY, verifyCommand } from './verify.js';

/** A command: its definition (help, completion, man page) and the function that runs it. */
export interface CommandEntry {
  definition: CommandDefinition;
  run: (argv: string[], io: CommandIO) => Promise<number>;
}

/** What krepro --help and krepro(1) say besides the commands. */
export const OVERVIEW = {
  description: `krepro does what Kubernetes' build/ directory does (build in a container with a persistent cache, copy the
output back, stage and pack the kubernetes*.tar.gz release), and makes releases provably reproducible.`,
  notes: [
    `krepro --version names krepro, Node.js, the gzip format with its WebAssembly digest and the bundled lock's digest.
Shell completion: krepro completion bash|zsh|fish. Man pages: man krepro, man krepro-<command>.`,
  ],
  exits: [
    [0, 'success'],
    [1, 'differences found'],
    [2, 'usage or environment error (the message names the file or value)'],
    [3, 'a build of verify or rebuild failed (run and release pass on the build command\'s own status)'],
    ...SIGNAL_EXITS,
  ],
} as const;

const BUILT_IN: CommandEntry[] = [
  { definition: PACKAGE, run: packageCommand },
  { definition: RUN, run: runCommand },
  { definition: SHELL, run: shellCommand },
  { definition: COPY_OUTPUT, run: copyOutputCommand },
  { definition: RELEASE, run: releaseCommand },
  { definition: DIFF, run: diffCommand },
  { definition: REBUILD, run: rebuildCommand },
  { definition: VERIFY, run: verifyCommand },
  { definition: CHECK, run: checkCommand },
  { definition: CLEAN, run: cleanCommand },
  { definition: STAGE, run: stageCommand },
  { definition: IMAGES, run: imagesCommand },
  { definition: ENV, run: envCommand },
  { definition: ATTEST, run: attestCommand },
  { definition: BASE_IMAGE, run: baseImageCommand },
];

const SHELLS = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion } as const;

export const COMPLETION = defineCommand({
  name: 'completion',
  summary: 'print the shell completion script for bash, zsh or fish',
  usage: ['completion bash|zsh|fish'],
  description: `Prints a completion script for the shell: every command, its options, and for an option's value or an argument
the files, directories or words it takes. Load it in the shell's startup file, or install it once:
  bash  source <(krepro completion bash)    or: krepro completion bash > ~/.local/share/bash-completion/completions/krepro
  zsh   source <(krepro completion zsh)     (after compinit), or: krepro completion zsh > "\${fpath[1]}/_krepro"
  fish  krepro completion fish > ~/.config/fish/completions/krepro.fish`,
  options: {},
  positionals: [{ name: 'SHELL', help: 'bash, zsh or fish', complete: Object.keys(SHELLS) }],
  exits: [
    [0, 'printed'],
    [2, 'no such shell'],
  ],
});

export const HELP = defineCommand({
  name: 'help',
  summary: "show a command's options, or the list of commands",
  usage: ['help [COMMAND]'],
  description: "Shows COMMAND's help (the same as 'krepro COMMAND --help'), or the list of commands.",
  options: {},
  positionals: [{ name: 'COMMAND', help: 'a command', complete: [...BUILT_IN.map((c) => c.definition.name), 'completion', 'help'] }],
  exits: [
    [0, 'shown'],
    [2, 'no such command'],
  ],
});

/** Every command, in the order krepro --help lists them. */
export const COMMANDS: CommandEntry[] = [
  ...BUILT_IN,
  {
    definition: COMPLETION,
    run: async (argv, io) => {
      const { values, positionals } = parseCommand(COMPLETION, argv);
      if (values.help) return showHelp(COMPLETION, io);
      const shell = positionals[0];
      if (shell === undefined || !(shell in SHELLS)) {
        const near = shell === undefined ? [] : didYouMean(shell, Object.keys(SHELLS));
        throw new UsageError(`${shell === undefined ? 'give a shell' : `no completion for ${quote(shell)}`}: bash, zsh or fish${near.length ? `; did you mean ${near[0]}?` : ''}`);
      }
      io.stdout.write(SHELLS[shell as keyof typeof SHELLS](COMMANDS.map((c) => c.definition)));
      return EXIT.ok;
    },
  },
  {
    definition: HELP,
    run: async (argv, io) => {
      const { values, positionals } = parseCommand(HELP, argv);
      if (values.help) return showHelp(HELP, io);
      const name = positionals[0];
      if (name === undefined) {
        io.stdout.write(overview());
        return EXIT.ok;
      }
      const entry = findCommand(name);
      if (!entry) throw new UsageError(unknownCommand(name));
      io.stdout.write(renderHelp(entry.definition));
      return EXIT.ok;
    },
  },
];

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.definition.name === name);
}

/** One line for a command that does not exist, with the nearest ones. */
export function unknownCommand(name: string): string {
  const near = didYouMean(name, COMMANDS.map((c) => c.definition.name));
  return `unknown command ${quote(name)}${near.length ? `; did you mean ${near.join(' or ')}?` : ''}`;
}

export function overview(): string {
  return renderOverview(
    COMMANDS.map((c) => c.definition),
    OVERVIEW,
  );
}
