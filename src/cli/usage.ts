/**
 * What the command line accepts, in one place: the help text, the flag table handed to
 * `parseArgs`, and the sentences a usage error prints (Node's own parser messages name the
 * problem in its terms, with advice about `--` that fits no flag of ours).
 */
export const USAGE = `Usage: tablecast <command> [flags]

Commands:
  start   serve the schemas (default)
  check   run every check start runs (settings, schemas, roles and filters against the tables,
          password hashes, table URLs, TLS files, data directory), list the tables, and exit
  init [dir]
          write a starter schemas/message.graphql and tablecast.config.json into dir (default:
          the current folder); refuses to overwrite either
  hash-password
          read a password from standard input, print its scrypt hash for auth.users
  export --out DIR [--table db/table]
          write every table (or one) as NDJSON, <database>.<table>.ndjson in DIR, from one
          snapshot; --out - writes the --table to standard output; works while a server runs
  import FILE|DIR [--table db/table] [--on-conflict fail|skip|replace] [--skip-invalid]
          [--resume] [--batch n]
          read NDJSON records into a table (FILE named <database>.<table>.ndjson, or --table),
          validated as REST validates, --batch lines (1000) per transaction; stops at the first
          bad line (its number is printed), --resume goes on after the last committed line;
          the server must be stopped
  backup DIR
          copy the data directory into DIR (new or empty): the store from one transaction,
          consistent while a server writes, and the other files (auth secret, certificate)
  types [--schemas dir] [--out file]
          write TypeScript declarations of every exported table (record, create, patch, events,
          and the Schema map for createClient<Schema> of tablecast/client) to stdout or --out
  tail <url | db/table[/key]> [--filter q] [--since cursor] [--json]
          follow a stream: one line per event (JSON lines when piped or with --json), resuming
          across disconnects; db/table is on the server of --host/--port/--no-tls, trusting --cert
          or <data>/tls/cert.pem (--insecure: any certificate); credentials from TABLECAST_TOKEN
          (bearer) or --user with TABLECAST_PASSWORD (basic)
  help    show this text (also --help, -h)
  version print the version (also --version, -v)

Exit status: 0 success, 1 invalid configuration or schema (every problem is listed) or a failed
start, 2 usage error (unknown command or flag).

Flags (each also settable as an environment variable or in tablecast.config.json):
  --port <n>              TABLECAST_PORT            port to listen on (9996; 0 picks a free one)
  --host <name>           TABLECAST_HOST            address to bind (localhost; 0.0.0.0 for all)
  --schemas <dir>         TABLECAST_SCHEMAS         directory of *.graphql files (./schemas)
  --data <dir>            TABLECAST_DATA            data directory (./data)
  --no-tls                TABLECAST_TLS=false       plain HTTP instead of HTTPS + HTTP/2
  --cert <file>           TABLECAST_CERT            TLS certificate (PEM); with --key
  --key <file>            TABLECAST_KEY             TLS private key (PEM); with --cert
  --durability <mode>     TABLECAST_DURABILITY      commit (default) or sync (flush to disk before answering)
  --workers <n>           TABLECAST_WORKERS         processes serving the port over one store (the CPU count;
                                                    1: one process)
  --cluster <urls>        TABLECAST_CLUSTER         join a cluster: NATS servers nats://host:port[,…] (JetStream;
                                                    README › Cluster); a node runs as one process
  --body-limit <bytes>    TABLECAST_BODY_LIMIT      largest request body (1048576)
  --ping-interval <ms>    TABLECAST_PING_INTERVAL   SSE heartbeat interval (15000)
  --retention <ms>        TABLECAST_RETENTION       how long the change log is kept (86400000)
  --static <dir>          TABLECAST_STATIC          serve an app's files from dir on the API's origin (API routes win;
                                                    README › Same-origin pages)
  --no-console            TABLECAST_CONSOLE=false   no web console at /console (README › Console)
  --log-level <level>     TABLECAST_LOG_LEVEL       fatal|error|warn|info|debug|trace|silent (info)
  --config <file>         TABLECAST_CONFIG          config file (./tablecast.config.json if present)
`;

export const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  schemas: { type: 'string' },
  data: { type: 'string' },
  tls: { type: 'boolean' },
  'no-tls': { type: 'boolean' },
  cert: { type: 'string' },
  key: { type: 'string' },
  durability: { type: 'string' },
  workers: { type: 'string' },
  cluster: { type: 'string' },
  'body-limit': { type: 'string' },
  'ping-interval': { type: 'string' },
  retention: { type: 'string' },
  'log-level': { type: 'string' },
  static: { type: 'string' },
  'no-console': { type: 'boolean' },
  config: { type: 'string' },
  out: { type: 'string' },
  table: { type: 'string' },
  resume: { type: 'boolean' },
  'on-conflict': { type: 'string' },
  'skip-invalid': { type: 'boolean' },
  batch: { type: 'string' },
  filter: { type: 'string' },
  since: { type: 'string' },
  json: { type: 'boolean' },
  insecure: { type: 'boolean' },
  user: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** The line a usage error prints: the problem, and where the valid commands and flags are listed. */
export function usageLine(problem: string): string {
  return `tablecast: ${problem}; "tablecast help" lists every command and flag\n`;
}

const SHORT = new Map(Object.entries(FLAGS).flatMap(([name, f]): [string, string][] => ('short' in f ? [[f.short, name]] : [])));
/** {@link FLAGS} looked up by any name. */
const BY_NAME: Readonly<Record<string, { readonly type: string }>> = FLAGS;

/**
 * The first usage problem in `argv` as one sentence, or undefined: an unknown flag (with the
 * nearest known one), a value-taking flag given none, or a switch given a value.
 */
export function usageProblem(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return undefined;
    if (!arg.startsWith('-') || arg === '-') continue;
    const long = arg.startsWith('--');
    const [rawName, inlineValue] = long ? splitOnce(arg.slice(2), '=') : [arg.slice(1), undefined];
    const name = long ? rawName : SHORT.get(rawName);
    const flag = name === undefined ? undefined : BY_NAME[name];
    if (!flag || name === undefined) {
      const near = nearest(rawName, Object.keys(FLAGS));
      return `unknown flag ${arg.split('=')[0]}${near ? ` (did you mean --${near}?)` : ''}`;
    }
    if (flag.type === 'boolean') {
      if (inlineValue !== undefined) return `flag --${name} takes no value (remove "=${inlineValue}")`;
      continue;
    }
    if (inlineValue !== undefined) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) return `flag --${name} needs a value, e.g. ${exampleOf(name)}`;
    i++;
  }
  return undefined;
}

function splitOnce(text: string, sep: string): [string, string | undefined] {
  const at = text.indexOf(sep);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}

function exampleOf(name: string): string {
  const line = USAGE.split('\n').find((l) => l.trimStart().startsWith(`--${name} `));
  return line ? line.trim().split(/\s{2,}/)[0]! : `--${name} <value>`;
}

/** The known name closest to `typed` by edit distance, if it is close enough to be a typo. */
function nearest(typed: string, names: string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = distance(typed.toLowerCase(), name);
    if (!best || d < best.d) best = { name, d };
  }
  return best && best.d <= Math.max(1, Math.floor(best.name.length / 3)) ? best.name : undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`: `--prot` is one from `--port`. */
function distance(a: string, b: string): number {
  // Words here are a few letters long: the full table costs nothing.
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
