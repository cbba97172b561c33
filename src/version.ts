/**
 * The package's version, from package.json, which sits one level above this file in src/ (a
 * clone) and in dist/ (the package) alike. Read once, at import.
 */
import { readFileSync } from 'node:fs';

// Our own package.json, which always has a version.
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
