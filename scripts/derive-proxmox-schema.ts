/**
 * Derives the compact API schema the Proxmox simulator enforces from the official, flattened
 * PVE API schema (`../shared/proxmox/schema/pve-api-methods-pve<version>.json`).
 *
 * Keeps only the endpoints the simulator serves and, for each, the parameter rules (type, enum,
 * pattern, bounds, formats incl. nested property-string formats), `allowtoken`, and the return
 * type. Descriptions are dropped. Run: `npx tsx scripts/derive-proxmox-schema.ts [sourceDir]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sourceDir = resolve(process.argv[2] ?? join(here, '../../shared/proxmox/schema'));
const targetDir = join(here, '../packages/proxmox/src/simulator/schema');

/** The endpoints the simulator serves (method + path template, as in the official schema). */
export const SERVED_ENDPOINTS = [
  'POST /access/ticket',
  'GET /access/permissions',
  'GET /pools',
  'GET /pools/{poolid}',
  'GET /nodes/{node}/network',
  'GET /version',
  'GET /nodes',
  'GET /nodes/{node}/status',
  'GET /cluster/resources',
  'GET /cluster/nextid',
  'GET /cluster/ha/resources',
  'POST /cluster/ha/resources',
  'GET /cluster/ha/resources/{sid}',
  'PUT /cluster/ha/resources/{sid}',
  'DELETE /cluster/ha/resources/{sid}',
  'GET /nodes/{node}/qemu',
  'POST /nodes/{node}/qemu',
  'DELETE /nodes/{node}/qemu/{vmid}',
  'GET /nodes/{node}/qemu/{vmid}/config',
  'POST /nodes/{node}/qemu/{vmid}/config',
  'PUT /nodes/{node}/qemu/{vmid}/config',
  'GET /nodes/{node}/qemu/{vmid}/pending',
  'GET /nodes/{node}/qemu/{vmid}/status/current',
  'POST /nodes/{node}/qemu/{vmid}/status/start',
  'POST /nodes/{node}/qemu/{vmid}/status/stop',
  'POST /nodes/{node}/qemu/{vmid}/status/shutdown',
  'POST /nodes/{node}/qemu/{vmid}/status/reboot',
  'POST /nodes/{node}/qemu/{vmid}/status/reset',
  'POST /nodes/{node}/qemu/{vmid}/status/suspend',
  'POST /nodes/{node}/qemu/{vmid}/status/resume',
  'PUT /nodes/{node}/qemu/{vmid}/resize',
  'POST /nodes/{node}/qemu/{vmid}/template',
  'POST /nodes/{node}/qemu/{vmid}/clone',
  'GET /nodes/{node}/qemu/{vmid}/snapshot',
  'POST /nodes/{node}/qemu/{vmid}/snapshot',
  'DELETE /nodes/{node}/qemu/{vmid}/snapshot/{snapname}',
  'GET /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config',
  'PUT /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/config',
  'POST /nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback',
  'POST /nodes/{node}/qemu/{vmid}/migrate',
  'POST /nodes/{node}/qemu/{vmid}/vncproxy',
  'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces',
  'POST /nodes/{node}/qemu/{vmid}/agent/ping',
  'GET /nodes/{node}/qemu/{vmid}/agent/info',
  'GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo',
  'GET /nodes/{node}/qemu/{vmid}/agent/get-host-name',
  'GET /nodes/{node}/qemu/{vmid}/rrddata',
  'GET /nodes/{node}/storage',
  'GET /nodes/{node}/storage/{storage}/content',
  'GET /nodes/{node}/storage/{storage}/content/{volume}',
  'DELETE /nodes/{node}/storage/{storage}/content/{volume}',
  'POST /nodes/{node}/storage/{storage}/upload',
  'POST /nodes/{node}/storage/{storage}/download-url',
  'GET /nodes/{node}/tasks',
  'GET /nodes/{node}/tasks/{upid}/status',
  'GET /nodes/{node}/tasks/{upid}/log',
  'DELETE /nodes/{node}/tasks/{upid}',
] as const;

/**
 * Named formats the official dump leaves as a string although the server parses them as a
 * property string (qemu-server PVE/QemuServer/Cloudinit.pm and QemuServer.pm `pve-qm-ipconfig`,
 * `pve-qm-cicustom`). Spelled out so their sub-keys can be checked.
 */
const NAMED_PROPERTY_FORMATS: Record<string, Record<string, unknown>> = {
  'pve-qm-ipconfig': {
    ip: { type: 'string', format: 'pve-ipv4-config', optional: 1 },
    gw: { type: 'string', format: 'ipv4', optional: 1 },
    ip6: { type: 'string', format: 'pve-ipv6-config', optional: 1 },
    gw6: { type: 'string', format: 'ipv6', optional: 1 },
  },
  'pve-qm-cicustom': {
    meta: { type: 'string', format: 'pve-volume-id', optional: 1 },
    network: { type: 'string', format: 'pve-volume-id', optional: 1 },
    user: { type: 'string', format: 'pve-volume-id', optional: 1 },
    vendor: { type: 'string', format: 'pve-volume-id', optional: 1 },
  },
};

