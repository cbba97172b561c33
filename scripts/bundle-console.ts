/**
 * Builds the console's page (console/, README › Console) into dist/console/: `console.js` (one
 * minified ES module, no dependency), `console.css` (minified) and `index.html` as written. Runs in
 * `npm run build` after `tsc -p console` has type-checked the page; src/http/console-route.ts
 * serves the three files. Nothing is fetched at run time.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist', 'console');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { console: 'console/main.ts', 'console-style': 'console/console.css' },
  outdir: out,
  entryNames: '[name]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
// esbuild names a CSS entry after its key; the page links console.css.
copyFileSync(join(out, 'console-style.css'), join(out, 'console.css'));
rmSync(join(out, 'console-style.css'));
copyFileSync(join(root, 'console', 'index.html'), join(out, 'index.html'));

const sizes = ['index.html', 'console.js', 'console.css'].map((f) => `${f} ${(statSync(join(out, f)).size / 1024).toFixed(1)} KiB`);
console.log(`dist/console: ${sizes.join(', ')}`);
