/**
 * Caps on every GraphQL document, checked before graphql-js sees it so that no document can take
 * the stack or the event loop: tokens, nesting of selections and of literal values (first by a
 * linear pass over the tokens, since graphql's parser and validator recurse once per level), named
 * fragments spread in one another, aliases per operation, and nested introspection lists. Each
 * refusal is QUERY_TOO_COMPLEX naming the cap and its setting.
 */
import { Kind, Lexer, parse, Source, TokenKind, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AppError } from '../errors.ts';

/** The document caps (config `graphqlMaxTokens`, `graphqlMaxDepth`, `graphqlMaxAliases`). */
export interface DocumentLimits {
  /** Most lexical tokens in one document (graphql's `parse(…, { maxTokens })`). */
  maxTokens: number;
  /** Deepest nesting of selection sets, of fragments spread in fragments, and of literal values. */
  maxDepth: number;
  /** Most aliased fields in one operation, counted through its fragments. */
  maxAliases: number;
}

/**
 * Introspection fields that return lists. Nesting them is how an introspection query multiplies its
 * answer (`types { fields { type { ofType { fields …`): graphql's own introspection query nests three
 * (`types { fields { args`), and anything deeper only repeats the schema; it is a fixed rule, not a setting.
 */
const INTROSPECTION_LISTS = new Set(['types', 'fields', 'args', 'inputFields', 'enumValues', 'interfaces', 'possibleTypes', 'directives']);
const MAX_INTROSPECTION_LISTS = 3;

function tooComplex(message: string, cap: string, limit: number): AppError {
  return new AppError('QUERY_TOO_COMPLEX', message, { details: { cap, limit } });
}

/**
 * Parses a document within the caps: a linear pass over its tokens first (token count, nesting of
 * `{ [ (`), then graphql's parser, then the per-operation checks. Throws QUERY_TOO_COMPLEX, or
 * graphql's own syntax error.
 * @example const doc = parseWithinLimits('{ message { id } }', { maxTokens: 1000, maxDepth: 20, maxAliases: 20 })
 */
function parseWithinLimits(source: string | Source, limits: DocumentLimits): DocumentNode {
  checkTokens(source, limits);
  const document = parse(source, { maxTokens: limits.maxTokens });
  checkOperations(document, limits);
  return document;
}

/**
 * The linear, non-recursive pass: counts tokens and how deep brackets are open. Outside `(…)` only
 * selection sets open braces; inside it (arguments, variable defaults) brackets are list and object
 * values. Both kinds of nesting are bounded by `maxDepth`, so the recursive parser never goes deeper.
 */
function checkTokens(source: string | Source, limits: DocumentLimits): void {
  const lexer = new Lexer(typeof source === 'string' ? new Source(source) : source);
  // Open brackets, innermost last; a value bracket records that it was opened inside parentheses.
  let selections = 0;
  let values = 0;
  let parens = 0;
  const stack: Array<'selection' | 'value' | 'paren'> = [];
  for (let tokens = 0; ; ) {
    const token = lexer.advance();
    if (token.kind === TokenKind.EOF) return;
    if (++tokens > limits.maxTokens) throw tooComplex(`the document has more than ${limits.maxTokens} tokens (graphqlMaxTokens)`, 'graphqlMaxTokens', limits.maxTokens);
    switch (token.kind) {
      case TokenKind.PAREN_L:
        if (parens > 0) values++;
        parens++;
        stack.push('paren');
        break;
      case TokenKind.BRACE_L:
      case TokenKind.BRACKET_L:
        if (parens === 0 && token.kind === TokenKind.BRACE_L) {
          if (++selections > limits.maxDepth) throw tooDeep(limits.maxDepth);
          stack.push('selection');
        } else {
          if (++values > limits.maxDepth) {
            throw tooComplex(`list or object values are nested more than ${limits.maxDepth} deep (graphqlMaxDepth); send deep values as variables`, 'graphqlMaxDepth', limits.maxDepth);
          }
          stack.push('value');
        }
        break;
      case TokenKind.PAREN_R:
      case TokenKind.BRACE_R:
      case TokenKind.BRACKET_R: {
        // Unbalanced input is left for the parser to report as the syntax error it is.
        const open = stack.pop();
        if (open === 'selection') selections--;
        else if (open === 'paren') {
          parens--;
          if (parens > 0) values--;
        } else if (open === 'value') values--;
        break;
      }
    }
  }
}

function tooDeep(max: number): AppError {
  return tooComplex(`selections are nested more than ${max} deep (graphqlMaxDepth)`, 'graphqlMaxDepth', max);
}

/** What a selection set adds below the point where it is spread; fragments are measured once. */
interface Measure {
  /** Levels of selection sets, this one included. */
  depth: number;
  /** Levels of named fragments spread inside one another. */
  spreads: number;
  /** Levels of nested introspection lists. */
  lists: number;
  /** Aliased fields, every spread counted where it is spread. */
  aliases: number;
}

