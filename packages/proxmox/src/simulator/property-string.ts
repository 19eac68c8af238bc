import type { ParameterSchema } from './schema.js';

/** A property string's parse failure, with pve-common's wording. */
export class PropertyStringError extends Error {
  constructor(
    message: string,
    /** Per-key errors (`path.key` → message); present for "format error". */
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

const TRUE_WORDS = /^(1|on|yes|true)$/i;
const FALSE_WORDS = /^(0|off|no|false)$/i;

/** `1|on|yes|true` → 1, `0|off|no|false` → 0, else undefined (PVE::JSONSchema::parse_boolean). */
export function parseBoolean(value: string): 0 | 1 | undefined {
  if (TRUE_WORDS.test(value)) return 1;
  if (FALSE_WORDS.test(value)) return 0;
  return undefined;
}

function defaultKey(format: Record<string, ParameterSchema>): string | undefined {
  for (const [key, schema] of Object.entries(format)) if (schema.default_key) return key;
  return undefined;
}

/**
 * Splits `key=value,...` against a nested format the way PVE::JSONSchema::parse_property_string
 * does: a bare value goes to the default key, `keyAlias` entries (`virtio=MAC`) set two keys.
 * Throws {@link PropertyStringError} for syntax errors; value checks are left to the validator.
 */
export function parsePropertyString(
  format: Record<string, ParameterSchema>,
  text: string,
): Record<string, string> {
  const result: Record<string, string> = {};
  const fallback = defaultKey(format);
  for (const part of text.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const pair = /^([^=]+)=(.+)$/.exec(part);
    if (pair) {
      let key = pair[1] as string;
      let value = pair[2] as string;
      if (result[key] !== undefined) {
        throw new PropertyStringError(`duplicate key in comma-separated list property: ${key}`);
      }
      let schema = format[key];
      if (schema?.alias) {
        if (schema.keyAlias) {
          if (result[schema.keyAlias] !== undefined) {
            throw new PropertyStringError(
              `duplicate key in comma-separated list property: ${schema.keyAlias}`,
            );
          }
          result[schema.keyAlias] = key;
        }
        key = schema.alias;
        schema = format[key];
      }
      if (!schema)
        throw new PropertyStringError(`invalid key in comma-separated list property: ${key}`);
      if (schema.type === 'boolean') value = String(parseBoolean(value) ?? value);
      result[key] = value;
    } else if (!part.includes('=')) {
      if (fallback && result[fallback] !== undefined) {
        throw new PropertyStringError(
          `duplicate key in comma-separated list property: ${fallback}`,
        );
      }
      if (!fallback) {
        throw new PropertyStringError(
          'value without key, but schema does not define a default key',
        );
      }
      result[fallback] = part;
    } else {
      throw new PropertyStringError('missing key in comma-separated list property');
    }
  }
  return result;
}

/**
 * Prints a property string as PVE::JSONSchema::print_property_string: the default key first
 * (bare), then a `keyAlias` pair (`virtio=MAC`), then the other keys sorted.
 */
export function printPropertyString(
  values: Record<string, string | undefined>,
  options: { defaultKey?: string; keyAlias?: { key: string; valueKey: string } } = {},
): string {
  const parts: string[] = [];
  const skip = new Set<string>();
  if (options.defaultKey && values[options.defaultKey] !== undefined) {
    parts.push(values[options.defaultKey] as string);
    skip.add(options.defaultKey);
  }
  if (options.keyAlias) {
    const model = values[options.keyAlias.key];
    const mac = values[options.keyAlias.valueKey];
    if (model !== undefined) {
      parts.push(mac !== undefined ? `${model}=${mac}` : model);
      skip.add(options.keyAlias.key);
      skip.add(options.keyAlias.valueKey);
    }
  }
  for (const key of Object.keys(values).sort()) {
    if (skip.has(key) || values[key] === undefined) continue;
    parts.push(`${key}=${values[key]}`);
  }
  return parts.join(',');
}
