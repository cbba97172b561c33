/**
 * A transport over the Fetch API (browsers, or any `fetch` handed to the Node entry). The body is
 * read with its ReadableStream reader one chunk per `read()`, so the stream's own backpressure
 * (and the network's) holds while the consumer does not pull. Where cookies live is the entry's to
 * say: a browser keeps them in its jar (`credentials: 'include'`); Node's fetch has no jar, so the
 * client core sends the session cookie itself.
 */
import type { HttpResponse, Transport } from './types.ts';

/** The part of `fetch` the client uses. */
export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal; credentials?: 'include' }) => Promise<Response>;

/**
 * `cookies.jar`: the platform keeps cookies itself (a browser); `cookies.include`: send
 * `credentials: 'include'` (a browser with `auth: 'cookie'`).
 * @example const transport = createFetchTransport(globalThis.fetch.bind(globalThis), { jar: true, include: true })
 */
export function createFetchTransport(fetchFn: FetchLike, cookies: { jar: boolean; include: boolean }): Transport {
  const includeCredentials = cookies.include;
  return {
    cookieJar: cookies.jar,
    async send(request) {
      const res = await fetchFn(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(request.signal ? { signal: request.signal } : {}),
        ...(includeCredentials ? { credentials: 'include' as const } : {}),
      });
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
      const response: HttpResponse = {
        status: res.status,
        header: (name) => res.headers.get(name) ?? undefined,
        setCookies: () => (typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : []),
        async read() {
          if (!res.body) return undefined;
          reader ??= res.body.getReader();
          const { done, value } = await reader.read();
          return done ? undefined : value;
        },
        text: () => res.text(),
        async cancel() {
          await (reader ? reader.cancel() : res.body?.cancel());
        },
      };
      return response;
    },
    async close() {},
  };
}
