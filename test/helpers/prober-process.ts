/**
 * The prober half of the abuse harness: polls `GET {url}/health` every `interval` ms from its own
 * process (so the test's own work cannot delay it), without waiting for earlier probes, and on
 * SIGTERM prints `{"count","max","failures"}`: `max` is the slowest probe's latency in ms, which is
 * how long the server held its event loop at worst.
 */
import http from 'node:http';

const [url, intervalText] = process.argv.slice(2) as [string, string];
const interval = Number(intervalText);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
let count = 0;
let failures = 0;
let max = 0;
let pending = 0;

const probe = () => {
  const started = performance.now();
  pending++;
  const done = (ok: boolean) => {
    pending--;
    if (!ok) failures++;
    const took = performance.now() - started;
    if (took > max) max = took;
    count++;
  };
  const req = http.get(`${url}/health`, { agent, timeout: 30_000 }, (res) => {
    res.resume();
    res.on('end', () => done(res.statusCode === 200));
    res.on('error', () => done(false));
  });
  req.on('error', () => done(false));
  req.on('timeout', () => req.destroy());
};

// Warm up one connection, then tell the parent we are probing.
probe();
const timer = setInterval(probe, interval);
setTimeout(() => process.stdout.write('ready\n'), interval * 2);
process.on('SIGTERM', () => {
  clearInterval(timer);
  // Probes still in flight count with the time they have waited so far.
  const report = () => {
    process.stdout.write(`${JSON.stringify({ count, max: Math.round(max), failures, pending })}\n`);
    process.exit(0);
  };
  if (pending === 0) report();
  else setTimeout(report, 200);
});
