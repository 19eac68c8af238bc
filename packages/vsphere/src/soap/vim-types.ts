/**
 * The slice of the vim25 schema the SOAP layer needs, in the element order vim25 defines. The
 * order is copied from govmomi's `vim25/types/types.go` (0.24.2, Debian's
 * golang-github-vmware-govmomi-dev): a Go struct embeds its base type first, so a type's elements
 * are its base's fields followed by its own. Real vCenter rejects elements out of order; vcsim
 * does not check, so the order is pinned by tests here.
 */

/** A declared field type: an XSD scalar, `anyType` (always written with `xsi:type`) or a vim25 type. */
export type DeclaredType =
  | 'string'
  | 'boolean'
  | 'int'
  | 'long'
  | 'anyType'
  | 'ManagedObjectReference'
  | (string & {});

/** One data object type: its base type and its own fields in schema order. */
export interface VimTypeInfo {
  readonly base?: string;
  readonly fields: readonly (readonly [name: string, type: DeclaredType])[];
}

/** Data object types the envelope writer can serialise. */
export const VIM_TYPES: Readonly<Record<string, VimTypeInfo>> = {
  DynamicData: { fields: [] },
  SelectionSpec: { base: 'DynamicData', fields: [['name', 'string']] },
  TraversalSpec: {
    base: 'SelectionSpec',
    fields: [
      ['type', 'string'],
      ['path', 'string'],
      ['skip', 'boolean'],
      ['selectSet', 'SelectionSpec'],
    ],
  },
  ObjectSpec: {
    base: 'DynamicData',
    fields: [
      ['obj', 'ManagedObjectReference'],
      ['skip', 'boolean'],
      ['selectSet', 'SelectionSpec'],
    ],
  },
  PropertySpec: {
    base: 'DynamicData',
    fields: [
      ['type', 'string'],
      ['all', 'boolean'],
      ['pathSet', 'string'],
    ],
  },
  PropertyFilterSpec: {
    base: 'DynamicData',
    fields: [
      ['propSet', 'PropertySpec'],
      ['objectSet', 'ObjectSpec'],
      ['reportMissingObjectsInResults', 'boolean'],
    ],
  },
  RetrieveOptions: { base: 'DynamicData', fields: [['maxObjects', 'int']] },
  OptionValue: {
    base: 'DynamicData',
    fields: [
      ['key', 'string'],
      ['value', 'anyType'],
    ],
  },
};

/** All fields of `type` in schema order (base fields first), or undefined for an unknown type. */
export function fieldsOf(type: string): readonly (readonly [string, DeclaredType])[] | undefined {
  const info = VIM_TYPES[type];
  if (info === undefined) return undefined;
  const inherited = info.base === undefined ? [] : (fieldsOf(info.base) ?? []);
  return [...inherited, ...info.fields];
}

/** True when `type` is `ancestor` or derives from it. */
export function isSubtypeOf(type: string, ancestor: string): boolean {
  let current: string | undefined = type;
  while (current !== undefined) {
    if (current === ancestor) return true;
    current = VIM_TYPES[current]?.base;
  }
  return false;
}
