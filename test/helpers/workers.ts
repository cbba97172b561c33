/**
 * The real CLI with `--workers 2`, for tests of what spans worker processes: started on a temp data
 * directory, returned once both workers serve, stopped (every process gone) after the test. Each
 * `fresh` request and `stream` goes over a new connection, which the supervisor hands to the
 * workers in turn.
 */
import type { TestContext } from 'node:test';
import { rmSync } from 'node:fs';
import { Agent, request } from 'undici';
import { startChild, waitGone, type Child } from './child.ts';
import { MESSAGE_SDL, schemaDir, tmpDir } from './server.ts';
import { eventually, openSse, type SseStream } from './sse.ts';

export interface Workers {
  child: Child;
  url: string;
  data: string;
  /** A request on a new connection (so the supervisor picks the next worker). */
  fresh(path: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  /** A stream on a new connection. */
  stream(path: string, headers?: Record<string, string>): Promise<SseStream>;
}

/**
 * Starts the server with two workers on the message schema; `args` and `env` are added.
 * @example const c = await startWorkers(t); const s = await c.stream('/realtime-demo/message?stream=sse')
 */
export async function startWorkers(t: TestContext, args: string[] = [], env: Record<string, string> = {}): Promise<Workers> {
  const data = tmpDir();
  const schemas = schemaDir({ 'message.graphql': MESSAGE_SDL });
  const agents: Agent[] = [];
  const child = await startChild(['--workers', '2', '--no-tls', '--data', data, '--schemas', schemas, ...args], env, 60_000);
  t.after(async () => {
    for (const a of agents) await a.destroy().catch(() => undefined);
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGTERM');
    // A server that does not stop must not outlive the test (nor hold it up): its processes are killed.
    const stopped = await Promise.race([child.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000).unref())]);
    if (!stopped) for (const pid of [child.proc.pid!, ...workerPids(child.output())]) await waitGone(pid, 0);
    for (const pid of workerPids(child.output())) await waitGone(pid, 5000);
    rmSync(data, { recursive: true, force: true });
    rmSync(schemas, { recursive: true, force: true });
  });
  // Both workers serving: the supervisor only hands connections to workers that listen.
  await eventually(
    () =>
      child
        .output()
        .split('\n')
        .filter((l) => l.includes('tablecast serving')).length >= 2,
    'both workers serving',
    60_000,
  );
  const newAgent = () => {
    const a = new Agent({ connections: 1, pipelining: 0 });
    agents.push(a);
    return a;
  };
  return {
    child,
    url: child.url,
    data,
    async fresh(path, init = {}) {
      const agent = newAgent();
      const res = await request(`${child.url}${path}`, {
        method: (init.method ?? 'GET') as 'GET',
        dispatcher: agent,
        headers: { ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
        ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      });
      const text = await res.body.text();
      await agent.close();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.statusCode, body, headers: res.headers };
    },
    stream: (path, headers = {}) => openSse(`${child.url}${path}`, { agent: newAgent(), headers, timeoutMs: 10_000 }),
  };
}

/** The pids of the workers that said they serve. */
export function workerPids(output: string): number[] {
  const pids = new Set<number>();
  for (const line of output.split('\n')) {
    if (!line.includes('tablecast serving')) continue;
    pids.add((JSON.parse(line) as { pid: number }).pid);
  }
  return [...pids];
}
