/**
 * The orchestrator's side of the SSE client farm: starts bench/lib/sse-farm.ts pinned to the load
 * core with an IPC channel, and sends it commands one at a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pinned, ROOT } from './proc.ts';
import type { FarmCommand } from './sse-farm.ts';

export interface Farm {
  pid: number;
  call<T = any>(msg: FarmCommand, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

/** Starts the farm on `core` (unpinned when taskset is missing). */
export function startFarm(core: number | undefined): Farm {
  const [cmd, args] = pinned(core, [process.execPath, '--import', 'tsx', 'bench/lib/sse-farm.ts']);
  const child: ChildProcess = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let seq = 0;
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  child.on('message', (raw) => {
    const { id, result, error } = raw as { id: number; result?: unknown; error?: string };
    const w = waiting.get(id);
    if (!w) return;
    waiting.delete(id);
    clearTimeout(w.timer);
    if (error !== undefined) w.reject(new Error(`farm: ${error}`));
    else w.resolve(result);
  });
  child.on('exit', (code) => {
    for (const w of waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error(`farm exited (${code})`));
    }
    waiting.clear();
  });
  return {
    pid: child.pid!,
    call(msg, timeoutMs = 120_000) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`farm: ${msg.cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, { resolve, reject, timer });
        child.send({ id, msg });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        await this.call({ cmd: 'exit' }, 10_000);
      } catch {
        // fall through to the signal
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
