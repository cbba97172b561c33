/**
 * Running the CLI as another user (`nobody`) from a checkout that user may not be able to reach.
 *
 * As root, tests that need file modes to bite run the CLI as `nobody` (root ignores modes). A clone
 * in a private directory (mode 0700, as `mktemp -d` makes) cannot be traversed by `nobody`, so it
 * could not even load `src/cli.ts`. Symlinks do not help (their targets are resolved through the
 * private directory), but hard links do: a link names the file's inode, not its path. So when the
 * checkout is out of reach, the parts the CLI needs to run (`src/`, `node_modules/`, the package
 * and tsconfig files) are mirrored into a world-readable temp directory, hard-linked where the file
 * system allows and copied where it does not.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { unprivileged } from './fuzz.ts';
import { tmpDir } from './server.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const NEEDED = ['package.json', 'tsconfig.json', 'src', 'node_modules'];

export interface AsUser {
  /** Prefix of the command line: `setpriv …`/`runuser …`, or `[]` when this process is not root. */
  wrapper: string[];
  /** The directory to run `node --import tsx src/cli.ts` in: the checkout, or a mirror of it. */
  cwd: string;
  /** Removes the mirror, if one was made. */
  cleanup(): void;
}

/** Whether `wrapper`'s user can read every path (and run node). */
function canRead(wrapper: string[], paths: string[]): boolean {
  const run = (cmd: string[]) => spawnSync(cmd[0]!, cmd.slice(1), { stdio: 'ignore' }).status === 0;
  return run([...wrapper, process.execPath, '--version']) && paths.every((p) => run([...wrapper, 'test', '-r', p]));
}

/** Hard-links (or copies, across file systems) `from` into `to`, keeping modes and symlinks. */
function mirror(from: string, to: string): void {
  const stat = lstatSync(from);
  if (stat.isSymbolicLink()) symlinkSync(readlinkSync(from), to);
  else if (stat.isDirectory()) {
    mkdirSync(to);
    chmodSync(to, stat.mode & 0o7777);
    for (const name of readdirSync(from)) mirror(join(from, name), join(to, name));
  } else {
    try {
      linkSync(from, to);
    } catch {
      copyFileSync(from, to);
      chmodSync(to, stat.mode & 0o7777);
    }
  }
}

/**
 * How to run the CLI as an unprivileged user, from a directory that user can read; a string (the
 * reason to skip) when that is impossible here.
 * @example const as = asUnprivileged(); if (typeof as === 'string') return t.skip(as); t.after(as.cleanup);
 */
export function asUnprivileged(): AsUser | string {
  const wrapper = unprivileged();
  if (!wrapper) return 'running as root without setpriv or runuser: file modes cannot be tested (root ignores them)';
  const probes = (dir: string) => [join(dir, 'src/cli.ts'), join(dir, 'node_modules/tsx/package.json')];
  if (canRead(wrapper, probes(ROOT))) return { wrapper, cwd: ROOT, cleanup() {} };
  const dir = tmpDir('tablecast-checkout-');
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  chmodSync(dir, 0o755);
  for (const name of NEEDED) mirror(join(ROOT, name), join(dir, name));
  if (!canRead(wrapper, probes(dir))) {
    cleanup();
    return `${wrapper.join(' ')} can reach neither the checkout (${ROOT}) nor a mirror of it in the temp directory (${dir}): is a parent directory private?`;
  }
  return { wrapper, cwd: dir, cleanup };
}
