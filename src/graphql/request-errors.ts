/**
 * Every GraphQL request that cannot be read is the client's error: a 4xx with a code, in the
 * GraphQL error shape, on every transport. Yoga's own readers let `JSON.parse` throw on GET and
 * form-encoded `variables`/`extensions` (a masked 500, logged with its stack), answer a multipart
 * `operations` field that is not JSON without a code or status, and copy the parser's exception into
 * `extensions.originalError` for a malformed JSON body. The readers here replace or wrap theirs.
 */
import { GraphQLError } from 'graphql';
import type { GraphQLParams, Plugin } from 'graphql-yoga';
import { AppError } from '../errors.ts';
import { messageOf } from '../util/guards.ts';

/** The parameters of a GraphQL request sent as a query string or a form body (GraphQL over HTTP). */
function paramsOf(search: URLSearchParams): GraphQLParams {
  const json = (name: 'variables' | 'extensions'): Record<string, unknown> | undefined => {
    const text = search.get(name);
    if (!text) return undefined;
    try {
      // JSON.parse returns any; yoga's parameter check refuses variables or extensions that are not objects.
      return JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new AppError('INVALID_JSON', `the ${name} parameter is not valid JSON: ${messageOf(err)}`);
    }
  };
  return {
    ...(search.get('operationName') ? { operationName: search.get('operationName')! } : {}),
    ...(search.get('query') ? { query: search.get('query')! } : {}),
    variables: json('variables'),
    extensions: json('extensions'),
  };
}

function isForm(request: Request): boolean {
  const type = request.headers.get('content-type')?.split(',')[0]?.split(';')[0]?.trim().toLowerCase();
  return request.method === 'POST' && type === 'application/x-www-form-urlencoded';
}

/** A reader's failure as an AppError with a code; errors that already carry a code are kept. */
function asRequestError(err: unknown): unknown {
  if (err instanceof AppError) return err;
  if (err instanceof GraphQLError) {
    const ext = err.extensions;
    const original = ext.originalError;
    if (original) {
      const detail = typeof original === 'object' && 'message' in original && typeof original.message === 'string' ? `: ${original.message}` : '';
      return new AppError('INVALID_JSON', `the request body is invalid JSON${detail}`);
    }
    if (ext.code === undefined) return new AppError('BAD_REQUEST', err.message);
    return err;
  }
  if (err instanceof SyntaxError) return new AppError('INVALID_JSON', `the request is invalid JSON: ${err.message}`);
  return err;
}

/**
 * Reads GET and form requests itself (naming the parameter that is not JSON) and gives every other
 * reader's failure a code. Must come after yoga's readers, which choose the parser first.
 */
export function useRequestErrors(): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (request.method === 'GET') {
        setRequestParser((req) => paramsOf(new URL(req.url).searchParams));
        return;
      }
      if (isForm(request)) {
        setRequestParser(async (req) => paramsOf(new URLSearchParams(await req.text())));
        return;
      }
      if (!requestParser) return;
      const parser = requestParser;
      setRequestParser(async (req) => {
        try {
          return await parser(req);
        } catch (err) {
          throw asRequestError(err);
        }
      });
    },
  };
}
