/**
 * fastify's schema compilers, replaced: tablecast's routes declare no JSON schemas (bodies are
 * checked against the table schema by core), so ajv and fast-json-stringify's compiler would only
 * be loaded, ~50 ms of every start-up, and never used. A route that does declare a schema fails at
 * registration with this message rather than going unchecked.
 */
const refuse = (): never => {
  throw new Error('tablecast routes validate with the table schema, not fastify JSON schemas: no schema compiler is loaded');
};

export const schemaController = {
  compilersFactory: {
    buildValidator: () => refuse,
    buildSerializer: () => refuse,
  },
};
