/**
 * GraphQL output and input types derived from the table model: our scalars, enums, nested object
 * types and their input twins. Input scalars are deliberately permissive: values are checked by the
 * same core validators as REST, so a bad value gets the same VALIDATION_FAILED error either way.
 */
import {
  GraphQLBoolean,
  GraphQLEnumType,
  GraphQLFloat,
  GraphQLID,
  GraphQLInputObjectType,
  GraphQLInt,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  GraphQLScalarType,
  GraphQLString,
  Kind,
  valueFromASTUntyped,
  type GraphQLInputType,
  type GraphQLNullableType,
  type GraphQLOutputType,
  type GraphQLFieldConfigMap,
  type GraphQLInputFieldConfigMap,
} from 'graphql';
import type { FieldDef, FieldType, ScalarName } from '../schema/model.ts';

const passThrough = (name: string, description: string) =>
  new GraphQLScalarType({
    name,
    description,
    serialize: (v) => v,
    parseValue: (v) => v,
    parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
  });

/** Any JSON value (`Any` attributes, published messages). */
export const JSONScalar = passThrough('JSON', 'Any JSON value.');

const Long = new GraphQLScalarType({
  name: 'Long',
  description: 'An integer within ±2^53, as a JSON number.',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (ast) => (ast.kind === Kind.INT || ast.kind === Kind.FLOAT ? Number(ast.value) : ast.kind === Kind.STRING ? ast.value : undefined),
});
const BigIntScalar = passThrough('BigInt', 'An integer of any size, as a decimal string.');
const DateScalar = passThrough('Date', 'An instant as an ISO-8601 string (input also accepts epoch milliseconds).');
const Bytes = passThrough('Bytes', 'Binary data as a base64 string.');

const SCALARS: { [S in ScalarName]: GraphQLScalarType } = {
  ID: GraphQLID,
  String: GraphQLString,
  Int: GraphQLInt,
  Float: GraphQLFloat,
  Long,
  BigInt: BigIntScalar,
  Boolean: GraphQLBoolean,
  Date: DateScalar,
  Any: JSONScalar,
  Bytes,
};

/** Builds (and caches by name) the GraphQL types of one database's schema. */
export function createTypeFactory() {
  const enums = new Map<string, GraphQLEnumType>();
  const outputs = new Map<string, GraphQLObjectType>();
  const inputs = new Map<string, GraphQLInputObjectType>();

  const enumOf = (t: Extract<FieldType, { kind: 'enum' }>) => {
    let e = enums.get(t.name);
    if (!e) enums.set(t.name, (e = new GraphQLEnumType({ name: t.name, values: Object.fromEntries(t.values.map((v) => [v, { value: v }])) })));
    return e;
  };

  type ObjectType = Extract<FieldType, { kind: 'object' }>;

  /** Scalars, enums and lists read the same on both sides; only a nested object has an input twin. */
  const typeOf = <T extends GraphQLNullableType>(t: FieldType, self: (t: FieldType) => T, object: (t: ObjectType) => T) => {
    switch (t.kind) {
      case 'scalar':
        return SCALARS[t.name];
      case 'enum':
        return enumOf(t);
      case 'list': {
        const of = self(t.of);
        return new GraphQLList(t.itemRequired ? new GraphQLNonNull(of) : of);
      }
      case 'object':
        return object(t);
    }
  };

  const outputObject = (t: ObjectType): GraphQLObjectType => {
    let o = outputs.get(t.name);
    // Fields are a thunk: nested types may refer to themselves.
    if (!o) outputs.set(t.name, (o = new GraphQLObjectType({ name: t.name, fields: () => outputFields(t.fields) })));
    return o;
  };
  const inputObject = (t: ObjectType): GraphQLInputObjectType => {
    let i = inputs.get(t.name);
    // A nested object is always written whole (a patch replaces it, it is not merged), so its
    // required attributes stay required in every input that holds it, as the SDL declares them.
    if (!i) inputs.set(t.name, (i = new GraphQLInputObjectType({ name: `${t.name}Input`, fields: () => inputFields(t.fields, true) })));
    return i;
  };
  const output = (t: FieldType): GraphQLOutputType => typeOf<GraphQLOutputType>(t, output, outputObject);
  const input = (t: FieldType): GraphQLInputType => typeOf<GraphQLInputType>(t, input, inputObject);

  const outputFields = (fields: readonly FieldDef[]): GraphQLFieldConfigMap<unknown, unknown> =>
    Object.fromEntries(fields.map((f) => [f.name, { type: f.required ? new GraphQLNonNull(output(f.type)) : output(f.type) }]));

  /**
   * Input fields; `required` keeps `!` (create/replace inputs), except for the key and server-set
   * timestamps, which may be left out as in REST.
   */
  const inputFields = (fields: readonly FieldDef[], required: boolean): GraphQLInputFieldConfigMap =>
    Object.fromEntries(
      fields.filter((f) => !f.createdTime && !f.updatedTime).map((f) => [f.name, { type: required && f.required && !f.primaryKey ? new GraphQLNonNull(input(f.type)) : input(f.type) }]),
    );

  return { output, outputObject, input, outputFields, inputFields };
}

/** Attributes that can be equality arguments: scalars and enums (not lists, objects, Any or Bytes). */
export function isArgument(f: FieldDef): boolean {
  return (f.type.kind === 'scalar' && f.type.name !== 'Any' && f.type.name !== 'Bytes') || f.type.kind === 'enum';
}
