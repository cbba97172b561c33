/**
 * Runs the real CLI in a child process (as `npm start` does), so tests can kill it with SIGKILL
 * or SIGTERM and restart it on the same data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { cliEnv } from './cli-env.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface Child {
  proc: ChildProcess;
  url: string;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/**
 * Starts `tablecast start` with the given flags on port 0 and waits for its "serving" line.
 * @example const c = await startChild(['--no-tls', '--data', dir, '--schemas', schemas])
 */
export async function startChild(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--port', '0', '--host', '127.0.0.1', ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  const url = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => {
      // A server that never says it is serving must not outlive the test that started it.
      proc.kill('SIGKILL');
      rej(new Error(`server did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const m = /serving .* on (https?:\/\/[^\s]+) /.exec(out);
      if (m) {
        clearTimeout(timer);
        res(m[1]!);
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`server exited (${code}) before serving:\n${out}`));
    });
  });
  return { proc, url, output: () => out, exited };
}
