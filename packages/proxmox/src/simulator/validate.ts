import { checkNamedFormat } from './formats.js';
import { PropertyStringError, parsePropertyString } from './property-string.js';
import { lookupProperty, type ParameterSchema } from './schema.js';

/** A request parameter as it arrived: a string, a repeated form key, or a JSON value. */
export type RawParameter = string | string[] | number | boolean | null;

export interface ValidationResult {
  /** Parameters typed as the schema says (booleans and integers as numbers). */
  values: Record<string, string | number>;
  /** Parameter → message, as in the 400 body's `errors`. */
  errors: Record<string, string>;
}

function isNumeric(value: string): boolean {
  return /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value);
}

/**
 * Checks one value against its schema, following PVE::JSONSchema::check_prop: type, then format
 * (named or property string), pattern, length, bounds, enum. Returns the typed value or an error.
 */
export function checkValue(
  path: string,
  schema: ParameterSchema,
  raw: RawParameter,
): { value?: string | number; error?: string } {
  if (Array.isArray(raw)) {
    return { error: `type check ('${schema.type ?? 'string'}') failed - got ARRAY` };
  }
  const type = schema.type ?? 'string';
  let text: string;
  let typed: string | number;
  if (type === 'boolean') {
    if (raw === true || raw === 1 || raw === '1') typed = 1;
    else if (raw === false || raw === 0 || raw === '0') typed = 0;
    else return { error: `type check ('boolean') failed - got '${String(raw)}'` };
    text = String(typed);
  } else if (type === 'integer') {
    text = String(raw);
    if (!/^-?\d+$/.test(text)) return { error: `type check ('integer') failed - got '${text}'` };
    typed = Number(text);
  } else if (type === 'number') {
    text = String(raw);
    if (!isNumeric(text)) return { error: `type check ('number') failed - got '${text}'` };
    typed = Number(text);
  } else {
    text = raw === null ? '' : String(raw);
    typed = text;
  }
  const format = schema.format;
  if (typeof format === 'string') {
    const error = checkNamedFormat(format, text);
    if (error) return { error: `invalid format - ${error}` };
  } else if (format && typeof format === 'object') {
    const error = checkPropertyString(path, format, text);
    if (error) return { error: `invalid format - ${error}` };
  }
  if (schema.pattern && !new RegExp(`^(?:${schema.pattern})$`).test(text)) {
    return { error: 'value does not match the regex pattern' };
  }
  if (schema.maxLength !== undefined && text.length > schema.maxLength) {
    return { error: `value may only be ${schema.maxLength} characters long` };
  }
  if (schema.minLength !== undefined && text.length < schema.minLength) {
    return { error: `value must be at least ${schema.minLength} characters long` };
  }
  if (isNumeric(text)) {
    if (schema.minimum !== undefined && Number(text) < Number(schema.minimum)) {
      return { error: `value must have a minimum value of ${schema.minimum}` };
    }
    if (schema.maximum !== undefined && Number(text) > Number(schema.maximum)) {
      return { error: `value must have a maximum value of ${schema.maximum}` };
    }
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(text)) {
    return {
      error: `value '${text}' does not have a value in the enumeration '${schema.enum.join(', ')}'`,
    };
  }
  return { value: typed };
}

/** Validates a property string; returns the "format error" text with per-key lines, or undefined. */
function checkPropertyString(
  path: string,
  format: Record<string, ParameterSchema>,
  text: string,
): string | undefined {
  let parsed: Record<string, string>;
  try {
    parsed = parsePropertyString(format, text);
  } catch (error) {
    if (error instanceof PropertyStringError) return `${error.message}\n`;
    throw error;
  }
  const errors = checkObject(path, format, parsed, false);
  const keys = Object.keys(errors);
  if (keys.length === 0) return undefined;
  const lines = keys.map((key) => {
    const message = errors[key] as string;
    return `${key}: ${message}${message.endsWith('\n') ? '' : '\n'}`;
  });
  return `format error\n${lines.join('')}\n`;
}

function checkObject(
  path: string,
  properties: Record<string, ParameterSchema>,
  values: Record<string, RawParameter>,
  additionalProperties: boolean,
): Record<string, string> {
  const errors: Record<string, string> = {};
  const prefix = path ? `${path}.` : '';
  for (const [key, raw] of Object.entries(values)) {
    const schema = lookupProperty(properties, key);
    if (!schema || schema.alias) {
      if (!additionalProperties) {
        errors[`${prefix}${key}`] =
          'property is not defined in schema and the schema does not allow additional properties';
      }
      continue;
    }
    const result = checkValue(`${prefix}${key}`, schema, raw);
    if (result.error) errors[`${prefix}${key}`] = result.error;
    if (schema.requires && values[schema.requires] === undefined) {
      errors[`${prefix}${schema.requires}`] =
        `missing property - '${prefix}${key}' requires this property`;
    }
  }
  for (const [key, schema] of Object.entries(properties)) {
    if (schema.optional || schema.alias || key.endsWith('[n]')) continue;
    if (values[key] === undefined)
      errors[`${prefix}${key}`] = 'property is missing and it is not optional';
  }
  return errors;
}

/** Validates request parameters against an endpoint's parameter schema. */
export function validateParameters(
  schema: { additionalProperties?: number; properties?: Record<string, ParameterSchema> },
  parameters: Record<string, RawParameter>,
): ValidationResult {
  const properties = schema.properties ?? {};
  const errors = checkObject('', properties, parameters, Boolean(schema.additionalProperties));
  const values: Record<string, string | number> = {};
  for (const [key, raw] of Object.entries(parameters)) {
    if (errors[key]) continue;
    const property = lookupProperty(properties, key);
    if (!property) {
      if (typeof raw === 'string') values[key] = raw;
      continue;
    }
    const result = checkValue(key, property, raw);
    if (result.value !== undefined) values[key] = result.value;
  }
  return { values, errors };
}
