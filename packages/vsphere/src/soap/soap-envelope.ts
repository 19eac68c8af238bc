import { InvalidSpecError } from '@hvkit/core';
import { escapeXml } from './soap-escape.js';
import {
  type DeclaredType,
  fieldsOf,
  isSubtypeOf,
  isXsdScalar,
  type XsdScalar,
} from './vim-types.js';

/** A reference to a managed object (`vm-42`, `session[…]…`): opaque strings, escaped like any value. */
export interface ManagedObjectReference {
  type: string;
  value: string;
}

/**
 * An XSD scalar with an explicit type, for `anyType` fields (`OptionValue.value`). The value must
 * suit the type as for a declared field: see {@link serializeElement}.
 */
export interface TypedScalar {
  $xsd: XsdScalar;
  value: string | number | boolean;
}

/** A vim25 data object; `$type` names its type, which must be known to the writer. */
export interface DataObject {
  $type: string;
  [field: string]: SoapValue | undefined;
}

/** Any value the envelope writer serialises. Arrays become repeated elements. */
export type SoapValue =
  | string
  | number
  | boolean
  | ManagedObjectReference
  | DataObject
  | TypedScalar
  | readonly SoapValue[];

/** One method argument: element name, value (undefined is left out), optional declared type. */
export type SoapArgument = readonly [
  name: string,
  value: SoapValue | undefined,
  type?: DeclaredType,
];

const SOAPENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const XSD = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';
const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

function invalid(path: string, message: string): InvalidSpecError {
  return new InvalidSpecError([{ path, message, code: 'invalid_soap_value' }], {
    subject: 'vSphere request',
  });
}

function isMoRef(value: object): value is ManagedObjectReference {
  const record = value as Record<string, unknown>;
  return (
    !('$type' in record) && typeof record.type === 'string' && typeof record.value === 'string'
  );
}

/** Inclusive ranges of the XSD integer types, as bigints so `long` is exact. */
const INTEGER_RANGES: Readonly<Partial<Record<XsdScalar, readonly [bigint, bigint]>>> = {
  byte: [-128n, 127n],
  short: [-32768n, 32767n],
  int: [-2147483648n, 2147483647n],
  long: [-9223372036854775808n, 9223372036854775807n],
};
const INTEGER_TEXT = /^-?[0-9]+$/;
/** xsd:dateTime: date, `T`, time with optional fraction, optional `Z` or ±hh:mm offset. */
const DATE_TIME =
  /^-?[0-9]{4,}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** The largest finite xsd:float (IEEE single precision). */
const FLOAT_MAX = 3.4028234663852886e38;

/**
 * The element text of `value` for a field declared `type` (undefined: no declaration, written as
 * its JavaScript type says). A declared scalar accepts only values of its kind, because vCenter
 * rejects the whole request for one bad value and the error is clearer here, before any I/O.
 */
function scalarText(
  value: string | number | boolean,
  type: DeclaredType | undefined,
  path: string,
): string {
  if (type === undefined || type === 'anyType') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw invalid(path, `${value} is not a finite number`);
    }
    return typeof value === 'string' ? escapeXml(value, path) : String(value);
  }
  if (!isXsdScalar(type)) {
    throw invalid(path, `expects a ${type}, not the ${typeof value} ${JSON.stringify(value)}`);
  }
  const range = INTEGER_RANGES[type];
  if (range !== undefined) {
    // A long may not fit a double, so it may come as decimal text; smaller integers too.
    const text = typeof value === 'string' ? value : String(value);
    const isInteger =
      typeof value === 'number' ? Number.isSafeInteger(value) : INTEGER_TEXT.test(text);
    if (typeof value === 'boolean' || !isInteger) {
      throw invalid(
        path,
        `${JSON.stringify(value)} is not an integer (xsd:${type}); pass integers beyond 2^53 as decimal text`,
      );
    }
    const big = BigInt(text);
    if (big < range[0] || big > range[1]) {
      throw invalid(path, `${text} is out of the xsd:${type} range ${range[0]}..${range[1]}`);
    }
    return big.toString();
  }
  switch (type) {
    case 'string':
      if (typeof value !== 'string') break;
      return escapeXml(value, path);
    case 'boolean':
      if (typeof value !== 'boolean') break;
      return value ? 'true' : 'false';
    case 'float':
    case 'double':
      if (typeof value !== 'number') break;
      if (!Number.isFinite(value)) throw invalid(path, `${value} is not a finite number`);
      if (type === 'float' && Math.abs(value) > FLOAT_MAX) {
        throw invalid(path, `${value} is out of the xsd:float range`);
      }
      return String(value);
    case 'dateTime':
      if (typeof value !== 'string') break;
      if (!DATE_TIME.test(value)) {
        throw invalid(path, `${JSON.stringify(value)} is not an ISO 8601 date-time (xsd:dateTime)`);
      }
      return value;
    case 'base64Binary':
      if (typeof value !== 'string') break;
      if (!BASE64.test(value)) throw invalid(path, 'is not base64 text (xsd:base64Binary)');
      return value;
  }
  throw invalid(path, `expects xsd:${type}, not a ${typeof value}`);
}

/** The `xsi:type` an `anyType` field needs for a bare scalar. */
function xsdTypeOf(value: string | number | boolean): TypedScalar['$xsd'] {
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  if (!Number.isInteger(value)) return 'double';
  return value >= -2147483648 && value <= 2147483647 ? 'int' : 'long';
}

