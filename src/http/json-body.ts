/**
 * The JSON body parser of REST routes: fastify's own (prototype-poisoning safe), behind a linear
 * pre-count that refuses a body holding more values than a record may (`maxRecordValues`) before
 * `JSON.parse` builds it. Parsing a 1 MiB body of 71,000 attributes alone held the event loop
 * 45–70 ms on these machines; the pre-count takes a few ms and allocates nothing.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.ts';

const QUOTE = 34,
  BACKSLASH = 92,
  COMMA = 44,
  OPEN_ARRAY = 91,
  OPEN_OBJECT = 123,
  CLOSE_ARRAY = 93,
  CLOSE_OBJECT = 125;

/**
 * The number of commas outside strings: every value after the first in an object or array follows
 * one, so a body with more than `max` of them certainly holds more than `max` values.
 * @example structuralCommas('{"a":1,"b":"x,y"}') // 1
 */
export function structuralCommas(text: string, max: number): number {
  let n = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === COMMA && ++n > max) return n;
  }
  return n;
}

const LEADING_BRACKET = /^\s*\[/;

/**
 * The first problem of an array body of records (a bulk create), counted as `structuralCommas`
 * counts but per record: more than `maxRecords` elements, or an element holding more than
 * `maxValues` values. `undefined` when neither; the whole body is bounded by `bodyLimit` anyway.
 * @example bulkProblem('[{"a":1},{"b":2}]', 100, 1) // { index: 1, tooMany: true }
 */
function bulkProblem(text: string, maxValues: number, maxRecords: number): { index: number; tooMany: boolean } | undefined {
  let depth = 0;
  let index = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) depth++;
    else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
    else if (c === COMMA) {
      if (depth > 1) {
        if (++values > maxValues) return { index, tooMany: false };
      } else if (++index >= maxRecords) return { index, tooMany: true };
      else values = 0;
    }
  }
  return undefined;
}

/**
 * Replaces the parser of `application/json` and `application/*+json` bodies.
 * @example registerJsonBody(fastify, 10_000, 1000)
 */
export function registerJsonBody(fastify: FastifyInstance, maxValues: number, maxRecords: number): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  const parser = (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // A bulk create's array may hold up to maxRecords records of maxValues values each.
    if ((request.routeOptions.config as { bulk?: boolean }).bulk === true && LEADING_BRACKET.test(text)) {
      const problem = bulkProblem(text, maxValues, maxRecords);
      if (problem?.tooMany) done(new AppError('PAYLOAD_TOO_LARGE', `a bulk create takes at most ${maxRecords} records (the maxBulkRecords setting)`));
      else if (problem) done(valuesError(maxValues, problem.index));
      else parse(request, text, done);
      return;
    }
    if (structuralCommas(text, maxValues) > maxValues) {
      done(
        new AppError('VALIDATION_FAILED', `the body holds more than ${maxValues} values (attributes, list elements and nested values; the maxRecordValues setting)`, {
          details: [{ path: '', message: `more than ${maxValues} values` }],
        }),
      );
      return;
    }
    parse(request, text, done);
  };
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, parser);
  // `application/merge-patch+json` and other `+json` types are JSON too (RFC 6839).
  fastify.addContentTypeParser(/^application\/[\w.+-]+\+json(\s*;.*)?$/, { parseAs: 'string' }, parser);
}

/** VALIDATION_FAILED for a body (or record `index` of a bulk create) of more than `max` values. */
function valuesError(max: number, index: number): AppError {
  return new AppError('VALIDATION_FAILED', `record ${index}: holds more than ${max} values (attributes, list elements and nested values; the maxRecordValues setting)`, {
    details: [{ path: String(index), message: `more than ${max} values` }],
  });
}
