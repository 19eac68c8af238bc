/**
 * Full and linked clones of a libvirt domain, made from its INACTIVE definition and its storage
 * pool volumes. The driver reads the source with {@link readCloneSource} and calls
 * {@link cloneDomain}; {@link rewriteCloneXml} is the pure XML step, tested offline.
 *
 * Decisions (measured on the test bed, libvirt 9.0 / QEMU 7.2):
 * - **Only a shut-off source.** A running domain's qcow2 volume cannot be copied: libvirt's
 *   `qemu-img convert` fails with `Failed to get shared "write" lock / Is another process using
 *   the image`, and a raw volume would be copied without any lock, torn. So a source that is not
 *   `shut off` is refused before any I/O (ConflictError `invalid-power-state`).
 * - **Full clone** copies each disk volume with `vol-create-from` (same pool or the
 *   `placement.storage` pool), format kept. qcow2 targets get `<compat>1.1</compat>` (qcow2 v3):
 *   without it libvirt 9.0 writes `compat=0.10` (v2) — measured in the `qemu-img convert -o
 *   compat=0.10,…` command line libvirt runs for `vol-clone`. A qcow2 source with a backing file is
 *   flattened by the copy (the clone is independent).
 * - **Linked clone** only from a TEMPLATE (hvkit never starts templates, so the backing file never
 *   changes afterwards): each disk gets a new qcow2 overlay whose backing file is the template's
 *   volume (qcow2 or raw; both measured to work). Anything else is ConflictError `invalid-state`.
 * - **Not copied**: the NoCloud seed ISO hvkit made for the source (its cdrom is dropped; a clone
 *   sharing it would lose it when the source is deleted), the EFI NVRAM file (the `<nvram>` element
 *   is dropped, libvirt makes a fresh one from the firmware template, so EFI boot entries are not
 *   carried over), the serial log file (`<log>` is pointed at `serialLogPath` or dropped), hvkit's
 *   VM record (replaced by the clone's own). Other cdroms (installer ISOs) stay shared, read-only.
 * - **Thin stays thin**: copies are made with `<allocation>` 0, except a raw source allocated in
 *   full, copied thick. (Without `<allocation>` libvirt 9.0 preallocates the whole capacity.)
 * - **Progress**: the target's allocation (`vol-dumpxml`) polled while the copy runs grows with
 *   the data written (measured for qcow2: 47 MB, 170 MB, … 1055 MB every 0.5 s of a 10.5 s copy of
 *   1 GiB). A thick raw target is allocated in full at once (measured: 1 GiB allocated 0.5 s into
 *   a 10.7 s copy), so such a disk counts as done only when it is.
 * - **Cancellation** kills the remote virsh, but libvirtd keeps copying in its own thread: the
 *   new volume then refuses deletion (`Requested operation is not valid: volume '…' is still being
 *   allocated.`) until the copy ends, measured ~3 s after the kill for a 1 GiB qcow2. The clean-up
 *   retries the delete until it works (bounded by `cleanupTimeoutMs`), so an aborted clone returns
 *   only once nothing it made is left.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  ConflictError,
  InvalidSpecError,
  type Logger,
  NotFoundError,
  type ParsedInput,
  ProviderApiError,
  type SpecIssue,
} from '@hvkit/core';
import { listVolumes, parseVolumeXml, type VolumeDetails } from '../storage/storage.js';
import type { Virsh, VirshCommandResult } from '../virsh/virsh.js';
import { attributeOf, childOf, childrenOf, parseXml, type XmlElement } from '../xml/xml-reader.js';
import {
  element,
  field,
  renderXml,
  type XmlAttributeValue,
  type XmlChild,
  type XmlElementNode,
} from '../xml/xml-writer.js';
import { HVKIT_DISKS_NS, HVKIT_TAGS_NS, tagsMetadataElement } from './domain-xml.js';
import { HVKIT_VM_NS, type HvkitVmRecord, vmRecordElement } from './vm-metadata.js';

/** Clone options as the core hands them to the driver. */
export type CloneOptions = ParsedInput['cloneOptions'];

/** One disk of the source domain that is a storage pool volume. */
export interface CloneSourceDisk {
  /** Target dev (`vda`), the disk id. */
  readonly dev: string;
  /** The volume as `vol-dumpxml` describes it, with its pool. */
  readonly volume: VolumeDetails;
}

/** What {@link cloneDomain} needs of the source domain. */
export interface CloneSource {
  readonly uuid: string;
  readonly name: string;
  /** `dumpxml --inactive`: the persistent definition, not the live one. */
  readonly xml: string;
  /** First words of `domstate` (`shut off`, `running`, `paused`, …). */
  readonly state: string;
  /** Disks (`device='disk'` or `'lun'`) with a source, in document order. */
  readonly disks: readonly CloneSourceDisk[];
}

/** What the driver knows that the clone needs. */
export interface CloneContext {
  /** The source is a domain hvkit marked as template (needed for a linked clone). */
  sourceIsTemplate: boolean;
  /**
   * UUID of the new domain (the driver derives it from an idempotency key). When a domain with it
   * exists already, {@link cloneDomain} returns it (`existed: true`) and copies nothing.
   * Default: a random UUID.
   */
  uuid?: string | undefined;
  /** hvkit's record for the new domain. Default `{ template: false }`. */
  record?: HvkitVmRecord | undefined;
  /** Serial console log file of the new domain; default none (the source's `<log>` is dropped). */
  serialLogPath?: string | undefined;
  /** The libvirt host's name, checked against `placement.host` when given. */
  host?: string | undefined;
  /** How long the clean-up waits for libvirtd to finish a copy it cannot stop. Default 30 min. */
  cleanupTimeoutMs?: number | undefined;
  /** Poll interval of the copy progress. Default 1000 ms. */
  progressIntervalMs?: number | undefined;
  /** Told about what a failed clean-up left behind. */
  logger?: Logger | undefined;
  /** Provider instance name for errors. Default `libvirt`. */
  provider?: string | undefined;
}

