/**
 * `/admin/connections` for a server of several workers (`--workers`): every worker reports what it
 * holds (peers `gather`), and the reports add up to the server's. Counts are summed, settings are
 * the same in every report, and the change log is one: its head is the highest any worker read and
 * `dispatched` the lowest (the worker furthest behind, which is what an operator looks for).
 */
import { isObject } from '../util/guards.ts';

type Report = { [key: string]: unknown };

/** Values that are settings, not counts: every worker reports the same, so one is kept. */
const SETTINGS = new Set(['connections.limit', 'connections.perAddressLimit']);
const HIGHEST = new Set(['changeLog.head', 'changeLog.entries', 'changeLog.prunedThrough']);
const LOWEST = new Set(['changeLog.dispatched']);

export function mergeReports(reports: readonly unknown[]): Report {
  const out: Report = {};
  for (const r of reports) if (isObject(r)) mergeInto(out, r, '');
  out.workers = reports.length;
  return out;
}

function mergeInto(into: Report, from: Report, path: string): void {
  for (const [key, value] of Object.entries(from)) {
    const at = path ? `${path}.${key}` : key;
    const current = into[key];
    if (typeof value === 'number') {
      if (typeof current !== 'number') into[key] = value;
      else if (SETTINGS.has(at)) into[key] = current;
      else if (HIGHEST.has(at)) into[key] = Math.max(current, value);
      else if (LOWEST.has(at)) into[key] = Math.min(current, value);
      else into[key] = current + value;
    } else if (isObject(value) && !Array.isArray(value)) {
      const child = isObject(current) ? (current as Report) : {};
      into[key] = child;
      mergeInto(child, value, at);
    } else if (current === undefined) into[key] = value;
  }
}
