/**
 * One GET route behind tablecast's own CORS hook and session-cookie read (VARIANT=ours: what
 * src/http/cors.ts and src/auth/authenticate.ts do for a request from a listed origin) or behind
 * @fastify/cors and @fastify/cookie configured to answer the same (VARIANT=plugins). run.sh counts
 * the instructions each spends per request. Both answer with the same headers and cookie value.
 */
import Fastify from 'fastify';
const variant = process.env.VARIANT;
const app = Fastify({ logger: false });
const origins = new Set(['https://app.example']);
const EXPOSED = 'ETag, Location, Retry-After, WWW-Authenticate';
if (variant === 'ours') {
  // src/http/cors.ts's hook (non-preflight path) and the session cookie read of src/auth/authenticate.ts
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    reply.header('vary', 'Origin');
    if (typeof origin !== 'string' || !origins.has(origin)) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-allow-credentials', 'true');
    reply.header('access-control-expose-headers', EXPOSED);
  });
  app.addHook('onRequest', async (request) => {
    const c = request.headers.cookie;
    if (c) {
      const m = /(?:^|;\s*)tablecast_session=([^;]*)/.exec(c);
      request.session = m ? m[1] : undefined;
    }
  });
} else {
  await app.register((await import('@fastify/cors')).default, { origin: [...origins], credentials: true, exposedHeaders: EXPOSED, maxAge: 600 });
  await app.register((await import('@fastify/cookie')).default);
  app.addHook('onRequest', async (request) => {
    request.session = request.cookies.tablecast_session;
  });
}
app.get('/x', async (request) => ({ ok: true, s: request.session ?? null }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
console.log('listening');
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