/** Signal and progress of one {@link cloneDomain} call. */
export interface CloneRunOptions {
  signal?: AbortSignal | undefined;
  /**
   * Bytes copied so far and in all: the sum of the source volumes' capacities (virtual sizes; 0
   * for linked clones, which copy nothing). A qcow2 disk advances as its copy's allocation grows,
   * and counts in full when done (sparse data never reaches its capacity earlier); a raw disk
   * counts when done. Never decreasing.
   */
  onProgress?: ((bytesDone: number, bytesTotal: number) => void) | undefined;
}

/** What {@link cloneDomain} made (or found, for a known UUID). */
export interface CloneResult {
  readonly uuid: string;
  readonly name: string;
  /** A domain with `context.uuid` existed: nothing was done. */
  readonly existed: boolean;
  /** The new volumes, one per source disk in order (empty when `existed`). */
  readonly volumes: readonly VolumeDetails[];
  /** The clone was started (`powerOn`). */
  readonly started: boolean;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STILL_ALLOCATING = /still being allocated/;
const DEFAULT_CLEANUP_MS = 30 * 60_000;
const DEFAULT_PROGRESS_MS = 1000;

// ---- reading the source ------------------------------------------------------------------------

/** Paths a disk element names: `file`/`dev` sources, or `pool`+`volume`. */
type DiskSource =
  | { kind: 'path'; path: string }
  | { kind: 'volume'; pool: string; volume: string }
  | { kind: 'other'; type: string };

function diskSourceOf(disk: XmlElement): DiskSource | undefined {
  const type = attributeOf(disk, 'type') ?? 'file';
  const source = childOf(disk, 'source');
  if (source === undefined) return undefined;
  if (type === 'file' || type === 'block') {
    const path = attributeOf(source, type === 'file' ? 'file' : 'dev');
    return path === undefined ? undefined : { kind: 'path', path };
  }
  if (type === 'volume') {
    const pool = attributeOf(source, 'pool');
    const volume = attributeOf(source, 'volume');
    return pool === undefined || volume === undefined
      ? undefined
      : { kind: 'volume', pool, volume };
  }
  return { kind: 'other', type };
}

/** The `<disk>` elements that are disks (not cdroms or floppies). */
function diskElements(domain: XmlElement): XmlElement[] {
  return childrenOf(childOf(domain, 'devices'), 'disk').filter((disk) => {
    const device = attributeOf(disk, 'device') ?? 'disk';
    return device === 'disk' || device === 'lun';
  });
}

function stateConflict(message: string, provider: string): ConflictError {
  return new ConflictError('invalid-state', message, { provider });
}

function resultOrThrow(result: VirshCommandResult | undefined): string {
  if (result === undefined) throw new ProviderApiError('virsh returned fewer results than asked');
  if (!result.ok) throw result.error;
  return result.stdout;
}

/**
 * Reads what a clone needs of domain `id` (UUID or name): its inactive XML, its state and every
 * disk's volume, in two virsh processes.
 *
 * @throws NotFoundError (`vm`) when there is no such domain; ConflictError `invalid-state` when a
 *   disk is not a volume of a storage pool (network disks, files outside any pool).
 */
export async function readCloneSource(
  virsh: Virsh,
  id: string,
  options: { signal?: AbortSignal | undefined; provider?: string | undefined } = {},
): Promise<CloneSource> {
  const provider = options.provider ?? 'libvirt';
  const [dump, state] = await virsh.runMany(
    [
      ['dumpxml', '--inactive', '--', id],
      ['domstate', '--', id],
    ],
    { signal: options.signal, idempotent: true },
  );
  const xml = resultOrThrow(dump);
  const domain = parseXml(xml, { what: `dumpxml of ${JSON.stringify(id)}` });
  const uuid = childOf(domain, 'uuid')?.text.trim() ?? '';
  const name = childOf(domain, 'name')?.text ?? '';
  const disks: { dev: string; source: Exclude<DiskSource, { kind: 'other' }> }[] = [];
  for (const disk of diskElements(domain)) {
    const dev = attributeOf(childOf(disk, 'target'), 'dev') ?? '';
    const source = diskSourceOf(disk);
    if (source === undefined) continue;
    if (source.kind === 'other')
      throw stateConflict(
        `disk ${dev} of ${name} is a ${source.type} disk: hvkit clones only storage pool volumes`,
        provider,
      );
    disks.push({ dev, source });
  }
  // Per disk: the pool holding the path (`vol-pool` takes a path), and the volume's XML.
  const commands = disks.flatMap(({ source }) =>
    source.kind === 'path'
      ? [
          ['vol-pool', source.path],
          ['vol-dumpxml', source.path],
        ]
      : [
          ['echo', source.pool],
          ['vol-dumpxml', '--pool', source.pool, '--vol', source.volume],
        ],
  );
  const results =
    commands.length === 0
      ? []
      : await virsh.runMany(commands, { signal: options.signal, idempotent: true });
  const found: CloneSourceDisk[] = disks.map(({ dev, source }, index) => {
    const pool = results[index * 2];
    const volumeXml = results[index * 2 + 1];
    if (!pool?.ok || !volumeXml?.ok) {
      const error = !pool?.ok ? pool?.error : !volumeXml?.ok ? volumeXml?.error : undefined;
      if (error !== undefined && !NotFoundError.isInstance(error)) throw error;
      const where = source.kind === 'path' ? source.path : `${source.pool}/${source.volume}`;
      throw stateConflict(
        `disk ${dev} of ${name} (${where}) is not a volume of a libvirt storage pool: hvkit clones only pool volumes`,
        provider,
      );
    }
    return { dev, volume: parseVolumeXml(volumeXml.stdout, pool.stdout.trim()) };
  });
  return { uuid, name, xml, state: resultOrThrow(state).trim(), disks: found };
}

// ---- checks ------------------------------------------------------------------------------------

function issue(path: string, message: string, code = 'libvirt-unsupported'): SpecIssue {
  return { path, message, code };
}

/**
 * Checks clone options against what libvirt can do, without I/O: no snapshot source (linked
 * clones come from templates), no clusters/resource pools/folders, the host is this one, a name
 * libvirt accepts, a well-formed `context.uuid`.
 *
 * @throws InvalidSpecError naming every offending field.
 */
export function checkCloneOptions(options: CloneOptions, context: CloneContext): void {
  const issues: SpecIssue[] = [];
  if (options.name.includes('/'))
    issues.push(issue('name', "libvirt domain names cannot contain '/'", 'libvirt-name'));
  if (options.snapshotId !== undefined)
    issues.push(
      issue(
        'snapshotId',
        'libvirt clones the current disks; linked clones come from templates, not snapshots',
      ),
    );
  for (const key of ['cluster', 'resourcePool', 'folder'] as const) {
    if (options.placement?.[key] !== undefined)
      issues.push(issue(`placement.${key}`, `libvirt has no ${key}s`));
  }
  const host = options.placement?.host;
  if (host !== undefined && context.host !== undefined && host !== context.host)
    issues.push(issue('placement.host', `this provider manages ${context.host}`, 'libvirt-host'));
  if (context.uuid !== undefined && !UUID.test(context.uuid))
    issues.push(issue('uuid', 'must be a UUID', 'invalid_format'));
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'clone options' });
}

