/**
 * Collects schema problems with their `file:line:column` and turns them into the one
 * `SCHEMA_INVALID` error, so every problem in every file is reported at once.
 */
import { getLocation, type ASTNode } from 'graphql';
import { AppError } from '../errors.ts';
import type { SourceLocation } from './model.ts';

/** One problem found in the schema. `line` and `column` are 1-based; 0 when it concerns no position. */
export interface SchemaProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Where a node starts; GraphQL's parser records the file name as the Source name. */
export function locationOf(node: ASTNode): SourceLocation {
  const loc = node.loc;
  if (!loc) return { file: '<unknown>', line: 0, column: 0 };
  const { line, column } = getLocation(loc.source, loc.start);
  return { file: loc.source.name, line, column };
}

/** `file:line:column`, or just `file` for problems without a position. */
export function formatLocation(loc: SourceLocation): string {
  return loc.line > 0 ? `${loc.file}:${loc.line}:${loc.column}` : loc.file;
}

/** An ordered list of problems; `files` fixes the file order used when sorting them. */
export class Problems {
  readonly list: SchemaProblem[] = [];

  constructor(private readonly files: readonly string[]) {}

  /** Records a problem at a node (its start). */
  at(node: ASTNode, message: string): void {
    this.atLocation(locationOf(node), message);
  }

  atLocation(loc: SourceLocation, message: string): void {
    this.list.push({ file: loc.file, line: loc.line, column: loc.column, message });
  }

  /** Throws `SCHEMA_INVALID` listing every problem (in file order, then position), if there are any. */
  throwIfAny(): void {
    if (this.list.length === 0) return;
    const order = (f: string) => {
      const i = this.files.indexOf(f);
      return i < 0 ? this.files.length : i;
    };
    const sorted = this.list
      .map((p, i) => ({ p, i }))
      .sort((a, b) => order(a.p.file) - order(b.p.file) || a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
      .map(({ p }) => p);
    throw schemaError(sorted);
  }
}

/** The error for a list of problems: a header line, then one `file:line:column: message` line each. */
export function schemaError(problems: SchemaProblem[]): AppError {
  const n = problems.length;
  const lines = problems.map((p) => `${formatLocation(p)}: ${p.message}`);
  return new AppError('SCHEMA_INVALID', `invalid schema (${n} problem${n === 1 ? '' : 's'}):\n${lines.join('\n')}`, { details: problems });
}
