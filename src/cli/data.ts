/**
 * `tablecast export`, `import` and `backup` (README › Data in and out): files, standard streams and
 * the progress line, around server/data-commands.ts.
 */
import { createReadStream, createWriteStream, existsSync, statSync, type WriteStream } from 'node:fs';
import { mkdir, readdir, realpath, rename } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Writable } from 'node:stream';
import { backupDataDir, exportNdjson, fileNameOf, importMark, importNdjson, openData, openExport, tableNamed, type ImportProgress } from '../server/data-commands.ts';

/** The flags the data commands read (cli/usage.ts FLAGS). */
export interface DataFlags {
  out?: string | undefined;
  table?: string | undefined;
  resume?: boolean | undefined;
  'on-conflict'?: string | undefined;
  'skip-invalid'?: boolean | undefined;
  batch?: string | undefined;
}

/** Thrown for a usage problem: main prints it as one and exits 2. */
export class DataUsageError extends Error {}

/** Runs `command` (`export`, `import` or `backup`); resolves to the exit status. */
export async function runDataCommand(command: string, args: string[], flags: DataFlags, input: unknown): Promise<number> {
  if (command === 'backup') return backup(args, input);
  if (command === 'export') return exportTables(flags, input);
  return importFiles(args, flags, input);
}

/** A line on stderr that rewrites itself, only on a terminal. */
function progressLine(): { show(text: string): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    show(text) {
      const now = Date.now();
      if (!tty || now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2K${text}`);
    },
    end() {
      if (shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

async function backup(args: string[], input: unknown): Promise<number> {
  const target = args[0];
  if (!target) throw new DataUsageError('backup needs a target directory, e.g. tablecast backup ./backup-2025-01-31');
  const { prepareStart } = await import('../server/preflight.ts');
  const { config } = await prepareStart(input, { cwd: process.cwd() });
  // The copy of the data directory would include the backup being written (cp refuses, halfway).
  const [data, into] = await Promise.all([realPathOf(config.data), realPathOf(target)]);
  const inside = relative(data, into);
  if (inside === '' || (inside !== '..' && !inside.startsWith(`..${sep}`) && !isAbsolute(inside))) {
    throw new DataUsageError(`${target} is inside the data directory ${config.data}: back up somewhere else`);
  }
  const copied = await backupDataDir(config, resolve(target));
  process.stdout.write(`backed up ${config.data} into ${resolve(target)}: ${copied.join(', ')}\n`);
  return 0;
}

/** `path` absolute with its links resolved, as far as it exists (the rest as written). */
async function realPathOf(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {
    const parent = dirname(absolute);
    return parent === absolute ? absolute : join(await realPathOf(parent), basename(absolute));
  }
}

async function exportTables(flags: DataFlags, input: unknown): Promise<number> {
  const out = flags.out;
  if (!out) throw new DataUsageError('export needs --out DIR (one <database>.<table>.ndjson per table) or --out - with --table (standard output)');
  if (out === '-' && !flags.table) throw new DataUsageError('export --out - writes one table: name it with --table database/table');
  const { config, tables: all } = await openExport(input, process.cwd());
  const tables = flags.table ? [tableNamed(all, flags.table)] : all;
  const sinks = new Map<string, Writable>();
  const files: Array<[WriteStream, string]> = [];
  // A reader that went away (`| head`) ends the export quietly, as it does `tail`.
  const gone = new AbortController();
  if (out === '-') {
    process.stdout.on('error', () => gone.abort());
    sinks.set(tables[0]!.id, process.stdout);
  } else {
    await mkdir(out, { recursive: true });
    for (const t of tables) {
      // Written under a temporary name and renamed once complete: a stopped export leaves no whole-looking file.
      const path = join(out, fileNameOf(t));
      const stream = createWriteStream(`${path}.partial`);
      sinks.set(t.id, stream);
      files.push([stream, path]);
    }
  }
  const progress = progressLine();
  let counts: Map<string, number>;
  try {
    counts = await exportNdjson(config.data, tables, sinks, { onProgress: (n) => progress.show(`exported ${n} records`), signal: gone.signal });
  } catch (err) {
    if (gone.signal.aborted) return 0;
    throw err;
  } finally {
    progress.end();
  }
  for (const [stream, path] of files) {
    stream.end();
    await finished(stream);
    await rename(`${path}.partial`, path);
  }
  const report = out === '-' ? process.stderr : process.stdout;
  for (const t of tables) report.write(`${t.id}: ${counts.get(t.id) ?? 0} records${out === '-' ? '' : ` → ${join(out, fileNameOf(t))}`}\n`);
  return 0;
}

async function importFiles(args: string[], flags: DataFlags, input: unknown): Promise<number> {
  const path = args[0];
  if (!path) throw new DataUsageError('import needs a file (with --table database/table unless it is named <database>.<table>.ndjson) or a directory of such files');
  const onConflict = flags['on-conflict'] ?? 'fail';
  if (onConflict !== 'fail' && onConflict !== 'skip' && onConflict !== 'replace') throw new DataUsageError(`--on-conflict takes fail, skip or replace, not "${onConflict}"`);
  const batch = flags.batch === undefined ? 1000 : Number(flags.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > 100_000) throw new DataUsageError('--batch takes a whole number of lines from 1 to 100000');
  if (!existsSync(path)) throw new DataUsageError(`${path} does not exist`);
  const directory = statSync(path).isDirectory();
  if (directory && flags.table) throw new DataUsageError('--table names the table of one file; a directory holds <database>.<table>.ndjson files');
  const { config, data } = await openData(input, process.cwd(), { exclusive: { selfPid: process.pid } });
  try {
    const byFile = new Map([...data.services.values()].map((s) => [fileNameOf(s), s]));
    const jobs = directory
      ? (await readdir(path))
          .filter((name) => name.endsWith('.ndjson'))
          .sort()
          .map((name) => {
            const service = byFile.get(name);
            if (!service) throw new DataUsageError(`${join(path, name)} names no table (files are <database>.<table>.ndjson; tables: ${[...data.services.keys()].join(', ')})`);
            return { file: join(path, name), service };
          })
      : [{ file: path, service: flags.table ? tableNamed(data.services.values(), flags.table) : byFile.get(basename(path)) }];
    for (const { file, service } of jobs) {
      if (!service) throw new DataUsageError(`name the table of ${file} with --table database/table`);
      const source = resolve(file);
      const earlier = importMark(data.store, service, source);
      if (earlier && !flags.resume) process.stderr.write(`note: an earlier import of ${file} stopped after line ${earlier.line}; --resume goes on from there (starting over)\n`);
      const size = statSync(file).size;
      const progress = progressLine();
      const show = (p: ImportProgress) => progress.show(`${basename(file)}: line ${p.line} (${size > 0 ? Math.floor((p.bytes / size) * 100) : 100} %), ${p.imported} imported, ${p.skipped} skipped`);
      try {
        const result = await importNdjson(data.store, service, (start) => createReadStream(file, { start, highWaterMark: 256 * 1024 }), {
          source,
          batch,
          // A line is at most what REST takes as a request body.
          maxLineBytes: config.bodyLimit,
          onConflict,
          ...(flags['skip-invalid'] ? { skipInvalid: true } : {}),
          ...(flags.resume ? { resume: true } : {}),
          onProgress: show,
          onInvalid: (line, message) => {
            progress.end();
            process.stderr.write(`${file}:${line}: skipped: ${message}\n`);
          },
        });
        progress.end();
        const resumed = result.resumedAfter > 0 ? ` (resumed after line ${result.resumedAfter})` : '';
        process.stdout.write(`${file} → ${service.handle.id}: ${result.imported} imported, ${result.skipped} skipped, ${result.line} lines${resumed}\n`);
      } catch (err) {
        progress.end();
        throw err;
      }
    }
    return 0;
  } finally {
    await data.close();
  }
}
