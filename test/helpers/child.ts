/**
 * Runs the real CLI in a child process (as `npm start` does), so tests can kill it with SIGKILL
 * or SIGTERM and restart it on the same data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { parentOf } from '../../src/cli/launcher-watch.ts';
import { cliEnv } from './cli-env.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface Child {
  proc: ChildProcess;
  url: string;
  /** The server's pid (its supervisor's with several workers), from its log: not `proc.pid` when npm or npx started it. */
  serverPid: number;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/**
 * Starts `tablecast start` with the given flags on port 0 and waits for its "serving" line.
 * @example const c = await startChild(['--no-tls', '--data', dir, '--schemas', schemas])
 */
export function startChild(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Child> {
  return spawnServer(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--port', '0', '--host', '127.0.0.1', ...args], { env, timeoutMs });
}

/**
 * Runs `command` (node, npm, npx: anything that ends up running `tablecast start`) with the test
 * environment of cli-env.ts and waits for the server's serving line, which gives its URL and pid.
 * @example const s = await spawnServer('npm', ['start', '--', '--port', '0'])
 */
export async function spawnServer(command: string, args: string[], options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<Child> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const proc = spawn(command, args, { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((res) => proc.on('exit', (code, signal) => res(code ?? signal ?? -1)));
  const line = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => {
      // A server that never says it is serving must not outlive the test that started it.
      proc.kill('SIGKILL');
      rej(new Error(`server did not start in ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const check = () => {
      const found = out.split('\n').find((l) => l.includes('tablecast serving'));
      if (found) {
        clearTimeout(timer);
        res(found);
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`server exited (${code}) before serving:\n${out}`));
    });
  });
  const { pid, msg } = JSON.parse(line) as { pid: number; msg: string };
  // With several workers (`--workers`, by default one per CPU) the server is their supervisor: the
  // process that takes signals and stops the workers.
  const supervisor = out.split('\n').find((l) => l.includes('"role":"supervisor"'));
  const serverPid = supervisor ? (JSON.parse(supervisor) as { pid: number }).pid : pid;
  return { proc, url: /serving .* on (https?:\/\/\S+) /.exec(msg)![1]!, serverPid, output: () => out, exited };
}

/**
 * Waits up to `ms` for process `pid` to be gone; if it is still there, SIGKILLs it and returns
 * false. `onStuck` runs just before that kill, to record what kept it (its chain of parents, say).
 */
export async function waitGone(pid: number, ms = 10_000, onStuck?: () => void): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    if (Date.now() > deadline) {
      onStuck?.();
      process.kill(pid, 'SIGKILL');
      return false;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `pid` and its parents up to init, one `pid (name)` each, from Linux's /proc: for failure messages. */
export function parentChain(pid: number): string {
  const chain: string[] = [];
  for (let p = pid; p > 1 && chain.length < 20; ) {
    const proc = parentOf(p);
    chain.push(`${p} (${proc?.name ?? 'gone'})`);
    if (!proc) break;
    p = proc.ppid;
  }
  return chain.join(' <- ');
}
