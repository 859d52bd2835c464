/**
 * A small JSON Schema checker for the keywords docs/json-output.schema.json
 * uses (type, const, enum, pattern, minimum, maximum, properties, required,
 * additionalProperties, items, oneOf, $ref to #/$defs): enough to hold every
 * command's --json output to the documented shape without a dependency.
 * Unknown keywords are refused, so the schema cannot silently outgrow it.
 */

type Schema = Record<string, unknown> | boolean;

const KNOWN = new Set([
  '$schema', '$id', 'title', 'description', '$defs', 'type', 'const', 'enum', 'pattern', 'minimum', 'maximum',
  'properties', 'required', 'additionalProperties', 'items', 'oneOf', '$ref',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/** The problems of `value` against `schema` (empty: it conforms); `root` resolves $ref. */
export function validate(value: unknown, schema: Schema, root: Record<string, unknown>, at = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${at}: nothing is allowed here`];
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`the checker does not know the keyword "${key}" (at ${at})`);
  const problems: string[] = [];
  if (typeof schema.$ref === 'string') {
    const name = /^#\/\$defs\/(.+)$/.exec(schema.$ref)?.[1];
    const target = name === undefined ? undefined : (root.$defs as Record<string, Schema> | undefined)?.[name];
    if (target === undefined) throw new Error(`unknown $ref ${schema.$ref}`);
    problems.push(...validate(value, target, root, at));
  }
  if (typeof schema.type === 'string' && !hasType(value, schema.type)) return [...problems, `${at}: expected ${schema.type}, got ${typeOf(value)}`];
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const)) problems.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((option) => JSON.stringify(option) === JSON.stringify(value))) {
    problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if (typeof schema.pattern === 'string' && typeof value === 'string' && !new RegExp(schema.pattern, 'u').test(value)) problems.push(`${at}: "${value}" does not match ${schema.pattern}`);
  if (typeof schema.minimum === 'number' && typeof value === 'number' && value < schema.minimum) problems.push(`${at}: ${value} < ${schema.minimum}`);
  if (typeof schema.maximum === 'number' && typeof value === 'number' && value > schema.maximum) problems.push(`${at}: ${value} > ${schema.maximum}`);
  if (typeOf(value) === 'object') {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in object)) problems.push(`${at}: "${key}" is missing`);
    for (const [key, field] of Object.entries(object)) {
      const fieldSchema = properties[key] ?? (schema.additionalProperties as Schema | undefined) ?? true;
      problems.push(...validate(field, fieldSchema, root, `${at}.${key}`));
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) value.forEach((item, index) => problems.push(...validate(item, schema.items as Schema, root, `${at}[${index}]`)));
  if (Array.isArray(schema.oneOf)) {
    const matching = (schema.oneOf as Schema[]).filter((option) => validate(value, option, root, at).length === 0).length;
    if (matching !== 1) problems.push(`${at}: matches ${matching} of the oneOf shapes, not exactly one`);
  }
  return problems;
}
