/**
 * Turns a data object as the SOAP parser returns it back into one the envelope writer accepts, so
 * a server's answer (`CreateImportSpec`'s importSpec) can be sent back (`ImportVApp`). The parser
 * names a type only where the XML had `xsi:type` and leaves untyped scalars as text; the writer
 * needs every object's `$type` and booleans and floats as such. Both come from the declared
 * field types of the generated vim25 table.
 */
import { ProviderApiError } from '@hvkit/core';
import type { SoapValue } from '../soap/soap-envelope.js';
import { type DeclaredType, fieldsOf, isXsdScalar } from '../soap/vim-types.js';

/** What {@link retype} left out: fields of a type newer than the generated table. */
export interface RetypeResult {
  value: SoapValue;
  /** Dotted paths of dropped fields. */
  dropped: string[];
}

function isMoRef(value: Record<string, unknown>): boolean {
  return !('$type' in value) && typeof value.type === 'string' && typeof value.value === 'string';
}

function scalar(value: unknown, type: DeclaredType, path: string): SoapValue {
  if (typeof value === 'object' && value !== null) {
    throw new ProviderApiError(
      `vSphere answer: ${path} should be an xsd:${type}, not an object`,
      {},
    );
  }
  switch (type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === '1') return true;
      if (value === 'false' || value === '0') return false;
      break;
    case 'float':
    case 'double': {
      const number = typeof value === 'number' ? value : Number(value);
      if (Number.isFinite(number)) return number;
      break;
    }
    case 'byte':
    case 'short':
    case 'int':
    case 'long':
      // Decimal text is kept: a long may exceed 2^53.
      if (typeof value === 'number' || typeof value === 'string') return value;
      break;
    default:
      return String(value);
  }
  throw new ProviderApiError(
    `vSphere answer: ${path} = ${JSON.stringify(value)} is not an xsd:${type}`,
    {},
  );
}

function walk(value: unknown, declared: DeclaredType, path: string, dropped: string[]): SoapValue {
  if (Array.isArray(value)) {
    return value.map((item, index) => walk(item, declared, `${path}[${index}]`, dropped));
  }
  if (isXsdScalar(declared)) return scalar(value, declared, path);
  if (typeof value !== 'object' || value === null) {
    // An anyType scalar (OptionValue.value): the writer picks its xsi:type from the JS type.
    if (declared === 'anyType') return value as string | number | boolean;
    throw new ProviderApiError(`vSphere answer: ${path} should be a ${declared}`, {});
  }
  const record = value as Record<string, unknown>;
  if (declared === 'ManagedObjectReference' || isMoRef(record)) {
    return { type: String(record.type), value: String(record.value) };
  }
  const type = typeof record.$type === 'string' ? record.$type : declared;
  const fields = fieldsOf(type);
  if (!fields) {
    throw new ProviderApiError(`vSphere answer: ${path} has type ${type}, unknown to hvkit`, {});
  }
  const declaredOf = new Map(fields);
  const out: Record<string, SoapValue> & { $type: string } = { $type: type };
  for (const [key, field] of Object.entries(record)) {
    if (key === '$type' || field === undefined) continue;
    const fieldType = declaredOf.get(key);
    if (fieldType === undefined) {
      dropped.push(`${path}.${key}`);
      continue;
    }
    out[key] = walk(field, fieldType, `${path}.${key}`, dropped);
  }
  return out;
}

/**
 * Rebuilds `value` as a `declared` (or its `$type`) for the envelope writer: `$type` on every
 * object, text scalars converted to their declared type, morefs kept. Fields the generated table
 * does not know are dropped and listed (a newer vCenter may send some; the writer would refuse).
 *
 * @throws ProviderApiError when a value does not fit its declared type or names an unknown type.
 */
export function retype(value: unknown, declared: DeclaredType): RetypeResult {
  const dropped: string[] = [];
  return { value: walk(value, declared, declared, dropped), dropped };
}