/** A libvirt MAC (QEMU's 52:54:00 prefix) with three random bytes, not one of `avoid`. */
export function randomLibvirtMac(avoid: ReadonlySet<string> = new Set()): string {
  for (;;) {
    const mac = [
      '52',
      '54',
      '00',
      ...[...randomBytes(3)].map((byte) => byte.toString(16).padStart(2, '0')),
    ].join(':');
    if (!avoid.has(mac)) return mac;
  }
}

/** `web 1` + UUID → `web-1-1a2b3c4d`: the driver's volume stem (a file name in any pool). */
export function cloneVolumeStem(name: string, uuid: string): string {
  const stem = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+/, '')
    .slice(0, 40);
  return `${stem === '' ? 'vm' : stem}-${uuid.slice(0, 8)}`;
}

// ---- the XML rewrite ---------------------------------------------------------------------------

/** What {@link rewriteCloneXml} puts in place of the source's values. */
export interface CloneXmlPlan {
  name: string;
  uuid: string;
  /** Target dev → the new volume (path, format, `file` or `block`). */
  volumes: ReadonlyMap<string, { path: string; format: string; type: string }>;
  /** One new MAC per `<interface>`, in document order. */
  macs: readonly string[];
  /** Replaces the source's description (`''` removes it); undefined keeps it. */
  description?: string | undefined;
  /** Replaces the source's hvkit tags; undefined keeps them. */
  tags?: Readonly<Record<string, string>> | undefined;
  /** hvkit's record of the new domain. */
  record: HvkitVmRecord;
  serialLogPath?: string | undefined;
}

/** A mutable copy of a read element, edited in place, then written through the xml-writer. */
interface Node {
  name: string;
  uri: string;
  attributes: Record<string, string>;
  children: (Node | XmlElementNode)[];
  text: string;
}

function copyTree(node: XmlElement): Node {
  return {
    name: node.name,
    uri: node.uri,
    attributes: { ...node.attributes },
    children: node.children.map(copyTree),
    text: node.text,
  };
}

function isNode(child: Node | XmlElementNode): child is Node {
  return !('kind' in child);
}

function nodes(parent: Node | undefined, name: string): Node[] {
  return (parent?.children ?? []).filter(
    (child): child is Node => isNode(child) && child.name === name && child.uri === '',
  );
}

function firstNode(parent: Node | undefined, name: string): Node | undefined {
  return nodes(parent, name)[0];
}

function removeWhere(parent: Node, drop: (child: Node) => boolean): void {
  parent.children = parent.children.filter((child) => !isNode(child) || !drop(child));
}

function leaf(name: string, text: string): Node {
  return { name, uri: '', attributes: {}, children: [], text };
}

const PREFIXES: Readonly<Record<string, string>> = {
  [HVKIT_TAGS_NS]: 'hvkit',
  [HVKIT_DISKS_NS]: 'hvkit-disks',
  [HVKIT_VM_NS]: 'hvkit-vm',
};

