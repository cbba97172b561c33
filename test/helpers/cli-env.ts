/**
 * The environment for a CLI child process: what a user who configured nothing would get, wherever
 * the clone sits and whatever its owner left in it.
 *
 * The CLI reads `./tablecast.config.json` from its working directory (the checkout, for tests)
 * and every `TABLECAST_*` variable. A developer who followed the README's set-up (a config file with
 * `auth` in the clone) or exported `TABLECAST_LOG_LEVEL=warn` would otherwise see child-process tests
 * fail: 401s, or a server whose "serving" line never comes. So inherited `TABLECAST_*` variables are
 * dropped and `TABLECAST_CONFIG` names an empty config file; a test's own variables and flags
 * (`--config`) still win.
 */
import { execFile } from 'node:child_process';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './fixtures.ts';
import { tmpDir } from './server.ts';

/** Node's arguments that run the command line from source (src/cli.ts through tsx), from any working directory. */
export const CLI_FROM_SOURCE: readonly string[] = ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli.ts')];

/** How a run of the command line ended: its exit code (or the signal that ended it) and what it printed. */
export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

const run = promisify(execFile);

let emptyConfig: string | undefined;

/** An empty config file (`{}`), made once per test process, readable by any user, removed at exit. */
function emptyConfigFile(): string {
  if (emptyConfig) return emptyConfig;
  const dir = tmpDir('tablecast-config-');
  chmodSync(dir, 0o755);
  const file = join(dir, 'tablecast.config.json');
  writeFileSync(file, '{}\n', { mode: 0o644 });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return (emptyConfig = file);
}

/**
 * `process.env` without the `TABLECAST_*` variables of the shell that runs the tests, with an empty
 * config file, then `extra`.
 * @example spawn(process.execPath, args, { cwd: ROOT, env: cliEnv({ TABLECAST_PORT: '0' }) })
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('TABLECAST_')));
  return { ...inherited, TABLECAST_CONFIG: emptyConfigFile(), ...extra };
}

/**
 * Runs the command line from source in the checkout to its end, with `cliEnv(env)`.
 * @example const { code, stderr } = await runCli(['import', file, '--table', 'shop/order'])
 */
export async function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI_FROM_SOURCE, ...args], { cwd: ROOT, env: cliEnv(env), timeout: 120_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number | null; signal: string | null; stdout: string; stderr: string };
    return { code: e.code ?? e.signal ?? -1, stdout: e.stdout, stderr: e.stderr };
  }
}