/**
 * Checks every operation of a parsed document: selection depth and fragment nesting against
 * `maxDepth`, aliases against `maxAliases`, introspection lists against the fixed rule. Named
 * fragments are measured once (their fields sit at the level of the spread) and a fragment cycle
 * counts as nothing here, for validation to report. Recursion ends at the first level over a cap.
 */
function checkOperations(document: DocumentNode, limits: DocumentLimits): void {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const measured = new Map<string, Measure>();
  const inProgress = new Set<string>();
  const NOTHING: Measure = { depth: 0, spreads: 0, lists: 0, aliases: 0 };

  // `at` is where this set sits in the operation being checked (absolute levels), so that a cap is
  // seen on the way down, before the recursion goes any deeper than the cap.
  const measure = (set: SelectionSetNode, inIntrospection: boolean, at: Measure): Measure => {
    if (at.depth + 1 > limits.maxDepth) throw tooDeep(limits.maxDepth);
    const out: Measure = { depth: 1, spreads: 0, lists: 0, aliases: 0 };
    for (const s of set.selections) {
      let inner: Measure;
      if (s.kind === Kind.FIELD) {
        if (s.alias) {
          out.aliases++;
          if (at.aliases + out.aliases > limits.maxAliases) throw tooManyAliases(limits.maxAliases);
        }
        if (!s.selectionSet) continue;
        const introspection = inIntrospection || s.name.value === '__schema' || s.name.value === '__type';
        const list = inIntrospection && INTROSPECTION_LISTS.has(s.name.value) ? 1 : 0;
        if (at.lists + list > MAX_INTROSPECTION_LISTS) throw tooManyLists();
        inner = measure(s.selectionSet, introspection, { depth: at.depth + 1, spreads: at.spreads, lists: at.lists + list, aliases: at.aliases + out.aliases });
        inner = { ...inner, lists: inner.lists + list };
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        // An inline fragment is a selection set of its own, one level down, like a field's.
        const introspection = s.typeCondition ? s.typeCondition.name.value.startsWith('__') : inIntrospection;
        inner = measure(s.selectionSet, introspection, { ...at, depth: at.depth + 1, aliases: at.aliases + out.aliases });
      } else {
        const name = s.name.value;
        const fragment = fragments.get(name);
        if (!fragment || inProgress.has(name)) continue; // unknown or cyclic: validation says so
        if (at.spreads + 1 > limits.maxDepth) throw tooManySpreads(limits.maxDepth);
        let m = measured.get(name);
        if (!m) {
          inProgress.add(name);
          // A fragment's type condition says whether its fields are introspection's (`on __Type`).
          const own = measure(fragment.selectionSet, fragment.typeCondition.name.value.startsWith('__'), {
            depth: at.depth,
            spreads: at.spreads + 1,
            lists: at.lists,
            aliases: at.aliases + out.aliases,
          });
          inProgress.delete(name);
          // Its fields land at the level of the spread: the fragment's own braces add no level.
          m = { depth: own.depth - 1, spreads: own.spreads + 1, lists: own.lists, aliases: own.aliases };
          measured.set(name, m);
        }
        inner = m;
        // The spread's set is at level `at.depth + 1`; the fragment reaches `inner.depth` below it.
        if (at.depth + 1 + inner.depth > limits.maxDepth) throw tooDeep(limits.maxDepth);
        if (at.lists + inner.lists > MAX_INTROSPECTION_LISTS) throw tooManyLists();
        if (at.spreads + inner.spreads > limits.maxDepth) throw tooManySpreads(limits.maxDepth);
      }
      out.aliases += inner.aliases;
      if (at.aliases + out.aliases > limits.maxAliases) throw tooManyAliases(limits.maxAliases);
      out.depth = Math.max(out.depth, inner.depth + 1);
      out.spreads = Math.max(out.spreads, inner.spreads);
      out.lists = Math.max(out.lists, inner.lists);
    }
    return out;
  };

  for (const d of document.definitions) {
    if (d.kind === Kind.OPERATION_DEFINITION) measure(d.selectionSet, false, NOTHING);
  }
}

function tooManySpreads(max: number): AppError {
  return tooComplex(`fragments are spread inside one another more than ${max} deep (graphqlMaxDepth)`, 'graphqlMaxDepth', max);
}

function tooManyAliases(max: number): AppError {
  return tooComplex(`an operation has more than ${max} aliases (graphqlMaxAliases)`, 'graphqlMaxAliases', max);
}

function tooManyLists(): AppError {
  return tooComplex(
    `introspection lists (types, fields, args, …) are nested more than ${MAX_INTROSPECTION_LISTS} deep; graphql's own introspection query needs ${MAX_INTROSPECTION_LISTS}`,
    'introspection',
    MAX_INTROSPECTION_LISTS,
  );
}

/**
 * The caps as a yoga plugin: every document is parsed through {@link parseWithinLimits}, whatever
 * the transport (GET, POST JSON or form, GraphQL over SSE), since they all reach `parse`. Yoga's
 * parse cache keeps the refusal, so a document sent again is refused without being read again.
 */
export function useDocumentLimits(limits: DocumentLimits): Plugin {
  return {
    onParse({ setParseFn }) {
      setParseFn((source) => parseWithinLimits(source, limits));
    },
  };
}
