/**
 * Every value export of `src/` (function, class, constant) has a user: another module of `src/`, a
 * test, the bench or a build script imports it, or the package entry (`src/index.ts`) re-exports it
 * for embedders. An export nobody imports is dead code or something that should not be exported;
 * either way a reader is misled about what is API. Exported types are left out: the types of an
 * exported function's parameters and result are part of its contract, for callers to name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

/** The source of every entry package.json exports (`dist/x.js` comes from `src/x.ts`), whatever the condition. */
const ENTRIES = new Set([...readFileSync(join(ROOT, 'package.json'), 'utf8').matchAll(/"\.\/dist\/([^"]+)\.js"/g)].map((m) => join(SRC, `${m[1]}.ts`)));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Values a module exports itself (declarations and local `export { … }` lists). */
function exportsOf(text: string): string[] {
  const names: string[] = [];
  for (const m of text.matchAll(/^export\s+(?:default\s+)?(?:async\s+)?(?:function\*?|const|let|class|enum|abstract\s+class)\s+(\w+)/gm)) names.push(m[1]!);
  for (const m of text.matchAll(/^export\s+\{([^}]*)\}(?!\s*from)/gm))
    names.push(
      ...listed(m[1]!)
        .filter((n) => !/^type\s/.test(n.name))
        .map((n) => n.exported),
    );
  return names;
}

/** `a, type b, c as d` → the imported (or local) name and the name it is exported or bound as. */
function listed(list: string): Array<{ name: string; exported: string }> {
  return list
    .split(',')
    .map((s) => s.trim().replace(/^type\s+/, ''))
    .filter(Boolean)
    .map((s) => {
      const [name, as] = s.split(/\s+as\s+/);
      return { name: name!.trim(), exported: (as ?? name!).trim() };
    });
}

/** The module a relative specifier names, or undefined for packages. */
function target(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return resolve(dirname(from), specifier).replace(/\.js$/, '.ts');
}

test('every export of src/ is imported somewhere (src/, test/) or re-exported by src/index.ts', () => {
  const sources = files(SRC);
  const users = [...sources, ...files(join(ROOT, 'test')), ...files(join(ROOT, 'bench')), ...files(join(ROOT, 'scripts'))];
  const used = new Map<string, Set<string>>();
  const use = (file: string | undefined, name: string) => {
    if (!file) return;
    if (!used.has(file)) used.set(file, new Set());
    used.get(file)!.add(name);
  };
  for (const file of users) {
    const text = readFileSync(file, 'utf8');
    // import { a, b } from './x.ts'; export { a } from './x.ts'; import type { … }
    for (const m of text.matchAll(/(?:import|export)\s+(?:type\s+)?(?:\w+\s*,\s*)?\{([^}]*)\}\s*from\s*['"]([^'"]+)['"]/g)) {
      for (const { name } of listed(m[1]!)) use(target(file, m[2]!), name);
    }
    // import * as ns from './x.ts' / export * from './x.ts': every export counts as used.
    for (const m of text.matchAll(/(?:import\s+\*\s+as\s+\w+|export\s+\*)\s+from\s*['"]([^'"]+)['"]/g)) use(target(file, m[1]!), '*');
    // const { a } = await import('./x.ts'); import('./x.ts').then(({ a }) => …)
    // ([^{}]: a block opened just before, `if (…) {`, must not be read as the destructuring's brace.)
    for (const m of text.matchAll(/\{([^{}]*)\}\s*=\s*await\s+import\(\s*['"]([^'"]+)['"]\s*\)/g)) for (const { name } of listed(m[1]!)) use(target(file, m[2]!), name);
    for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)\.then\(\s*\(\s*\{([^}]*)\}/g)) for (const { name } of listed(m[2]!)) use(target(file, m[1]!), name);
  }
  const dead: string[] = [];
  for (const file of sources) {
    if (ENTRIES.has(file)) continue; // the package's API (index.ts, client/*.ts): its exports are for its users
    const names = used.get(file) ?? new Set<string>();
    for (const name of exportsOf(readFileSync(file, 'utf8'))) {
      if (!names.has(name) && !names.has('*')) dead.push(`${relative(ROOT, file)}: ${name}`);
    }
  }
  assert.deepEqual(dead, [], 'exported but imported nowhere: remove the export (or the code)');
});
