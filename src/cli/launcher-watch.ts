/**
 * Stops a server that npm or npx started once npm is gone.
 *
 * npm runs a package's bin as `sh -c 'tablecast start …'`. On SIGTERM or SIGINT npm passes the
 * signal to that shell, not to us, and `sh` (dash, on Debian) dies without passing it on. On SIGKILL
 * npm passes nothing and the shell lives on, waiting for us. Either way the server would stay,
 * orphaned, holding the port and the store. So the CLI watches both: its parent changing (the shell
 * died) and, when the parent is a shell, the shell's own parent (npm) being gone.
 */
import { readFileSync } from 'node:fs';
import { codeOf } from '../util/guards.ts';

const SHELLS = new Set(['sh', 'dash', 'bash', 'zsh', 'ash', 'ksh']);

/** A process's name and parent pid, from Linux's /proc; undefined elsewhere or once it is gone. */
export function parentOf(pid: number): { name: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (name) state ppid …": the name may itself hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const name = stat.slice(stat.indexOf('(') + 1, close);
    const ppid = Number(stat.slice(close + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? { name, ppid } : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return codeOf(err) === 'EPERM';
  }
}

/**
 * Calls `stop` (once) when the process that launched this one is gone: the parent, and npm above
 * it when the parent is the shell npm ran. Checks every `everyMs`; the timer does not keep the
 * process alive.
 */
export function stopWhenLauncherGone(stop: (why: string) => void, everyMs = 500): void {
  const parent = process.ppid;
  const shell = parentOf(parent);
  const npm = shell && SHELLS.has(shell.name) && shell.ppid > 1 ? shell.ppid : undefined;
  const timer = setInterval(() => {
    const why = process.ppid !== parent ? 'parent process gone' : npm !== undefined && !alive(npm) ? 'npm process gone' : undefined;
    if (!why) return;
    clearInterval(timer);
    stop(why);
  }, everyMs);
  timer.unref();
}
