import { spawn } from 'node:child_process';
import * as path from 'node:path';

/**
 * The environment for a krepro child process: this one's without the colour variables the test runner sets (with
 * both NO_COLOR and FORCE_COLOR set, Node warns on stderr, and tests read stderr exactly), plus `extra`.
 */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
  return { ...env, ...extra };
}

/** Runs `file` with `args` to its end, without blocking the test's event loop; its output is collected whole. */
export function runAsync(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the built CLI (`dist/cli/main.js`) with `args` in `cwd` to its end, without blocking the test's event loop. */
export function runCliAsync(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runAsync(process.execPath, [path.resolve('dist/cli/main.js'), ...args], { cwd });
}