/**
 * Writes a node through the xml-writer (every value escaped). Namespaced elements (only inside
 * `<metadata>`) get a prefix and its declaration: the reader keeps URIs, not prefixes, and libvirt
 * matches metadata by URI. Another tool's metadata element the writer cannot carry faithfully
 * (a prefixed attribute whose namespace the reader dropped, a non-ASCII name, mixed content) is
 * left out rather than written wrong.
 */
function toWriter(node: Node, parentUri: string, prefixes: Map<string, string>): XmlElementNode {
  let prefix = '';
  const attributes: Record<string, XmlAttributeValue> = {};
  if (node.uri !== '') {
    prefix = prefixes.get(node.uri) ?? PREFIXES[node.uri] ?? `ns${prefixes.size + 1}`;
    prefixes.set(node.uri, prefix);
    if (node.uri !== parentUri) attributes[`xmlns:${prefix}`] = node.uri;
  }
  for (const [key, value] of Object.entries(node.attributes)) {
    if (key.includes(':') && !key.startsWith('xml:'))
      throw new TypeError(`attribute ${key} of <${node.name}> has an unknown namespace`);
    attributes[key] = value;
  }
  const children: XmlChild[] = [];
  for (const child of node.children) {
    if (!isNode(child)) {
      children.push(child);
      continue;
    }
    if (child.uri !== '' && child.uri !== node.uri && PREFIXES[child.uri] === undefined) {
      try {
        children.push(toWriter(child, node.uri, prefixes));
      } catch {
        // Another tool's metadata the writer cannot carry: left out (see above).
      }
      continue;
    }
    children.push(toWriter(child, node.uri, prefixes));
  }
  if (node.children.length > 0 && node.text.trim() !== '')
    throw new TypeError(`<${node.name}> mixes text and elements`);
  if (node.children.length === 0 && node.text !== '') children.push(node.text);
  return element(prefix === '' ? node.name : `${prefix}:${node.name}`, attributes, ...children);
}

function sourcePathOf(disk: Node): string | undefined {
  const source = firstNode(disk, 'source');
  return source?.attributes.file ?? source?.attributes.dev;
}

function rewriteDisks(devices: Node, plan: CloneXmlPlan, seed: string | undefined): void {
  removeWhere(devices, (child) => {
    if (child.name !== 'disk') return false;
    const device = child.attributes.device ?? 'disk';
    // hvkit's seed ISO belongs to the source: the clone would lose it with the source.
    return (
      device !== 'disk' && device !== 'lun' && seed !== undefined && sourcePathOf(child) === seed
    );
  });
  for (const disk of nodes(devices, 'disk')) {
    const dev = firstNode(disk, 'target')?.attributes.dev;
    const volume = dev === undefined ? undefined : plan.volumes.get(dev);
    if (volume === undefined) continue;
    const type = volume.type === 'block' ? 'block' : 'file';
    disk.attributes.type = type;
    const driver = firstNode(disk, 'driver');
    if (driver !== undefined) driver.attributes.type = volume.format;
    else
      disk.children.unshift({
        ...leaf('driver', ''),
        attributes: { name: 'qemu', type: volume.format },
      });
    const source: Node = {
      ...leaf('source', ''),
      attributes: type === 'block' ? { dev: volume.path } : { file: volume.path },
    };
    const at = disk.children.findIndex((child) => isNode(child) && child.name === 'source');
    if (at >= 0) disk.children[at] = source;
    else disk.children.push(source);
    // libvirt reads a linked clone's chain from the qcow2 header; the source's chain is not ours.
    removeWhere(disk, (child) => child.name === 'backingStore');
  }
}

function rewriteMetadata(domain: Node, plan: CloneXmlPlan): void {
  let metadata = firstNode(domain, 'metadata');
  if (metadata === undefined) {
    metadata = leaf('metadata', '');
    domain.children.push(metadata);
  }
  const drop = new Set([HVKIT_VM_NS, ...(plan.tags === undefined ? [] : [HVKIT_TAGS_NS])]);
  metadata.children = metadata.children.filter((child) => !isNode(child) || !drop.has(child.uri));
  metadata.children.unshift(vmRecordElement(plan.record));
  if (plan.tags !== undefined && Object.keys(plan.tags).length > 0)
    metadata.children.push(tagsMetadataElement(plan.tags));
}

function seedOf(domain: XmlElement): string | undefined {
  const record = childOf(childOf(domain, 'metadata'), 'vm', HVKIT_VM_NS);
  return attributeOf(record, 'seed');
}

/**
 * The clone's domain XML: the source's inactive XML with the new name and UUID, a new MAC on every
 * interface, each planned disk on its new volume (format, type and path; no `<backingStore>`),
 * hvkit's seed cdrom, `<nvram>` and the hvkit record dropped or replaced, `<genid>` emptied (libvirt
 * makes a new one), the serial log moved, tags and description as asked. Pure; every value goes
 * through the xml-writer.
 *
 * @throws InvalidSpecError for values XML cannot carry (named by their option path); TypeError
 *   when the plan has fewer MACs than interfaces.
 */
