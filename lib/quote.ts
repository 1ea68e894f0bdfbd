/**
 * How messages show what krepro did not write itself. A file's bytes are never shown: an error about a file names
 * the file and a line and column. A value the user typed (a flag, an environment variable) is quoted, stripped of
 * control characters (terminal escapes, bidirectional overrides) and cut to a readable length.
 */

/** C0 controls, DEL, C1 controls, and Unicode's invisible direction and format controls. */
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;
/** The same, less newline and tab: what a multi-line message may keep. */
const CONTROLS_IN_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g;

/** A value as a message shows it: a string double-quoted, without control characters, at most `max` characters of it. */
export function quote(value: unknown, max = 120): string {
  // Anything but a string is shown as JSON (a number as 99, an object as {...}), cut the same way.
  const text = shorten(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)), max);
  const shown = typeof value === 'string' ? JSON.stringify(text.text) : text.text;
  return text.cut ? `${shown}… (${text.length} characters)` : shown;
}

/** A string from outside, for a report: without control characters, cut after `max` characters (with "…"). */
export function shortened(value: string, max = 120): string {
  const text = shorten(value, max);
  return text.cut ? `${text.text}…` : text.text;
}

function shorten(value: string, max: number): { text: string; cut: boolean; length: number } {
  const chars = [...value.replace(CONTROLS, '')];
  return chars.length <= max ? { text: chars.join(''), cut: false, length: chars.length } : { text: chars.slice(0, max).join(''), cut: true, length: chars.length };
}

/** Text for a terminal: control characters other than newline and tab removed. */
export function printable(text: string): string {
  return text.replace(CONTROLS_IN_TEXT, '');
}

/** Where JSON.parse failed on `text`, and why, in words that quote none of it: "line 3, column 7: unexpected character". */
export function jsonSyntaxError(text: string, err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  const offset = errorOffset(text, message);
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}: ${reason(message)}`;
}

/** JSON.parse, throwing `fail(where)` (where = "line L, column C: why") instead of an error that quotes the text. */
export function parseJson(text: string, fail: (where: string) => Error): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw fail(jsonSyntaxError(text, err));
  }
}

function reason(message: string): string {
  if (/^Unexpected token/.test(message)) return 'unexpected character';
  if (/Unexpected end of JSON input/.test(message)) return 'the text ends before the JSON value does';
  // V8's other messages quote nothing but the grammar: "Expected ',' or ']' after array element".
  return printable(message.replace(/ at position \d+.*$/s, '').replace(/ in JSON$/, '')).slice(0, 100);
}

/** V8's offset of the error: named in most messages; for an unexpected token (Node 20 names none) it is searched for. */
function errorOffset(text: string, message: string): number {
  const at = /at position (\d+)/.exec(message);
  if (at) return Math.min(Number(at[1]), text.length);
  if (/Unexpected end of JSON input/.test(message)) return text.length;
  // The longest prefix JSON.parse fails on only because it ends early: the next character is the unexpected one.
  let good = 0;
  let bad = text.length;
  while (bad - good > 1) {
    const mid = (good + bad) >>> 1;
    if (endsEarly(text.slice(0, mid))) good = mid;
    else bad = mid;
  }
  return bad - 1;
}

function endsEarly(prefix: string): boolean {
  try {
    JSON.parse(prefix);
    return true;
  } catch (err) {
    const message = (err as Error).message;
    const at = /at position (\d+)/.exec(message);
    return /Unexpected end of JSON input/.test(message) || (at !== null && Number(at[1]) >= prefix.length);
  }
}

/**
 * A name from outside (a file in a release directory, an artifact a build wrote) made visible rather than cleaned:
 * each control character, C1 control and direction or format control becomes an escape (`\x1b`, `\u202e`) and a
 * backslash `\\`, so two names that differ only in such a character still read differently, and printing them
 * cannot move the cursor, retitle a terminal or disguise another name.
 */
export function visible(text: string): string {
  return text.replace(new RegExp(`\\\\|${CONTROLS.source}`, 'g'), (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * JSON.stringify, with the characters {@link visible} escapes that JSON.stringify leaves raw (C1 and direction
 * controls) written as `\uXXXX`: the same JSON value, safe on a terminal.
 */
export function visibleJson(value: unknown, indent = 2): string {
  // C0 controls (newline among them) JSON.stringify escapes itself, and may print between tokens.
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
