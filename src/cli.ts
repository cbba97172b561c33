#!/usr/bin/env node
/**
 * What `tablecast`, `npm start` and `node dist/cli.js` run: the command line (`cli/main.ts`), from
 * its one-file build with V8's code cache when the build made them, else as modules.
 *
 * Start-up time is mostly loading code: Node 20 reads, parses and compiles every module of
 * tablecast and of fastify, pino, zod and graphql again at each start, one file at a time (Node 22's
 * `module.enableCompileCache` does not exist on 20, and does not cover this either way). `npm run
 * build` therefore also writes `dist/cli.bundle.cjs` (everything the command line runs, in one
 * file: scripts/bundle-cli.ts) and `dist/cli.bundle.cache`, V8's compiled code for it, produced by
 * starting the bundle once and answering a request. Here the bundle is compiled with that cache:
 * V8 checks it against its own version, its flags and the source, and compiles from the source
 * when it does not match (another Node, `--cpu-prof`), which is slower but the same program.
 * The cache is read, never written, at run time: the package directory may be read-only or shared,
 * and a cache in a shared temporary directory could be planted by another user.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileBundle } from './cli/bundle-loader.ts';

const bundle = fileURLToPath(new URL('./cli.bundle.cjs', import.meta.url));

if (existsSync(bundle)) {
  const compiled = compileBundle(bundle, bundle.replace(/\.cjs$/, '.cache'));
  // The build (scripts/bundle-cli.ts) asks for the cache once the started bundle has answered.
  const writeCache = process.env.TABLECAST_WRITE_CODE_CACHE;
  if (writeCache) process.once('exit', () => writeFileSync(writeCache, compiled.script.createCachedData()));
  compiled.run();
} else {
  await import('./cli/main.ts'); // from source (npm run dev), or a build without the bundle
}
