/**
 * Hand-built TableDefs for the query tests (the SDL parser is written separately, so these do not depend on it).
 */
import type { FieldDef, FieldType, ScalarName, TableDef } from '../../../src/schema/model.ts';

const loc = { file: 'test.graphql', line: 1, column: 1 };

export const scalar = (name: ScalarName): FieldType => ({ kind: 'scalar', name });
export const list = (of: FieldType): FieldType => ({ kind: 'list', of, itemRequired: false });
export const object = (name: string, fields: FieldDef[], sealed = false): FieldType => ({ kind: 'object', name, fields, sealed });
export const enumeration = (name: string, values: string[]): FieldType => ({ kind: 'enum', name, values });

export function field(name: string, type: FieldType, extra: Partial<FieldDef> = {}): FieldDef {
  return { name, type, required: false, primaryKey: false, indexed: false, createdTime: false, updatedTime: false, loc, ...extra };
}

export function table(typeName: string, fields: FieldDef[], sealed = false): TableDef {
  return { typeName, database: 'data', table: typeName, sealed, fields, primaryKey: fields[0]?.name ?? 'id', loc };
}

/** Every kind of attribute the grammar types: scalars, enum, lists, nested objects, Any. */
export function productFields(): FieldDef[] {
  return [
    field('id', scalar('ID'), { primaryKey: true }),
    field('name', scalar('String'), { indexed: true }),
    field('rating', scalar('Int')),
    field('price', scalar('Float')),
    field('views', scalar('Long')),
    field('big', scalar('BigInt')),
    field('inStock', scalar('Boolean')),
    field('created', scalar('Date')),
    field('color', enumeration('Color', ['red', 'green', 'blue'])),
    field('tags', list(scalar('String'))),
    field('scores', list(scalar('Int'))),
    field('dimensions', object('Dimensions', [field('width', scalar('Float')), field('unit', scalar('String'))], true)),
    field('parts', list(object('Part', [field('name', scalar('String')), field('qty', scalar('Int'))]))),
    field('meta', scalar('Any')),
    field('blob', scalar('Bytes')),
  ];
}

/** Extra attributes allowed (untyped). */
export const product = table('Product', productFields());
/** @sealed: unknown attributes are errors. */
export const sealedProduct = table('SealedProduct', productFields(), true);
