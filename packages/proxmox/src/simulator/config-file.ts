import { createHash } from 'node:crypto';
import type { ParameterSchema } from './schema.js';
import { lookupProperty } from './schema.js';

/** Config keys holding a disk (qemu-server `is_valid_drivename` plus unusedN). */
export const DISK_KEY =
  /^(ide[0-3]|sata[0-5]|scsi([12]?[0-9]|30)|virtio(1[0-5]|[0-9])|efidisk0|tpmstate0)$/;
export const UNUSED_KEY = /^unused\d+$/;
export const NET_KEY = /^net\d+$/;

/** A snapshot section of a VM config. */
export interface SnapshotSection {
  config: Record<string, string>;
}

/** The parts of a qemu-server config file. */
export interface ConfigFile {
  config: Record<string, string>;
  pending: Record<string, string>;
  /** Keys deleted in pending; `true` = forced (`!key`). */
  pendingDelete: Map<string, boolean>;
  snapshots: Map<string, SnapshotSection>;
}

function renderSection(config: Record<string, string>): string {
  let text = '';
  const description = config.description;
  if (description !== undefined) {
    for (const line of description.split('\n'))
      text += `#${encodeURIComponent(line).replace(/%20/g, ' ')}\n`;
  }
  for (const key of Object.keys(config).sort()) {
    if (key === 'description') continue;
    text += `${key}: ${config[key]}\n`;
  }
  return text;
}

/** Renders the file as PVE::QemuServer::write_vm_config does (sorted keys, sections). */
export function renderConfigFile(file: ConfigFile): string {
  let text = renderSection(file.config);
  if (Object.keys(file.pending).length > 0 || file.pendingDelete.size > 0) {
    const pending = { ...file.pending };
    if (file.pendingDelete.size > 0) {
      pending.delete = [...file.pendingDelete]
        .map(([key, force]) => (force ? `!${key}` : key))
        .join(',');
    }
    text += `\n[PENDING]\n${renderSection(pending)}`;
  }
  for (const name of [...file.snapshots.keys()].sort()) {
    text += `\n[${name}]\n${renderSection((file.snapshots.get(name) as SnapshotSection).config)}`;
  }
  return text;
}

/** SHA-1 hex of the config file text: the `digest` of GET /config. */
export function configDigest(file: ConfigFile): string {
  return createHash('sha1').update(renderConfigFile(file)).digest('hex');
}

/**
 * Types a config value for JSON as PVE::QemuServer::check_type does: booleans and integers
 * become numbers, `number` keys (cpulimit) and all strings stay strings.
 */
export function typeConfigValue(
  properties: Record<string, ParameterSchema>,
  key: string,
  value: string,
): string | number {
  if (key === 'snaptime' && /^\d+$/.test(value)) return Number(value);
  const schema = lookupProperty(properties, key);
  if ((schema?.type === 'integer' || schema?.type === 'boolean') && /^-?\d+$/.test(value)) {
    return Number(value);
  }
  return value;
}

/** Bytes → PVE::JSONSchema::format_size (largest exact unit of K/M/G/T). */
export function formatSize(bytes: number): string {
  const units = ['T', 'G', 'M', 'K'] as const;
  const factors = [1024 ** 4, 1024 ** 3, 1024 ** 2, 1024];
  for (let index = 0; index < units.length; index++) {
    const factor = factors[index] as number;
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${units[index]}`;
  }
  if (bytes % 1024 === 0) return `${bytes / 1024}K`;
  return `${Math.ceil(bytes / 1024)}K`;
}

/** `32G`, `+1.5G`, `1024` (bytes) → bytes (PVE::JSONSchema::parse_size, binary units). */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(text);
  if (!match) throw new Error(`unable to parse size '${text}'`);
  const factor = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[match[2] ?? ''] ?? 1;
  return Math.round(Number(match[1]) * factor);
}