function writeValue(
  out: string[],
  name: string,
  value: SoapValue,
  declared: DeclaredType | undefined,
  path: string,
): void {
  if (Array.isArray(value)) {
    value.forEach((item: SoapValue, index) => {
      writeValue(out, name, item, declared, `${path}[${index}]`);
    });
    return;
  }
  if (typeof value !== 'object' || value === null) {
    const scalar = value as string | number | boolean;
    const typeAttribute = declared === 'anyType' ? ` xsi:type="xsd:${xsdTypeOf(scalar)}"` : '';
    out.push(`<${name}${typeAttribute}>${scalarText(scalar, declared, path)}</${name}>`);
    return;
  }
  if ('$xsd' in value) {
    const typed = value as TypedScalar;
    if (!isXsdScalar(typed.$xsd)) throw invalid(path, `unknown XSD type ${String(typed.$xsd)}`);
    if (declared !== undefined && declared !== 'anyType' && declared !== typed.$xsd) {
      throw invalid(path, `expects ${declared}, not xsd:${typed.$xsd}`);
    }
    const typeAttribute = declared === 'anyType' ? ` xsi:type="xsd:${typed.$xsd}"` : '';
    out.push(`<${name}${typeAttribute}>${scalarText(typed.value, typed.$xsd, path)}</${name}>`);
    return;
  }
  if (declared === 'ManagedObjectReference' || isMoRef(value)) {
    const reference = value as ManagedObjectReference;
    if (typeof reference.type !== 'string' || typeof reference.value !== 'string') {
      throw invalid(path, 'a managed object reference needs string type and value');
    }
    const typeAttribute = declared === 'anyType' ? ' xsi:type="ManagedObjectReference"' : '';
    out.push(
      `<${name}${typeAttribute} type="${escapeXml(reference.type, `${path}.type`)}">${escapeXml(reference.value, path)}</${name}>`,
    );
    return;
  }
  const data = value as DataObject;
  const fields = fieldsOf(data.$type);
  if (fields === undefined) throw invalid(path, `unknown vim25 type ${JSON.stringify(data.$type)}`);
  if (declared !== undefined && declared !== 'anyType' && !isSubtypeOf(data.$type, declared)) {
    throw invalid(path, `${data.$type} is not a ${declared}`);
  }
  const known = new Set(fields.map(([field]) => field));
  for (const key of Object.keys(data)) {
    if (key !== '$type' && !known.has(key)) {
      throw invalid(`${path}.${key}`, `${data.$type} has no field ${JSON.stringify(key)}`);
    }
  }
  // A subtype where its base is declared (TraversalSpec as a SelectionSpec) must say so.
  const typeAttribute =
    declared === undefined || declared === data.$type ? '' : ` xsi:type="${data.$type}"`;
  out.push(`<${name}${typeAttribute}>`);
  for (const [field, fieldType] of fields) {
    const fieldValue = data[field];
    if (fieldValue !== undefined) writeValue(out, field, fieldValue, fieldType, `${path}.${field}`);
  }
  out.push(`</${name}>`);
}

/**
 * Serialises `value` as `<name>…</name>` (repeated for arrays). Exposed for tests and for callers
 * that embed a fragment; {@link buildEnvelope} is the usual entry point.
 *
 * A field declared as an XSD scalar takes: `string` a string; `boolean` a boolean; `byte`,
 * `short`, `int`, `long` an integer in the type's range, as a number or decimal text (text lets a
 * long exceed 2^53); `float`, `double` a finite number; `dateTime` an ISO 8601 string
 * (`2026-11-21T15:26:31.000Z`, what `Date.prototype.toISOString` gives); `base64Binary` base64
 * text without line breaks. Undeclared values are written as their JavaScript type says.
 *
 * @throws InvalidSpecError naming the field for an unknown type or field, a subtype that is not
 *   one of the declared type, a value that does not suit its declared scalar type, a non-finite
 *   number or a character XML cannot carry.
 */
export function serializeElement(name: string, value: SoapValue, declared?: DeclaredType): string {
  if (!XML_NAME.test(name)) throw invalid(name, 'not an XML element name');
  const out: string[] = [];
  writeValue(out, name, value, declared, name);
  return out.join('');
}

/**
 * Builds a vim25 SOAP 1.1 request envelope for `method` on `target`, with `args` written in the
 * order given (the caller passes them in the order the method's WSDL defines) and every data
 * object's fields in vim25 schema order.
 *
 * @throws InvalidSpecError naming the argument path for anything that cannot be serialised.
 */
export function buildEnvelope(
  method: string,
  target: ManagedObjectReference,
  args: readonly SoapArgument[] = [],
): string {
  if (!XML_NAME.test(method)) throw invalid('method', 'not an XML element name');
  const out: string[] = [
    `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="${SOAPENV}" xmlns:xsd="${XSD}" xmlns:xsi="${XSI}"><soapenv:Body><${method} xmlns="urn:vim25">`,
  ];
  writeValue(out, '_this', target, 'ManagedObjectReference', '_this');
  for (const [name, value, declared] of args) {
    if (!XML_NAME.test(name)) throw invalid(name, 'not an XML element name');
    if (value !== undefined) writeValue(out, name, value, declared, name);
  }
  out.push(`</${method}></soapenv:Body></soapenv:Envelope>`);
  return out.join('');
}
