/**
 * `access_token` parameters in URLs and in texts that quote URLs: finding them as the server reads
 * them (authentication, src/http/auth-routes.ts) and as a reader might (redaction, for every log
 * line and error message that could hold a URL: src/server.ts hands {@link redactUrl} to the logger).
 */

/** One `name=value` whose name decodes to `access_token`, by offsets into the text. */
export interface Found {
  /** The name as written. */
  name: string;
  start: number;
  valueStart: number;
  valueEnd: number;
}

/**
 * A parameter name: up to `=`, after any separator the query grammar or URLSearchParams knows, or a
 * quote or white space (a URL quoted in an error message). Anchored after a separator, so the scan
 * is linear (unanchored, a long run without `=` was retried from every position).
 */
const NAME = /(?<=^|[?&|[\](),;#'"\s])[^?&|[\](),;=#'"\s]+(?==)/g;
/** Where a value ends, at the latest: URLSearchParams reads it up to `&`. */
const VALUE_END = /[&#'"\s]/g;

/**
 * Every `access_token=` of a text. `loose` (for redaction) decodes names until they stop changing and
 * ignores case, so anything a reader could take for a token is found; otherwise the name must decode
 * once to exactly `access_token`, as the server reads it.
 */
export function findAccessTokens(text: string, loose: boolean): Found[] {
  if (!text.includes('%') && !(loose ? /access_token/i : /access_token/).test(text)) return [];
  const out: Found[] = [];
  NAME.lastIndex = 0;
  for (let m = NAME.exec(text); m; m = NAME.exec(text)) {
    const name = m[0];
    const decoded = loose ? decodeLoosely(name).toLowerCase() : decodeOnce(name);
    if (decoded !== 'access_token') continue;
    const valueStart = m.index + name.length + 1;
    VALUE_END.lastIndex = valueStart;
    const valueEnd = VALUE_END.exec(text)?.index ?? text.length;
    out.push({ name, start: m.index, valueStart, valueEnd });
    NAME.lastIndex = valueEnd;
  }
  return out;
}

function decodeOnce(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

/** Percent-decodes ASCII escapes (skipping malformed ones), repeatedly: `access%255Ftoken` too. */
function decodeLoosely(name: string): string {
  let previous = '';
  let current = name;
  for (let i = 0; i < 4 && current !== previous; i++) {
    previous = current;
    current = current.replace(/%([0-7][0-9a-f])/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
  return current;
}

/**
 * The text with every `access_token` value replaced, for logs and error messages: a URL, or a
 * text that quotes one (the value ends at a quote or white space as well as at `&` or `#`). Names
 * are compared decoded and in any case (`access%5Ftoken`, `ACCESS_TOKEN`), and after any separator
 * (`|access_token=` inside a REST query too).
 */
export function redactUrl(url: string): string {
  const found = findAccessTokens(url, true);
  if (found.length === 0) return url;
  let out = '';
  let at = 0;
  for (const f of found) {
    out += `${url.slice(at, f.valueStart)}[redacted]`;
    at = f.valueEnd;
  }
  return out + url.slice(at);
}
