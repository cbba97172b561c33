/**
 * The console's requests: same origin, the visitor's own credentials (the session cookie), JSON
 * both ways. Every answer, a refusal or an unreachable server included, comes back as an `Answer`
 * so each view shows what the server said instead of failing silently.
 */

/** A server's answer, or `status: 0` when it could not be reached. */
export interface Answer {
  ok: boolean;
  status: number;
  body: unknown;
  /** The record's version (`ETag`), sent back as `If-Match` so an edit cannot overwrite a newer one. */
  etag: string | null;
}

/** One problem the server found in a body: the attribute (`details[].path`) and what is wrong. */
export interface Problem {
  path: string;
  message: string;
}

/** Sends a request; `body` is sent as JSON. */
export async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    return { ok: false, status: 0, body: { code: 'UNREACHABLE', message: `the server could not be reached (${String(err)})` }, etag: null };
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): kept as text.
  }
  return { ok: res.ok, status: res.status, body: parsed, etag: res.headers.get('etag') };
}

/** The body of a GET, or the server's error as a sentence. */
export async function getJson<T>(url: string): Promise<T | string> {
  const answer = await call('GET', url);
  return answer.ok ? (answer.body as T) : errorText(answer);
}

/** `CODE: message` of an error answer (the one JSON error shape), or its status. */
export function errorText(answer: Answer): string {
  const body = answer.body as { code?: unknown; message?: unknown } | undefined;
  if (body && typeof body === 'object' && typeof body.message === 'string') return `${String(body.code ?? answer.status)}: ${body.message}`;
  return `${answer.status}: ${typeof answer.body === 'string' && answer.body ? answer.body.slice(0, 200) : 'no explanation from the server'}`;
}

/** The problems an error answer lists (`details`), if any. */
export function problemsOf(answer: Answer): Problem[] {
  const details = (answer.body as { details?: unknown } | undefined)?.details;
  if (!Array.isArray(details)) return [];
  return details.map((d: { path?: unknown; message?: unknown }) => ({ path: String(d?.path ?? ''), message: String(d?.message ?? '') }));
}
