import { InvalidSpecError } from '@hvkit/core';
import { escapeXml } from './soap-escape.js';
import { type DeclaredType, fieldsOf, isSubtypeOf } from './vim-types.js';

/** A reference to a managed object (`vm-42`, `session[…]…`): opaque strings, escaped like any value. */
export interface ManagedObjectReference {
  type: string;
  value: string;
}

/** An XSD scalar with an explicit type, for `anyType` fields (`OptionValue.value`). */
export interface TypedScalar {
  $xsd: 'string' | 'boolean' | 'int' | 'long' | 'short' | 'byte' | 'double' | 'float' | 'dateTime';
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

function scalarText(value: string | number | boolean, type: DeclaredType, path: string): string {
  if (typeof value === 'string') return escapeXml(value, path);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (!Number.isFinite(value)) throw invalid(path, `${value} is not a finite number`);
  if ((type === 'int' || type === 'long') && !Number.isInteger(value)) {
    throw invalid(path, `${value} is not an integer`);
  }
  return String(value);
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
    out.push(
      `<${name}${typeAttribute}>${scalarText(scalar, declared ?? 'string', path)}</${name}>`,
    );
    return;
  }
  if ('$xsd' in value) {
    const typed = value as TypedScalar;
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
 * @throws InvalidSpecError naming the field for an unknown type or field, a non-finite number or
 *   a character XML cannot carry.
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