export function rewriteCloneXml(sourceXml: string, plan: CloneXmlPlan): string {
  const read = parseXml(sourceXml, { what: 'source domain XML' });
  const seed = seedOf(read);
  const domain = copyTree(read);
  const set = (name: string, value: string) => {
    const at = firstNode(domain, name);
    if (at !== undefined) at.text = value;
    else domain.children.splice(1, 0, leaf(name, value));
  };
  set('name', plan.name);
  set('uuid', plan.uuid);
  if (plan.description === '') removeWhere(domain, (child) => child.name === 'description');
  else if (plan.description !== undefined) set('description', plan.description);
  const genid = firstNode(domain, 'genid');
  if (genid !== undefined) genid.text = '';
  const os = firstNode(domain, 'os');
  if (os !== undefined) removeWhere(os, (child) => child.name === 'nvram');
  rewriteMetadata(domain, plan);

  const devices = firstNode(domain, 'devices');
  if (devices !== undefined) {
    rewriteDisks(devices, plan, seed);
    const interfaces = nodes(devices, 'interface');
    if (plan.macs.length < interfaces.length)
      throw new TypeError(`${interfaces.length} interfaces, ${plan.macs.length} MACs planned`);
    interfaces.forEach((nic, index) => {
      removeWhere(nic, (child) => child.name === 'mac');
      nic.children.unshift({ ...leaf('mac', ''), attributes: { address: plan.macs[index] ?? '' } });
    });
    for (const console of [...nodes(devices, 'serial'), ...nodes(devices, 'console')]) {
      const log = firstNode(console, 'log');
      if (log === undefined) continue;
      if (plan.serialLogPath === undefined) removeWhere(console, (child) => child === log);
      else log.attributes.file = plan.serialLogPath;
    }
  }
  // Values from the options are written with their option path, for errors.
  const named = toWriterNamed(domain, plan);
  return renderXml(named, { subject: 'clone options' });
}

/** {@link toWriter} for the root, with the option-sourced values tagged with their path. */
function toWriterNamed(domain: Node, plan: CloneXmlPlan): XmlElementNode {
  const root = toWriter(domain, '', new Map());
  const tag = (name: string, value: string | undefined, path: string) =>
    value === undefined ? undefined : element(name, {}, field(value, path));
  const replacements = new Map<string, XmlElementNode | undefined>([
    ['name', tag('name', plan.name, 'name')],
    ['description', tag('description', plan.description, 'description')],
  ]);
  return {
    ...root,
    children: root.children.map((child) =>
      child.kind === 'element' && replacements.get(child.name) !== undefined
        ? (replacements.get(child.name) as XmlElementNode)
        : child,
    ),
  };
}

// ---- the clone ---------------------------------------------------------------------------------

/** The `<volume>` document of one target volume (`vol-create-from` copy or linked overlay). */
export function cloneVolumeXml(target: {
  name: string;
  capacityBytes: number;
  /**
   * Bytes to allocate up front: 0 keeps the copy thin, the capacity makes it thick. Always written:
   * without `<allocation>` libvirt 9.0 allocates the whole capacity (measured: `vol-create-from` of
   * a thin 256 MiB raw volume made one with 268435456 bytes allocated; with 0, none).
   */
  allocationBytes?: number | undefined;
  format: string;
  backing?: { path: string; format: string } | undefined;
}): string {
  return renderXml(
    element(
      'volume',
      {},
      element('name', {}, field(target.name, 'name')),
      element('capacity', { unit: 'bytes' }, String(target.capacityBytes)),
      element(
        'allocation',
        { unit: 'bytes' },
        String(target.backing === undefined ? (target.allocationBytes ?? 0) : 0),
      ),
      element(
        'target',
        {},
        element('format', { type: target.format }),
        // qcow2 v3: libvirt 9.0 writes v2 (compat=0.10) without it.
        target.format === 'qcow2' && element('compat', {}, '1.1'),
      ),
      target.backing !== undefined &&
        element(
          'backingStore',
          {},
          element('path', {}, field(target.backing.path, 'backing.path')),
          element('format', { type: target.backing.format }),
        ),
    ),
    { subject: 'volume' },
  );
}

/** One volume to make. */
interface TargetVolume {
  dev: string;
  source: VolumeDetails;
  pool: string;
  name: string;
  format: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `list --all --uuid` and `--name` in one virsh: which of `uuid` and `name` are taken. */
async function taken(
  virsh: Virsh,
  uuid: string,
  name: string,
  signal: AbortSignal | undefined,
): Promise<{ uuid: boolean; name: boolean }> {
  const [uuids, names] = await virsh.runMany(
    [
      ['list', '--all', '--uuid'],
      ['list', '--all', '--name'],
    ],
    { signal, idempotent: true },
  );
  const lines = (text: string) => text.split('\n').map((line) => line.trim());
  return {
    uuid: lines(resultOrThrow(uuids)).includes(uuid.toLowerCase()),
    // Names are exact: `domuuid <name>` would take a numeric name for a domain id.
    name: resultOrThrow(names).split('\n').includes(name),
  };
}

/** Fails when any target volume name is taken: the clean-up must only ever delete its own. */
async function checkTargetsFree(
  virsh: Virsh,
  targets: readonly TargetVolume[],
  signal: AbortSignal | undefined,
  provider: string,
): Promise<void> {
  if (targets.length === 0) return;
  const results = await virsh.runMany(
    targets.map((target) => ['vol-info', '--pool', target.pool, '--vol', target.name]),
    { signal, idempotent: true },
  );
  targets.forEach((target, index) => {
    const result = results[index];
    if (result?.ok)
      throw new ConflictError(
        'already-exists',
        `storage volume ${target.name} exists already in pool ${target.pool}`,
        { provider },
      );
    if (result !== undefined && !NotFoundError.isInstance(result.error)) throw result.error;
  });
}

/** Polls the allocation of `target` and reports it, until `stop` is called. */
function pollProgress(
  virsh: Virsh,
  target: { pool: string; name: string },
  interval: number,
  report: (bytes: number) => void,
): () => Promise<void> {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await sleep(interval);
      if (stopped) break;
      try {
        const xml = await virsh.run(['vol-dumpxml', '--pool', target.pool, '--vol', target.name], {
          idempotent: true,
        });
        if (!stopped) report(parseVolumeXml(xml, target.pool).allocationBytes);
      } catch {
        // Not there yet, or gone: progress is best effort.
      }
    }
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}

