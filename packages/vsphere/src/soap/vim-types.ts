/**
 * The slice of the vim25 schema the SOAP layer writes, in the element order vim25 defines. The
 * table is generated (`vim-types.generated.ts`, by `scripts/generate-vim-types.ts`) from govmomi's
 * `vim25/types/types.go` (0.24.2, Debian's golang-github-vmware-govmomi-dev): a Go struct embeds
 * its base type first, so a type's elements are its base's fields followed by its own. Real
 * vCenter rejects elements out of order; vcsim does not check, so the order is never typed by
 * hand and is pinned by tests here. To send a new argument type, add a root to the generator.
 */
import { GENERATED_VIM_TYPES } from './vim-types.generated.js';

/** The XSD scalars a field can be declared as; each is written as element text. */
export type XsdScalar =
  | 'string'
  | 'boolean'
  | 'byte'
  | 'short'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'dateTime'
  | 'base64Binary';

/**
 * A declared field type: an XSD scalar, `anyType` (always written with `xsi:type`),
 * `ManagedObjectReference` or a vim25 data object type.
 */
export type DeclaredType = XsdScalar | 'anyType' | 'ManagedObjectReference' | (string & {});

/** One data object type: its base type and its own fields in schema order. */
export interface VimTypeInfo {
  readonly base?: string;
  readonly fields: readonly (readonly [name: string, type: DeclaredType])[];
}

/** Data object types the envelope writer can serialise, keyed by vim25 type name. */
export const VIM_TYPES: Readonly<Record<string, VimTypeInfo>> = GENERATED_VIM_TYPES;

const XSD_SCALARS: ReadonlySet<string> = new Set<XsdScalar>([
  'string',
  'boolean',
  'byte',
  'short',
  'int',
  'long',
  'float',
  'double',
  'dateTime',
  'base64Binary',
]);

/** True when `type` is an XSD scalar (not `anyType`, a MoRef or a data object type). */
export function isXsdScalar(type: DeclaredType): type is XsdScalar {
  return XSD_SCALARS.has(type);
}

const allFields = new Map<string, readonly (readonly [string, DeclaredType])[]>();

/** All fields of `type` in schema order (base fields first), or undefined for an unknown type. */
export function fieldsOf(type: string): readonly (readonly [string, DeclaredType])[] | undefined {
  // Own-property check: `VIM_TYPES['toString']` must not be taken for a type.
  if (!Object.hasOwn(VIM_TYPES, type)) return undefined;
  const cached = allFields.get(type);
  if (cached !== undefined) return cached;
  const info = VIM_TYPES[type] as VimTypeInfo;
  const inherited = info.base === undefined ? [] : (fieldsOf(info.base) ?? []);
  const fields = [...inherited, ...info.fields];
  allFields.set(type, fields);
  return fields;
}

/** True when `type` is `ancestor` or derives from it. */
export function isSubtypeOf(type: string, ancestor: string): boolean {
  let current: string | undefined = type;
  while (current !== undefined) {
    if (current === ancestor) return true;
    current = Object.hasOwn(VIM_TYPES, current) ? VIM_TYPES[current]?.base : undefined;
  }
  return false;
}
