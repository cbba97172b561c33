/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by area
 * (our src/ modules, each dependency, node internals, GC, idle), so a profile of the server under
 * a scenario can be read in a terminal or pasted into a report.
 *
 *   node --import tsx bench/lib/profile.ts bench/profiles/get/CPU-….cpuprofile [top]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

// ---- Source positions. tsx runs our TypeScript minified (whitespace) onto one line, so profile
// positions are columns of its output. tsx caches each transform (code + source map) in
// $TMPDIR/tsx-<uid>/; the newest cached transform of a file maps a position back to its line.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Decoded mappings: per generated line, sorted [generatedColumn, originalLine] pairs. */
type Lines = Array<Array<[number, number]>>;

function decodeMappings(mappings: string): Lines {
  const lines: Lines = [];
  let origLine = 0;
  let src = 0;
  let origCol = 0;
  let name = 0;
  for (const lineText of mappings.split(';')) {
    const segs: Array<[number, number]> = [];
    let genCol = 0;
    for (const seg of lineText.split(',')) {
      if (!seg) continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = B64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      genCol += fields[0] ?? 0;
      if (fields.length >= 4) {
        src += fields[1]!;
        origLine += fields[2]!;
        origCol += fields[3]!;
        if (fields.length >= 5) name += fields[4]!;
        segs.push([genCol, origLine]);
      }
    }
    lines.push(segs);
  }
  void src;
  void origCol;
  void name;
  return lines;
}

let cacheIndex: Map<string, Lines> | undefined;
function sourceMaps(): Map<string, Lines> {
  if (cacheIndex) return cacheIndex;
  cacheIndex = new Map();
  const dir = join(tmpdir(), `tsx-${userInfo().uid}`);
  let files: string[] = [];
  try {
    files = readdirSync(dir).map((f) => join(dir, f));
  } catch {
    return cacheIndex;
  }
  const newest = new Map<string, { mtime: number; map: { mappings: string } }>();
  for (const f of files) {
    try {
      const j = JSON.parse(readFileSync(f, 'utf8')) as { map?: { sources?: string[]; mappings: string } };
      const source = j.map?.sources?.[0];
      if (!source || !/\/(src|dist|bench)\//.test(source)) continue;
      const mtime = statSync(f).mtimeMs;
      if ((newest.get(source)?.mtime ?? -1) < mtime) newest.set(source, { mtime, map: j.map! });
    } catch {
      // not a transform cache entry
    }
  }
  for (const [source, { map }] of newest) cacheIndex.set(source, decodeMappings(map.mappings));
  return cacheIndex;
}

/** The original 1-based line of a position in tsx's output, or undefined. */
function originalLine(url: string, line: number, column: number): number | undefined {
  if (!url.startsWith('file://')) return undefined;
  const lines = sourceMaps().get(fileURLToPath(url));
  const segs = lines?.[line];
  if (!segs || segs.length === 0) return undefined;
  let best: [number, number] | undefined;
  for (const seg of segs) {
    if (seg[0] > column) break;
    best = seg;
  }
  return (best ?? segs[0]!)[1] + 1;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of non-idle time. */
  busyMs: number;
  functions: Array<{ name: string; where: string; ms: number; pct: number }>;
  areas: Array<{ area: string; ms: number; pct: number }>;
  /** Inclusive (self + callees) time of our own functions (src/, bench/). */
  inclusive: Array<{ name: string; where: string; ms: number; pct: number }>;
}

function areaOf(url: string, name: string): string {
  if (name === '(idle)') return '(idle)';
  if (name === '(garbage collector)') return '(gc)';
  if (name === '(program)') return '(program: native, outside JS)';
  if (!url) return `(native) ${name}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const src = /\/(src|dist|bench)\/(.*)$/.exec(url);
  if (src)
    return `${src[1]}/${src[2]!
      .split('/')
      .slice(0, src[1] === 'bench' ? 2 : 1)
      .join('/')}`;
  return url;
}

/** Self time per function and per area. */
export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const fn = new Map<string, { name: string; where: string; ms: number }>();
  const keyOf = new Map<number, { key: string; name: string; where: string; ours: boolean }>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber, columnNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    total += ms;
    if (name === '(idle)') idle += ms;
    const short = url.replace(/^file:\/\/.*?\/(node_modules|src|dist|bench)\//, '$1/');
    const mapped = /\/(src|dist|bench)\//.test(url) && !url.includes('node_modules') ? originalLine(url, lineNumber, columnNumber) : undefined;
    const where = url ? `${short}:${mapped ?? lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const f = fn.get(key) ?? { name, where, ms: 0 };
    void keyOf;
    f.ms += ms;
    fn.set(key, f);
    const area = areaOf(url, name);
    areas.set(area, (areas.get(area) ?? 0) + ms);
  }
  const busy = total - idle;
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const frameKey = (id: number) => {
    let k = keyOf.get(id);
    if (!k) {
      const { functionName, url, lineNumber, columnNumber } = byId.get(id)!.callFrame;
      const name = functionName || '(anonymous)';
      const ours = /\/(src|dist|bench)\//.test(url) && !url.includes('node_modules');
      const line = ours ? originalLine(url, lineNumber, columnNumber) : undefined;
      const where = url ? `${url.replace(/^file:\/\/.*?\/(node_modules|src|dist|bench)\//, '$1/')}:${line ?? lineNumber + 1}` : '';
      k = { key: `${name}@${where}`, name, where, ours };
      keyOf.set(id, k);
    }
    return k;
  };
  const incl = new Map<string, { name: string; where: string; ms: number }>();
  for (const [id, ms] of self) {
    if (frameKey(id).name === '(idle)') continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = frameKey(at);
      if (!k.ours || seen.has(k.key)) continue;
      seen.add(k.key);
      const e = incl.get(k.key) ?? { name: k.name, where: k.where, ms: 0 };
      e.ms += ms;
      incl.set(k.key, e);
    }
  }
  const pct = (ms: number) => (busy > 0 ? (ms / busy) * 100 : 0);
  return {
    totalMs: total,
    busyMs: busy,
    functions: [...fn.values()]
      .filter((f) => f.name !== '(idle)')
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((f) => ({ ...f, pct: pct(f.ms) })),
    areas: [...areas.entries()]
      .filter(([a]) => a !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .map(([area, ms]) => ({ area, ms, pct: pct(ms) })),
    inclusive: [...incl.values()]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top)
      .map((f) => ({ ...f, pct: pct(f.ms) })),
  };
}

/** The summary as text. */
export function formatProfile(s: ProfileSummary, areasTop = 15): string {
  const lines = [`busy ${(s.busyMs / 1000).toFixed(2)} s of ${(s.totalMs / 1000).toFixed(2)} s sampled (percentages are of busy time)`, '', 'self time by area:'];
  for (const a of s.areas.slice(0, areasTop)) lines.push(`  ${a.pct.toFixed(1).padStart(5)}%  ${a.area}`);
  lines.push('', 'self time by function:');
  for (const f of s.functions) lines.push(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  lines.push('', 'inclusive time (self + callees) of our own functions:');
  for (const f of s.inclusive) lines.push(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node --import tsx bench/lib/profile.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${formatProfile(summarizeProfile(file, Number(process.argv[3] ?? 25)))}\n`);
}
