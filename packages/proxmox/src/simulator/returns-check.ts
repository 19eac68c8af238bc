/** The shallow return schema the derive script keeps: type, properties (type/optional), items. */
interface ReturnSchema {
  type?: string | string[];
  optional?: number;
  properties?: Record<string, { type?: string | string[]; optional?: number }>;
  items?: ReturnSchema | null;
}

function typeMatches(type: string | string[] | undefined, value: unknown): boolean {
  if (type === undefined || type === 'any') return true;
  if (Array.isArray(type)) return type.some((item) => typeMatches(item, value));
  switch (type) {
    case 'null':
      return value === null || value === undefined;
    case 'string':
      return typeof value === 'string';
    // Perl-loose: integers often travel as strings ("100" from /cluster/nextid).
    case 'integer':
    case 'number':
      return (
        typeof value === 'number' || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value))
      );
    case 'boolean':
      return typeof value === 'boolean' || value === 0 || value === 1;
    case 'array':
      return Array.isArray(value);
    case 'object':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
    default:
      return true;
  }
}

/**
 * Property types are checked only for structure (object, array, scalar): Perl emits a config
 * value as a number or a string depending on how it was last used, whatever the schema says.
 */
function shapeMatches(type: string | string[] | undefined, value: unknown): boolean {
  if (type === 'object' || type === 'array') return typeMatches(type, value);
  if (type === undefined || type === 'any' || Array.isArray(type)) return true;
  return value === null || typeof value !== 'object';
}

function missingProperties(schema: ReturnSchema, value: unknown, path: string): string[] {
  if (!schema.properties || value === null || typeof value !== 'object' || Array.isArray(value))
    return [];
  const problems: string[] = [];
  for (const [key, property] of Object.entries(schema.properties)) {
    const present = (value as Record<string, unknown>)[key];
    if (present === undefined) {
      if (!property.optional) problems.push(`${path}.${key} missing`);
    } else if (!shapeMatches(property.type, present)) {
      problems.push(`${path}.${key} is ${typeof present}, schema says ${String(property.type)}`);
    }
  }
  return problems;
}

/**
 * Checks a handler's `data` against the endpoint's `returns` schema (shallow, Perl-loose): the
 * simulator's own guard that it answers what the official schema promises. Returns the problems.
 */
export function checkReturns(returns: unknown, data: unknown): string[] {
  if (!returns || typeof returns !== 'object') return [];
  const schema = returns as ReturnSchema;
  if (schema.optional && (data === null || data === undefined)) return [];
  if (!typeMatches(schema.type, data)) {
    return [`data is ${data === null ? 'null' : typeof data}, schema says ${String(schema.type)}`];
  }
  const problems = missingProperties(schema, data, 'data');
  if (Array.isArray(data) && schema.items) {
    data.forEach((item, index) => {
      if (!typeMatches(schema.items?.type, item))
        problems.push(`data[${index}] has the wrong type`);
      problems.push(...missingProperties(schema.items as ReturnSchema, item, `data[${index}]`));
    });
  }
  return problems;
}
