import schema84 from './schema/pve-8.4.json';
import schema91 from './schema/pve-9.1.json';

/** The PVE releases whose API schema the simulator enforces. */
export type PveVersion = '8.4' | '9.1';

/** One parameter (or property-string key) rule, as derived from the official schema. */
export interface ParameterSchema {
  type?: string;
  optional?: number;
  enum?: string[] | null;
  pattern?: string;
  minimum?: number | string;
  maximum?: number | string;
  minLength?: number;
  maxLength?: number;
  /** A named format (`pve-vmid`) or a nested property-string format. */
  format?: string | Record<string, ParameterSchema>;
  formatName?: string;
  default?: unknown;
  default_key?: number;
  alias?: string;
  keyAlias?: string;
  requires?: string;
  /** For `name[n]` keys: the highest index. */
  indexMax?: number;
}

export type PermissionCheck = unknown[];

export interface EndpointSchema {
  allowtoken: number;
  protected?: number;
  permissions: { check?: PermissionCheck; user?: string } | null;
  parameters: { additionalProperties?: number; properties?: Record<string, ParameterSchema> };
  returns: unknown;
}

interface SchemaFile {
  version: string;
  endpoints: Record<string, EndpointSchema>;
}

const SCHEMAS: Record<PveVersion, SchemaFile> = {
  '8.4': schema84 as unknown as SchemaFile,
  '9.1': schema91 as unknown as SchemaFile,
};

/** Endpoint schemas of one version, keyed `METHOD /path/{template}`. */
export function endpointSchemas(version: PveVersion): Record<string, EndpointSchema> {
  return SCHEMAS[version].endpoints;
}

/** The schema of a parameter key, resolving `net0` to `net[n]` within the allowed index range. */
export function lookupProperty(
  properties: Record<string, ParameterSchema>,
  key: string,
): ParameterSchema | undefined {
  const direct = properties[key];
  if (direct) return direct;
  const indexed = /^([a-z][a-z_-]*?)(\d+)$/.exec(key);
  if (!indexed) return undefined;
  const schema = properties[`${indexed[1]}[n]`];
  if (!schema) return undefined;
  const index = Number(indexed[2]);
  if (String(index) !== indexed[2] || index > (schema.indexMax ?? 31)) return undefined;
  return schema;
}
