/**
 * Compiles the command line bundle (`dist/cli.bundle.cjs`) with V8's code cache for it, as
 * `src/cli.ts` runs it (the why is there). Separate so a test can check that the cache the build
 * wrote is one V8 accepts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

export interface CompiledBundle {
  script: Script;
  /** Whether V8 used the cache (false: none, or one made by another Node or with other flags). */
  cached: boolean;
  /** Runs the bundle: the command line starts. */
  run(): void;
}

export function compileBundle(file: string, cacheFile: string): CompiledBundle {
  const cachedData = existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
  // The same wrapper as Node's CommonJS loader, so the bundle sees `require` and `module` as usual.
  const wrapper = `(function (exports, require, module, __filename, __dirname) {${readFileSync(file, 'utf8')}\n})`;
  const script = new Script(wrapper, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    // No `importModuleDynamically`: Node 20 does not apply it to code from a cache, so the bundle
    // has no `import()` (scripts/bundle-cli.ts turns them into `require`).
  });
  return {
    script,
    cached: cachedData !== undefined && !script.cachedDataRejected,
    run() {
      const module = { exports: {} };
      const wrapped: (...args: unknown[]) => void = script.runInThisContext();
      wrapped(module.exports, createRequire(file), module, file, dirname(file));
    },
  };
}