/**
 * Deletes a volume the caller made, waiting while libvirtd still copies into it (an aborted
 * `vol-create-from`/`vol-clone` goes on in libvirtd; see the module comment) until `deadline`
 * (epoch ms). A volume not found is looked for once more a second later (a request in flight when
 * virsh was killed may still create it). Returns false when the volume could not be deleted.
 * Use it wherever an aborted copy is cleaned up: a plain `vol-delete` fails while the copy runs.
 */
export async function deleteVolumeWhenFree(
  virsh: Virsh,
  pool: string,
  name: string,
  deadline: number,
): Promise<boolean> {
  let confirmedGone = false;
  for (;;) {
    try {
      await virsh.run(['vol-delete', '--pool', pool, '--vol', name]);
      return true;
    } catch (error) {
      if (NotFoundError.isInstance(error)) {
        // A copy whose request was still in flight when virsh was killed may appear a moment
        // later: look once more before calling it gone.
        if (confirmedGone) return true;
        confirmedGone = true;
      } else if (!(ConflictError.isInstance(error) && STILL_ALLOCATING.test(error.message))) {
        return false;
      }
    }
    if (Date.now() > deadline) return false;
    await sleep(1000);
  }
}

/** Everything a clone made so far, undone on failure. */
class Undo {
  readonly volumes: TargetVolume[] = [];
  defineTried = false;

  constructor(
    private readonly virsh: Virsh,
    private readonly uuid: string,
    private readonly context: CloneContext,
  ) {}

  /** Removes the domain (if a define was tried) and every volume; never throws. */
  async run(): Promise<void> {
    const left: string[] = [];
    if (this.defineTried) {
      await this.virsh.run(['destroy', '--', this.uuid]).catch(() => undefined);
      try {
        await this.virsh.run(['undefine', '--nvram', '--', this.uuid]);
      } catch (error) {
        if (!NotFoundError.isInstance(error)) left.push(`domain ${this.uuid}`);
      }
    }
    const deadline = Date.now() + (this.context.cleanupTimeoutMs ?? DEFAULT_CLEANUP_MS);
    for (const volume of this.volumes) {
      if (!(await deleteVolumeWhenFree(this.virsh, volume.pool, volume.name, deadline)))
        left.push(`volume ${volume.pool}/${volume.name}`);
    }
    if (left.length > 0)
      this.context.logger?.warn('libvirt clone: clean-up after a failed clone left objects', {
        left,
      });
  }
}

/** The volumes to make, one per source disk, named after the clone. */
function planTargets(
  source: CloneSource,
  options: CloneOptions,
  uuid: string,
  linked: boolean,
): TargetVolume[] {
  const stem = cloneVolumeStem(options.name, uuid);
  return source.disks.map((disk, index) => {
    const format = linked ? 'qcow2' : (disk.volume.format ?? 'raw');
    const extension = format === 'qcow2' || format === 'raw' ? format : 'img';
    return {
      dev: disk.dev,
      source: disk.volume,
      pool: options.placement?.storage ?? disk.volume.pool,
      name: `${stem}-disk${index}.${extension}`,
      format,
    };
  });
}

/**
 * Why `source` cannot be cloned in `mode`, as the ConflictError {@link cloneDomain} would throw, or
 * undefined when it can. Pure: the driver's `can()` uses its message as the reason.
 * - linked, and not a template → `invalid-state` (libvirt linked clones come from templates only);
 * - linked, a disk neither qcow2 nor raw → `invalid-state`;
 * - not `shut off` → `invalid-power-state`.
 */
export function cloneConflict(
  source: Pick<CloneSource, 'name' | 'state' | 'disks'>,
  mode: CloneOptions['mode'],
  sourceIsTemplate: boolean,
  provider = 'libvirt',
): ConflictError | undefined {
  if (mode === 'linked') {
    if (!sourceIsTemplate)
      return stateConflict(
        `${source.name} is not a template: libvirt linked clones are made from templates only (a qcow2 backing file must never change, and only templates are never started); mark it as a template or make a full clone`,
        provider,
      );
    for (const disk of source.disks) {
      const format = disk.volume.format;
      if (format !== 'qcow2' && format !== 'raw')
        return stateConflict(
          `disk ${disk.dev} of ${source.name} is ${format ?? 'of unknown format'}: a linked clone needs qcow2 or raw template volumes`,
          provider,
        );
    }
  }
  if (source.state !== 'shut off')
    return new ConflictError(
      'invalid-power-state',
      `${source.name} is ${source.state}: libvirt copies the disks of a shut-off domain only (a running domain's qcow2 volumes are locked by QEMU, raw ones would be copied torn); stop it first`,
      { provider },
    );
  return undefined;
}

