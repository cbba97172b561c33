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
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpDir } from './server.ts';

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
