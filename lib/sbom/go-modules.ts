import { byteOrder } from '../byte-order.js';

/**
 * A Go module tree's declared dependencies, from the three files the go command keeps: go.mod (requirements and
 * replacements), vendor/modules.txt (what `go mod vendor` copied, with replacements) and go.sum (module hashes).
 * Parsed as cmd/go's modfile and modload read them; nothing is resolved or downloaded.
 */

export interface ModuleRequirement {
  path: string;
  version: string;
  indirect: boolean;
}

export interface ModuleReplacement {
  path: string;
  /** empty when every version of `path` is replaced */
  version: string;
  newPath: string;
  /** empty for a directory replacement (`=> ./staging/src/k8s.io/api`) */
  newVersion: string;
}

export interface GoMod {
  module?: string;
  go?: string;
  require: ModuleRequirement[];
  replace: ModuleReplacement[];
}

/** One line of go.mod as tokens: quoted strings unquoted, `//` comments kept apart (for `// indirect`). */
function tokens(line: string): { words: string[]; comment: string } {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\r') i++;
    else if (line.startsWith('//', i)) return { words, comment: line.slice(i + 2).trim() };
    else if (c === '"' || c === '`') {
      const end = c === '`' ? line.indexOf('`', i + 1) : quotedEnd(line, i);
      const raw = line.slice(i, end < 0 ? line.length : end + 1);
      words.push(c === '`' ? raw.slice(1, -1) : unquoteGo(raw));
      i = end < 0 ? line.length : end + 1;
    } else if (c === '(' || c === ')') {
      words.push(c);
      i++;
    } else {
      let j = i;
      while (j < line.length && !' \t\r()"`'.includes(line[j]!) && !line.startsWith('//', j)) j++;
      words.push(line.slice(i, j));
      i = j;
    }
  }
  return { words, comment: '' };
}

function quotedEnd(line: string, start: number): number {
  for (let i = start + 1; i < line.length; i++) {
    if (line[i] === '\\') i++;
    else if (line[i] === '"') return i;
  }
  return -1;
}

function unquoteGo(s: string): string {
  try {
    return JSON.parse(s) as string;
  } catch {
    return s.replace(/^"|"$/g, '');
  }
}

function replacement(words: string[]): ModuleReplacement | undefined {
  const arrow = words.indexOf('=>');
  if (arrow < 1 || arrow > 2 || words.length - arrow < 2) return undefined;
  return { path: words[0]!, version: arrow === 2 ? words[1]! : '', newPath: words[arrow + 1]!, newVersion: words[arrow + 2] ?? '' };
}

/** go.mod's module, go, require and replace directives, in the file's order (blocks included). */
export function parseGoMod(text: string): GoMod {
  const mod: GoMod = { require: [], replace: [] };
  let block: string | undefined;
  for (const line of text.split('\n')) {
    const { words, comment } = tokens(line);
    if (words.length === 0) continue;
    let verb: string | undefined;
    let args = words;
    if (block !== undefined) {
      if (words[0] === ')') {
        block = undefined;
        continue;
      }
      verb = block;
    } else {
      verb = words[0];
      args = words.slice(1);
      if (args[0] === '(') {
        block = verb;
        continue;
      }
    }
    if (verb === 'module' && args[0]) mod.module = args[0];
    else if (verb === 'go' && args[0]) mod.go = args[0];
    else if (verb === 'require' && args.length >= 2) {
      mod.require.push({ path: args[0]!, version: args[1]!, indirect: /^indirect\b|;\s*indirect\b/.test(comment) });
    } else if (verb === 'replace') {
      const r = replacement(args);
      if (r) mod.replace.push(r);
    }
  }
  return mod;
}

export interface VendoredModule {
  path: string;
  version: string;
  replace?: { path: string; version: string };
  /** `## explicit`: go.mod requires it directly */
  explicit: boolean;
  /** the packages vendored from it */
  packages: string[];
}

/** vendor/modules.txt: `# path version [=> new [version]]`, then `## explicit[; go 1.x]`, then package lines. */
export function parseModulesTxt(text: string): VendoredModule[] {
  const out: VendoredModule[] = [];
  let current: VendoredModule | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('## ')) {
      if (current && line.slice(3).split(';').some((a) => a.trim() === 'explicit')) current.explicit = true;
    } else if (line.startsWith('# ')) {
      const words = line.slice(2).trim().split(/\s+/);
      const arrow = words.indexOf('=>');
      const head = arrow < 0 ? words : words.slice(0, arrow);
      // `# path => dir` lines at the end record replacements of modules that provide no package: no version.
      current = { path: head[0]!, version: head[1] ?? '', explicit: false, packages: [] };
      if (arrow >= 0 && words[arrow + 1]) current.replace = { path: words[arrow + 1]!, version: words[arrow + 2] ?? '' };
      out.push(current);
    } else if (line !== '' && current) current.packages.push(line);
  }
  return out;
}

/** go.sum: `path version h1:…` per module zip (the `/go.mod` lines hash only the go.mod file and are skipped). */
export function parseGoSum(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [path, version, hash] = line.trim().split(/\s+/);
    if (!path || !version || !hash || version.endsWith('/go.mod')) continue;
    sums.set(`${path}@${version}`, hash);
  }
  return sums;
}

/** A module the source declares, merged from the three files. */
export interface SourceModule {
  path: string;
  version: string;
  indirect: boolean;
  /** go.sum's `h1:` hash of the module's files */
  sum?: string;
  /** where its code is in the tree: `vendor/<path>`, or a directory replacement */
  dir?: string;
  replace?: { path: string; version: string };
}

/**
 * The modules go.mod requires, with vendor/modules.txt's modules that go.mod does not list (older trees), their
 * replacements (modules.txt's when vendored, else go.mod's) and go.sum hashes, sorted by path then version.
 */
export function sourceModules(goMod: GoMod, modulesTxt: VendoredModule[] | undefined, goSum: Map<string, string>): SourceModule[] {
  const vendored = new Map((modulesTxt ?? []).filter((m) => m.version !== '').map((m) => [m.path, m]));
  const byKey = new Map<string, SourceModule>();
  const add = (path: string, version: string, indirect: boolean): void => {
    const key = `${path}@${version}`;
    if (byKey.has(key)) return;
    const v = vendored.get(path);
    const replaced = v?.version === version && v.replace ? v.replace : goModReplacement(goMod, path, version);
    const sumKey = replaced && replaced.version ? `${replaced.path}@${replaced.version}` : replaced ? undefined : key;
    const sum = sumKey ? goSum.get(sumKey) : undefined;
    const dir = v?.version === version ? `vendor/${path}` : replaced && !replaced.version ? replaced.path : undefined;
    byKey.set(key, { path, version, indirect, ...(sum ? { sum } : {}), ...(dir ? { dir } : {}), ...(replaced ? { replace: replaced } : {}) });
  };
  for (const r of goMod.require) add(r.path, r.version, r.indirect);
  for (const m of vendored.values()) add(m.path, m.version, !m.explicit);
  return [...byKey.values()].sort((a, b) => byteOrder(a.path, b.path) || byteOrder(a.version, b.version));
}

function goModReplacement(goMod: GoMod, path: string, version: string): { path: string; version: string } | undefined {
  const r = goMod.replace.find((x) => x.path === path && x.version === version) ?? goMod.replace.find((x) => x.path === path && x.version === '');
  return r ? { path: r.newPath, version: r.newVersion } : undefined;
}