/**
 * Volumes in every active pool whose backing file is one of `paths`: the linked clones' disks of a
 * template whose volumes are at `paths`. The driver refuses to delete (or unmark) a template while
 * this is not empty (ConflictError `in-use`): deleting a backing file breaks every overlay on it,
 * and libvirt does not stop a `vol-delete` of one (measured on the bed: a dir pool deletes a base
 * with an overlay on it without complaint). One virsh process for the pool list, two per pool.
 */
export async function findOverlays(
  virsh: Virsh,
  paths: readonly string[],
): Promise<VolumeDetails[]> {
  if (paths.length === 0) return [];
  const wanted = new Set(paths);
  // `pool-list --name` pads names with spaces on libvirt 9.0 (see storage.ts): trimmed.
  const pools = (await virsh.run(['pool-list', '--name'], { idempotent: true }))
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const found: VolumeDetails[] = [];
  for (const pool of pools) {
    for (const volume of await listVolumes(virsh, pool)) {
      if (volume.backingStore !== undefined && wanted.has(volume.backingStore.path))
        found.push(volume);
    }
  }
  return found;
}

/** Options of {@link copyVolume}. */
export interface CopyVolumeOptions {
  signal?: AbortSignal | undefined;
  /** Bytes of the copy so far (its allocation, qcow2 targets only; see the module comment). */
  onProgress?: ((bytes: number) => void) | undefined;
  /** Poll interval of the progress. Default 1000 ms. */
  progressIntervalMs?: number | undefined;
  /** How long a failed copy's clean-up waits for libvirtd to let go. Default 30 min. */
  cleanupTimeoutMs?: number | undefined;
}

/**
 * Copies `source` into a new volume `target.name` in `target.pool` (any pool: `vol-create-from`),
 * as `target.format` (default the source's; qcow2 written as v3). A qcow2 source's backing chain
 * is flattened. When the copy fails or `signal` aborts, the new volume is deleted, waiting while
 * libvirtd still copies into it (it cannot be stopped): the call ends only once nothing is left,
 * except when the failure is that the name was taken (that volume is someone else's).
 *
 * @throws ConflictError `already-exists` for a taken name; NotFoundError `storage` for a missing
 *   pool; the abort reason.
 */
export async function copyVolume(
  virsh: Virsh,
  source: VolumeDetails,
  target: { pool: string; name: string; format?: string | undefined },
  options: CopyVolumeOptions = {},
): Promise<VolumeDetails> {
  const format = target.format ?? source.format ?? 'raw';
  // A thick raw volume (allocation at least the capacity) stays thick; everything else is copied
  // thin. A qcow2 volume's allocation counts its data and metadata, so "full" is not telling: a
  // preallocated qcow2 source gives a thin copy.
  const thick = format === 'raw' && source.allocationBytes >= source.capacityBytes;
  const xml = cloneVolumeXml({
    name: target.name,
    capacityBytes: source.capacityBytes,
    allocationBytes: thick ? source.capacityBytes : 0,
    format,
  });
  const args = ['vol-create-from', '--pool', target.pool, '--file', '/dev/stdin'];
  args.push('--inputpool', source.pool, '--vol', source.name);
  const onProgress = options.onProgress;
  // A thick target is allocated in full at once: its allocation says nothing of the copy.
  const stop =
    thick || onProgress === undefined
      ? async () => {}
      : pollProgress(virsh, target, options.progressIntervalMs ?? DEFAULT_PROGRESS_MS, (bytes) =>
          onProgress(Math.min(bytes, source.capacityBytes)),
        );
  try {
    await virsh.run(args, { stdin: xml, signal: options.signal });
  } catch (error) {
    // No progress past a failure: the poller ends before the clean-up waits on libvirtd.
    await stop();
    // A taken name is someone else's volume: never delete it.
    if (!(ConflictError.isInstance(error) && error.reason === 'already-exists')) {
      const deadline = Date.now() + (options.cleanupTimeoutMs ?? DEFAULT_CLEANUP_MS);
      await deleteVolumeWhenFree(virsh, target.pool, target.name, deadline);
    }
    throw error;
  }
  await stop();
  return parseVolumeXml(
    await virsh.run(['vol-dumpxml', '--pool', target.pool, '--vol', target.name], {
      idempotent: true,
    }),
    target.pool,
  );
}

/**
 * A new qcow2 volume whose backing file is `base` (qcow2 or raw), with `base`'s capacity: a
 * linked clone's disk. Only a base that never changes afterwards may back it (a template's).
 *
 * @throws ConflictError `already-exists` for a taken name.
 */
export async function createOverlayVolume(
  virsh: Virsh,
  base: VolumeDetails,
  target: { pool: string; name: string },
  options: { signal?: AbortSignal | undefined } = {},
): Promise<VolumeDetails> {
  const xml = cloneVolumeXml({
    name: target.name,
    capacityBytes: base.capacityBytes,
    format: 'qcow2',
    backing: { path: base.path, format: base.format ?? 'raw' },
  });
  try {
    await virsh.run(['vol-create', '--pool', target.pool, '--file', '/dev/stdin'], {
      stdin: xml,
      signal: options.signal,
    });
  } catch (error) {
    // Killed mid-call (abort, lost connection): the overlay may exist. A metadata-only create.
    if (!(ConflictError.isInstance(error) && error.reason === 'already-exists'))
      await deleteVolumeWhenFree(virsh, target.pool, target.name, Date.now() + 60_000);
    throw error;
  }
  return parseVolumeXml(
    await virsh.run(['vol-dumpxml', '--pool', target.pool, '--vol', target.name], {
      idempotent: true,
    }),
    target.pool,
  );
}