/** Highest index of each `name[n]` key, from the qemu-server constants ($MAX_NETS etc.). */
const INDEXED_MAX: Record<string, number> = {
  net: 31,
  ipconfig: 31,
  scsi: 30,
  virtio: 15,
  sata: 5,
  ide: 3,
  unused: 255,
  hostpci: 15,
  serial: 3,
  parallel: 2,
  usb: 14,
  numa: 7,
  virtiofs: 9,
  mp: 255,
};

const KEEP = new Set([
  'type',
  'optional',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'format',
  'default',
  'default_key',
  'alias',
  'keyAlias',
  'requires',
  'items',
  'properties',
  'additionalProperties',
]);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function compact(schema: Json, depth = 0): Json {
  if (Array.isArray(schema)) return schema.map((item) => compact(item, depth));
  if (schema === null || typeof schema !== 'object') return schema;
  const result: Record<string, Json> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!KEEP.has(key)) continue;
    if (key === 'format' && typeof value === 'string' && NAMED_PROPERTY_FORMATS[value]) {
      result.format = NAMED_PROPERTY_FORMATS[value] as Json;
      result.formatName = value;
    } else if (key === 'format' && value && typeof value === 'object' && !Array.isArray(value)) {
      const nested: Record<string, Json> = {};
      for (const [subKey, subValue] of Object.entries(value))
        nested[subKey] = compact(subValue, depth + 1);
      result.format = nested;
    } else if (key === 'properties' && value && typeof value === 'object') {
      const properties: Record<string, Json> = {};
      for (const [name, property] of Object.entries(value as Record<string, Json>)) {
        properties[name] = compact(property, depth + 1);
        const indexed = /^(.+)\[n\]$/.exec(name);
        if (indexed?.[1])
          (properties[name] as Record<string, Json>).indexMax = INDEXED_MAX[indexed[1]] ?? 31;
      }
      result.properties = properties;
    } else {
      result[key] = compact(value, depth + 1);
    }
  }
  return result;
}

/** Keeps a shallow view of the return type: its type and, for objects and lists, property types. */
function compactReturns(returns: Json): Json {
  if (!returns || typeof returns !== 'object' || Array.isArray(returns)) return null;
  const shallow = (schema: Json): Json => {
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) return null;
    const result: Record<string, Json> = {};
    if (schema.type !== undefined) result.type = schema.type;
    if (schema.optional) result.optional = 1;
    if (
      schema.properties &&
      typeof schema.properties === 'object' &&
      !Array.isArray(schema.properties)
    ) {
      const properties: Record<string, Json> = {};
      for (const [name, property] of Object.entries(schema.properties)) {
        const value = property as Record<string, Json>;
        properties[name] = {
          type: value?.type ?? 'any',
          ...(value?.optional ? { optional: 1 } : {}),
        };
      }
      result.properties = properties;
    }
    return result;
  };
  const result = shallow(returns) as Record<string, Json>;
  if (returns.items) result.items = shallow(returns.items);
  return result;
}

/** Keeps the permission check expression and the `user` shortcut ('all' / 'world'). */
function compactPermissions(permissions: Json): Json {
  if (!permissions || typeof permissions !== 'object' || Array.isArray(permissions)) return null;
  const result: Record<string, Json> = {};
  if (permissions.check !== undefined) result.check = permissions.check;
  if (permissions.user !== undefined) result.user = permissions.user;
  return result;
}

for (const version of ['8.4', '9.1'] as const) {
  const source = JSON.parse(
    readFileSync(join(sourceDir, `pve-api-methods-pve${version}.json`), 'utf8'),
  ) as Record<string, Record<string, Json>>;
  const endpoints: Record<string, Json> = {};
  for (const endpoint of SERVED_ENDPOINTS) {
    const method = source[endpoint];
    if (!method) throw new Error(`PVE ${version} schema has no ${endpoint}`);
    endpoints[endpoint] = {
      allowtoken: method.allowtoken ?? 1,
      ...(method.protected ? { protected: 1 } : {}),
      permissions: compactPermissions(method.permissions ?? null),
      parameters: compact(method.parameters ?? { properties: {} }),
      returns: compactReturns(method.returns ?? null),
    };
  }
  const output = {
    _source: `derived by scripts/derive-proxmox-schema.ts from pve-api-methods-pve${version}.json (official PVE API schema); do not edit`,
    version,
    endpoints,
  };
  writeFileSync(join(targetDir, `pve-${version}.json`), `${JSON.stringify(output)}\n`);
  console.log(`pve-${version}.json: ${Object.keys(endpoints).length} endpoints`);
}