async function makeVolumes(
  virsh: Virsh,
  targets: readonly TargetVolume[],
  linked: boolean,
  undo: Undo,
  context: CloneContext,
  run: CloneRunOptions,
): Promise<VolumeDetails[]> {
  const total = linked ? 0 : targets.reduce((sum, target) => sum + target.source.capacityBytes, 0);
  let done = 0;
  let reported = -1;
  const report = (bytes: number) => {
    if (bytes <= reported) return;
    reported = bytes;
    run.onProgress?.(bytes, total);
  };
  report(0);
  const made: VolumeDetails[] = [];
  for (const target of targets) {
    run.signal?.throwIfAborted();
    // Each call removes its own volume when it fails; the undo removes the finished ones.
    const volume = linked
      ? await createOverlayVolume(virsh, target.source, target, { signal: run.signal })
      : await copyVolume(virsh, target.source, target, {
          signal: run.signal,
          onProgress: run.onProgress === undefined ? undefined : (bytes) => report(done + bytes),
          progressIntervalMs: context.progressIntervalMs,
          cleanupTimeoutMs: context.cleanupTimeoutMs,
        });
    undo.volumes.push(target);
    made.push(volume);
    done += linked ? 0 : target.source.capacityBytes;
    report(done);
  }
  return made;
}

/**
 * Clones `source` into a new domain named `options.name`: a full copy of every disk volume, or
 * for `mode: 'linked'` (templates only) a qcow2 overlay on each. The definition is the source's
 * with a new UUID and MACs (see {@link rewriteCloneXml}); the clone is left shut off unless
 * `options.powerOn`. Whatever fails (or `run.signal` aborts), every volume made so far is deleted
 * and a defined domain undefined before the error is thrown.
 *
 * @param source From {@link readCloneSource}.
 * @throws InvalidSpecError (see {@link checkCloneOptions}); ConflictError `already-exists` for a
 *   taken name or volume name, `invalid-power-state` for a source that is not shut off,
 *   `invalid-state` for a linked clone of a non-template; NotFoundError (`storage`) for a missing
 *   `placement.storage` pool; the abort reason when `run.signal` aborts.
 */
export async function cloneDomain(
  virsh: Virsh,
  source: CloneSource,
  options: CloneOptions,
  context: CloneContext,
  run: CloneRunOptions = {},
): Promise<CloneResult> {
  checkCloneOptions(options, context);
  const provider = context.provider ?? 'libvirt';
  const uuid = (context.uuid ?? randomUUID()).toLowerCase();
  const linked = options.mode === 'linked';
  const targets = planTargets(source, options, uuid, linked);
  const interfaces = childrenOf(childOf(parseXml(source.xml), 'devices'), 'interface');
  // New MACs differ from the source's and from each other.
  const usedMacs = new Set(
    interfaces.map((nic) => (attributeOf(childOf(nic, 'mac'), 'address') ?? '').toLowerCase()),
  );
  const macs = interfaces.map(() => {
    const mac = randomLibvirtMac(usedMacs);
    usedMacs.add(mac);
    return mac;
  });
  const plan: CloneXmlPlan = {
    name: options.name,
    uuid,
    volumes: new Map(),
    macs,
    description: options.description,
    tags: options.tags,
    record: context.record ?? { template: false },
    serialLogPath: context.serialLogPath,
  };
  // A dry run with placeholder paths: bad values fail here, before any I/O.
  rewriteCloneXml(source.xml, {
    ...plan,
    volumes: new Map(
      targets.map((target) => [target.dev, { path: '/x', format: target.format, type: 'file' }]),
    ),
  });

  const exists = await taken(virsh, uuid, options.name, run.signal);
  if (exists.uuid) return { uuid, name: options.name, existed: true, volumes: [], started: false };
  if (exists.name)
    throw new ConflictError(
      'already-exists',
      `a domain named ${JSON.stringify(options.name)} exists`,
      {
        provider,
      },
    );
  const conflict = cloneConflict(source, options.mode, context.sourceIsTemplate, provider);
  if (conflict !== undefined) throw conflict;
  await checkTargetsFree(virsh, targets, run.signal, provider);

  const undo = new Undo(virsh, uuid, context);
  try {
    const volumes = await makeVolumes(virsh, targets, linked, undo, context, run);
    const unusable = volumes.find((volume) => volume.type !== 'file' && volume.type !== 'block');
    if (unusable !== undefined)
      throw stateConflict(
        `pool ${unusable.pool} holds ${unusable.type} volumes: a clone's disks must be file or block volumes`,
        provider,
      );
    const xml = rewriteCloneXml(source.xml, {
      ...plan,
      volumes: new Map(
        targets.map((target, index) => {
          const volume = volumes[index] as VolumeDetails;
          return [target.dev, { path: volume.path, format: target.format, type: volume.type }];
        }),
      ),
    });
    run.signal?.throwIfAborted();
    undo.defineTried = true;
    await virsh.run(['define', '--file', '/dev/stdin', '--validate'], {
      stdin: xml,
      signal: run.signal,
    });
    if (options.powerOn) await virsh.run(['start', '--', uuid], { signal: run.signal });
    return { uuid, name: options.name, existed: false, volumes, started: options.powerOn === true };
  } catch (error) {
    await undo.run();
    throw error;
  }
}
