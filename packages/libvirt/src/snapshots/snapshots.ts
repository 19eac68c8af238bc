/**
 * Snapshots of libvirt domains through virsh: the tree (`listSnapshots`), internal qcow2
 * snapshots (`createSnapshot`), revert and delete, and what deleting a domain must also remove
 * (`snapshotCleanupPlan`). A snapshot's id is its name: libvirt's key within a domain.
 *
 * Only INTERNAL snapshots are created here (disk state, and memory state for a running domain, all
 * kept inside the qcow2 images): libvirt 9.0 can revert only those ("revert to external snapshot
 * not supported yet"). What libvirt 9.0 + QEMU 7.2 does, measured on the test bed:
 * - shut-off domain: internal disk snapshot; with `<memory snapshot='internal'/>` refused
 *   (`XML error: memory state cannot be saved with offline or disk-only snapshot`);
 * - running (or paused) domain: only with memory (QEMU `savevm`); `<memory snapshot='no'/>` is
 *   refused (`Operation not supported: internal snapshot of a running VM must include the memory
 *   state`), with or without an explicit `<disks>` list. There is no internal disk-only snapshot of
 *   a running domain, so `memory: false` on a running domain is a ConflictError here;
 * - quiesce: libvirt quiesces (through the guest agent) only for external disk-only snapshots
 *   (`Flag 'VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY' is required by flag
 *   'VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE'`), and a memory snapshot has nothing to quiesce: refused
 *   with UnsupportedCapabilityError (`snapshots.quiesce`) before any call;
 * - a raw disk: `unsupported configuration: internal snapshot for disk vda unsupported for storage
 *   type raw` (ConflictError invalid-state); a read-only raw cdrom (the seed ISO) is left out by
 *   libvirt itself (`<disk name='sda' snapshot='no'/>`) and the snapshot works, off and running;
 * - a direct-kernel-boot domain snapshots and reverts like any other (kernel/initrd are files
 *   outside the snapshot);
 * - a duplicate name: `operation failed: domain moment s1 already exists` (ConflictError
 *   already-exists); a name with `/`: `invalid snapshot name 'a/b': name can't contain '/'`
 *   (refused here before any call).
 * - reverting needed no `--force` in what was tried: a running snapshot reverted from a running
 *   domain whose persistent vCPU count was changed, or with a disk hot-plugged after the snapshot
 *   (libvirt restores the snapshot's definition: the later disk is gone from the domain);
 * - snapshots made outside hvkit: an external leaf (`snapshot-create-as --disk-only`) of a domain
 *   without internal ones is deleted by libvirt 9.0 (it merges the overlay and removes its file);
 *   an external one under an internal parent is refused (`Operation not supported: deleting
 *   external snapshot that has internal snapshot as parent not supported`), and so is a subtree
 *   mixing both (`unsupported configuration: deletion of external and internal children disk
 *   snapshots not supported`): ConflictError invalid-state;
 * - a domain in managed save (hvkit's `suspended`) takes a disk-only snapshot like a stopped one
 *   (state `shutoff`); see `revertSnapshot` for reverting over a managed-save image;
 * - a running domain with pflash (UEFI) firmware: libvirt 9.0's qemu_snapshot.c refuses internal
 *   snapshots of it (`Operation not supported: internal snapshots of a VM with pflash based
 *   firmware are not supported`); a stopped one works. NOT measured: the bed has no OVMF (an
 *   `<os firmware='efi'>` domain defines and snapshots while off, it cannot start).
 * Timings on the bed (TCG, 2 cores shared with other test runs), 256 MiB direct-kernel-boot guest:
 * memory snapshot 0.4–1.4 s (0.6 s with ~100 MiB of random data in guest RAM; the qcow2's
 * allocation grew to 162 MiB on a 32 MiB disk), revert 1–10 s (running → running 3–6.5 s, shut
 * off → running 1.1–10 s); a 64 MiB SeaBIOS domain: snapshot ~0.3 s, revert ~0.8 s; shut-off
 * snapshots ~0.5 s.
 */
import {
  ConflictError,
  IdentifierSchema,
  InvalidSpecError,
  NotFoundError,
  type PowerState,
  ProviderApiError,
  type Snapshot,
  type SnapshotOptions,
  SnapshotOptionsSchema,
  type SnapshotTree,
  UnsupportedCapabilityError,
  type Vm,
} from '@hvkit/core';
import type { Virsh, VirshCommandResult } from '../virsh/virsh.js';
import { parseDomInfo, parseNameList } from '../virsh/virsh-parse.js';
import {
  attributeOf,
  childOf,
  childrenOf,
  parseXml,
  textOf,
  type XmlElement,
} from '../xml/xml-reader.js';
import { element, field, renderXml } from '../xml/xml-writer.js';

/** Options of every call of this module. */
export interface SnapshotCallOptions {
  /** Stops the call (the remote virsh gets SIGTERM). */
  signal?: AbortSignal | undefined;
  /** Deadline of each virsh call. Default none: a memory revert under TCG takes ~10 s. */
  timeoutMs?: number | undefined;
}

/** How one disk takes part in a snapshot (`<disks><disk snapshot=…>` of snapshot-dumpxml). */
export interface SnapshotDisk {
  /** Target dev, e.g. `vda`. */
  readonly name: string;
  /** `internal`, `external`, `no` or `manual`. */
  readonly snapshot: string;
  /** For an external snapshot: the overlay file libvirt created at that moment. */
  readonly file: string | undefined;
}

/** One snapshot as `snapshot-dumpxml` describes it, before it is placed in a tree. */
export interface SnapshotRecord {
  readonly name: string;
  readonly description: string | undefined;
  /** ISO 8601 from `<creationTime>` (seconds since the epoch). */
  readonly createdAt: string;
  /** `<memory snapshot>` is `internal` or `external`. */
  readonly memory: boolean;
  /** libvirt's `<state>` (`running`, `paused`, `shutoff`, `disk-snapshot`, …). */
  readonly state: string;
  readonly powerState: PowerState;
  readonly parent: string | undefined;
  /** True when any disk (or the memory) is kept outside the images: libvirt 9.0 cannot revert it. */
  readonly external: boolean;
  readonly disks: readonly SnapshotDisk[];
  /** The domain's file-backed disks when the snapshot was taken (its `<domain>` copy). */
  readonly domainDisks: readonly { readonly target: string; readonly file: string }[];
}

// ---- errors ----------------------------------------------------------------------------------

// Texts of libvirt 9.0 recorded on the bed (see the module comment and __fixtures__/err-*.txt).
const OFFLINE_MEMORY = /memory state cannot be saved with offline or disk-only snapshot/;
const RUNNING_WITHOUT_MEMORY = /internal snapshot of a running VM must include the memory state/;
const UNSUPPORTED_FORMAT = /internal snapshot for disk (\S+) unsupported for storage type (\S+)/;
const REVERT_EXTERNAL = /revert to external snapshot not supported yet/;
const EXTERNAL_DELETE =
  /deleting external snapshot that has internal snapshot as parent not supported|deletion of external and internal children disk snapshots not supported/;
const NO_CURRENT = /has no current snapshot/;
// From libvirt 9.0's source (qemu_snapshot.c), not seen on the bed (no OVMF there).
const PFLASH_RUNNING = /internal snapshots of a VM with pflash based firmware are not supported/;
// libvirt's job lock (VIR_ERR_OPERATION_TIMEOUT after 30 s waiting behind another job on the
// domain, e.g. a long revert): nothing was done, retry later. From libvirt's source; not seen on
// the bed.
const JOB_LOCK = /cannot acquire state change lock/;

/**
 * Re-maps the errors of snapshot calls that `mapVirshError` leaves generic (a ProviderApiError,
 * or a plain invalid-state conflict) to the precise core error; others pass through.
 */
function remapSnapshotError(error: unknown, domain: string): unknown {
  // Only generic errors: a precise one stays, even when its text (which quotes the snapshot name)
  // happens to contain one of the phrases below.
  const generic =
    ProviderApiError.isInstance(error) ||
    (ConflictError.isInstance(error) && error.reason === 'invalid-state');
  if (!generic) return error;
  const text = error.message;
  // Only the command name: the old details may hold a `reason` that would override the new one.
  const options = {
    provider: error.provider,
    cause: error,
    details: { command: error.details.command },
  };
  if (OFFLINE_MEMORY.test(text)) {
    return new ConflictError(
      'invalid-power-state',
      `domain ${JSON.stringify(domain)} is not running: a snapshot with memory needs a running VM (${text})`,
      options,
    );
  }
  if (RUNNING_WITHOUT_MEMORY.test(text)) {
    return new ConflictError(
      'invalid-power-state',
      `domain ${JSON.stringify(domain)} is running: libvirt takes an internal snapshot of a running VM only with its memory; pass memory: true or power the VM off first (${text})`,
      options,
    );
  }
  if (PFLASH_RUNNING.test(text)) {
    return new ConflictError(
      'invalid-power-state',
      `domain ${JSON.stringify(domain)} runs UEFI (pflash) firmware: libvirt takes internal snapshots of it only while it is off (${text})`,
      options,
    );
  }
  if (JOB_LOCK.test(text)) {
    return new ConflictError(
      'locked',
      `domain ${JSON.stringify(domain)} is busy with another operation (${text})`,
      options,
    );
  }
  const format = UNSUPPORTED_FORMAT.exec(text);
  if (format) {
    return new ConflictError(
      'invalid-state',
      `domain ${JSON.stringify(domain)} cannot take an internal snapshot: disk ${format[1]} is ${format[2]}, and only qcow2 images hold snapshots (${text})`,
      options,
    );
  }
  if (REVERT_EXTERNAL.test(text)) {
    return new ConflictError(
      'invalid-state',
      `the snapshot is external (made outside hvkit, e.g. snapshot-create-as --disk-only): libvirt 9.0 cannot revert to it (${text})`,
      options,
    );
  }
  if (EXTERNAL_DELETE.test(text)) {
    return new ConflictError(
      'invalid-state',
      `libvirt 9.0 cannot delete this mix of external and internal snapshots (${text})`,
      options,
    );
  }
  return error;
}

async function mapped<T>(domain: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw remapSnapshotError(error, domain);
  }
}

function checkDomain(domain: string): void {
  if (!IdentifierSchema.safeParse(domain).success) {
    throw new InvalidSpecError(
      [{ path: 'domain', message: 'must be a domain name or UUID', code: 'invalid_domain' }],
      { subject: 'snapshot call' },
    );
  }
}

function checkSnapshotId(snapshotId: string): void {
  const parsed = IdentifierSchema.safeParse(snapshotId);
  if (!parsed.success) {
    throw new InvalidSpecError(
      parsed.error.issues.map((issue) => ({
        path: 'snapshotId',
        message: issue.message,
        code: issue.code,
      })),
      { subject: 'snapshot call' },
    );
  }
}

// ---- reading ---------------------------------------------------------------------------------

/** libvirt snapshot `<state>` → the VM's power state when it was taken. */
export function snapshotPowerState(state: string): PowerState {
  switch (state) {
    case 'running':
    case 'blocked':
    case 'shutdown':
    // A disk-only snapshot of a running domain (external; hvkit does not make them).
    case 'disk-snapshot':
      return 'on';
    case 'paused':
      return 'paused';
    case 'pmsuspended':
      return 'suspended';
    case 'shutoff':
    case 'crashed':
      return 'off';
    default:
      return 'unknown';
  }
}

function unexpected(what: string): ProviderApiError {
  return new ProviderApiError(`libvirt returned a snapshot document without ${what}`, {
    fault: 'unexpected-snapshot-xml',
  });
}

function creationTime(root: XmlElement): string {
  const raw = textOf(root, 'creationTime')?.trim() ?? '';
  const seconds = Number(raw);
  if (raw === '' || !Number.isSafeInteger(seconds) || seconds < 0) throw unexpected('creationTime');
  return new Date(seconds * 1000).toISOString();
}

function snapshotDisks(root: XmlElement): SnapshotDisk[] {
  return childrenOf(childOf(root, 'disks'), 'disk').map((disk) => {
    const source = childOf(disk, 'source');
    return {
      name: attributeOf(disk, 'name') ?? '',
      snapshot: attributeOf(disk, 'snapshot') ?? '',
      file: attributeOf(source, 'file') ?? attributeOf(source, 'dev'),
    };
  });
}

function domainDisks(root: XmlElement): { target: string; file: string }[] {
  const disks = childrenOf(childOf(childOf(root, 'domain'), 'devices'), 'disk');
  return disks.flatMap((disk) => {
    const target = attributeOf(childOf(disk, 'target'), 'dev');
    const file = attributeOf(childOf(disk, 'source'), 'file');
    return target === undefined || file === undefined ? [] : [{ target, file }];
  });
}

/**
 * Reads one `snapshot-dumpxml` document.
 *
 * @throws ProviderApiError when it is not XML or lacks a name or creation time.
 */
export function parseSnapshotXml(xml: string): SnapshotRecord {
  const root = parseXml(xml, { what: 'snapshot-dumpxml' });
  const name = textOf(root, 'name');
  if (root.name !== 'domainsnapshot' || name === undefined || name === '') throw unexpected('name');
  const state = textOf(root, 'state')?.trim() ?? '';
  const memoryMode = attributeOf(childOf(root, 'memory'), 'snapshot');
  const disks = snapshotDisks(root);
  const description = textOf(root, 'description');
  return {
    name,
    description: description === '' ? undefined : description,
    createdAt: creationTime(root),
    memory: memoryMode === 'internal' || memoryMode === 'external',
    state,
    powerState: snapshotPowerState(state),
    parent: textOf(childOf(root, 'parent'), 'name'),
    external: memoryMode === 'external' || disks.some((disk) => disk.snapshot === 'external'),
    disks,
    domainDisks: domainDisks(root),
  };
}

function toSnapshot(record: SnapshotRecord, parentId: string | undefined): Snapshot {
  return {
    id: record.name,
    name: record.name,
    ...(record.description === undefined ? {} : { description: record.description }),
    createdAt: record.createdAt,
    memory: record.memory,
    // libvirt keeps no record of quiescing, and hvkit never quiesces (see the module comment).
    quiesced: false,
    powerState: record.powerState,
    ...(parentId === undefined ? {} : { parentId }),
    children: [],
  };
}

/**
 * Places records in a tree: children under their parent, siblings and roots by creation time then
 * name (libvirt's creation times have one-second resolution). A parent that is not among the
 * records (deleted meanwhile) makes the snapshot a root; `currentId` is kept only if it is there.
 */
export function buildSnapshotTree(
  records: readonly SnapshotRecord[],
  currentId: string | null,
): SnapshotTree {
  const sorted = [...records].sort(
    (a, b) =>
      a.createdAt.localeCompare(b.createdAt) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const names = new Set(sorted.map((record) => record.name));
  const nodes = new Map<string, Snapshot>();
  for (const record of sorted) {
    const parent =
      record.parent !== undefined && names.has(record.parent) ? record.parent : undefined;
    nodes.set(record.name, toSnapshot(record, parent));
  }
  const roots: Snapshot[] = [];
  for (const node of nodes.values()) {
    const parent = node.parentId === undefined ? undefined : nodes.get(node.parentId);
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  return { currentId: currentId !== null && nodes.has(currentId) ? currentId : null, roots };
}

function currentFrom(result: VirshCommandResult | undefined, domain: string): string | null {
  if (result === undefined) throw new ProviderApiError('virsh gave no result for snapshot-current');
  if (result.ok) return result.stdout.trim() || null;
  // libvirt 9.0: `error: domain 'x' has no current snapshot` (exit 1).
  if (NO_CURRENT.test(result.error.message)) return null;
  throw remapSnapshotError(result.error, domain);
}

const MAX_READ_ATTEMPTS = 3;

/**
 * The two commands that list a domain's snapshots and name its current one, for a caller that
 * reads the domain in its own `runMany` (a describe): give their results to
 * {@link snapshotTreeAfterList}, which needs one more exec only when there are snapshots.
 */
export function snapshotListCommands(domain: string): string[][] {
  checkDomain(domain);
  return [
    ['snapshot-list', '--domain', domain, '--name'],
    ['snapshot-current', '--domain', domain, '--name'],
  ];
}

/** What the commands of {@link snapshotListCommands} said. */
export interface SnapshotListing {
  readonly names: readonly string[];
  readonly currentId: string | null;
}

/**
 * Reads the results of {@link snapshotListCommands}, in order.
 *
 * @throws NotFoundError (vm) when the domain does not exist; the mapped error of another failure.
 */
export function snapshotListingFrom(
  results: readonly VirshCommandResult[],
  domain: string,
): SnapshotListing {
  const [list, current] = results;
  if (list === undefined || !list.ok) {
    throw remapSnapshotError(
      list?.error ?? new ProviderApiError('no snapshot-list result'),
      domain,
    );
  }
  const names = parseNameList(list.stdout);
  const currentId = currentFrom(current, domain);
  return { names, currentId: names.length === 0 ? null : currentId };
}

/**
 * `snapshot-dumpxml` of each listed snapshot in one exec (none when there are none). Returns
 * undefined when a listed snapshot is gone meanwhile, so the caller lists again.
 */
async function dumpListed(
  virsh: Virsh,
  domain: string,
  listing: SnapshotListing,
  options: SnapshotCallOptions,
  lastAttempt: boolean,
): Promise<{ records: SnapshotRecord[]; currentId: string | null } | undefined> {
  if (listing.names.length === 0) return { records: [], currentId: null };
  const dumps = await virsh.runMany(
    listing.names.map((name) => ['snapshot-dumpxml', '--domain', domain, '--snapshotname', name]),
    { signal: options.signal, timeoutMs: options.timeoutMs, idempotent: true },
  );
  const gone = (dump: VirshCommandResult) =>
    !dump.ok && NotFoundError.isInstance(dump.error) && dump.error.resource === 'snapshot';
  if (!lastAttempt && dumps.some(gone)) return undefined;
  const records: SnapshotRecord[] = [];
  for (const dump of dumps) {
    if (dump.ok) records.push(parseSnapshotXml(dump.stdout));
    else if (!gone(dump)) throw remapSnapshotError(dump.error, domain);
  }
  return { records, currentId: listing.currentId };
}

/**
 * Every snapshot of a domain as libvirt describes it, and the current one: one virsh exec for
 * `snapshot-list --name` + `snapshot-current --name`, then (when there are snapshots) one for a
 * `snapshot-dumpxml` of each. A snapshot deleted between the two execs makes the read start over
 * (up to 3 times; then it is left out).
 *
 * @throws NotFoundError (vm) when the domain does not exist.
 */
export async function readSnapshots(
  virsh: Virsh,
  domain: string,
  options: SnapshotCallOptions = {},
): Promise<{ records: SnapshotRecord[]; currentId: string | null }> {
  const commands = snapshotListCommands(domain);
  for (let attempt = 1; ; attempt++) {
    const results = await virsh.runMany(commands, {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      idempotent: true,
    });
    const listing = snapshotListingFrom(results, domain);
    const read = await dumpListed(virsh, domain, listing, options, attempt >= MAX_READ_ATTEMPTS);
    if (read !== undefined) return read;
  }
}

/**
 * The snapshot tree from a listing the caller already read (the results of
 * {@link snapshotListCommands} run in its own `runMany`): one more exec when there are snapshots,
 * none otherwise. A snapshot deleted meanwhile makes it read everything again.
 *
 * @throws NotFoundError (vm) when the domain is gone.
 */
export async function snapshotTreeAfterList(
  virsh: Virsh,
  domain: string,
  results: readonly VirshCommandResult[],
  options: SnapshotCallOptions = {},
): Promise<SnapshotTree> {
  const read = await dumpListed(
    virsh,
    domain,
    snapshotListingFrom(results, domain),
    options,
    false,
  );
  if (read !== undefined) return buildSnapshotTree(read.records, read.currentId);
  return listSnapshots(virsh, domain, options);
}

/**
 * The snapshot tree of a domain (`domain`: name or UUID), in two virsh execs (one when it has
 * none). Snapshot ids are snapshot names.
 *
 * @throws NotFoundError (vm) when the domain does not exist.
 */
export async function listSnapshots(
  virsh: Virsh,
  domain: string,
  options: SnapshotCallOptions = {},
): Promise<SnapshotTree> {
  const { records, currentId } = await readSnapshots(virsh, domain, options);
  return buildSnapshotTree(records, currentId);
}

/** One snapshot with its parent, no children (what `createSnapshot` returns). */
async function readOne(
  virsh: Virsh,
  domain: string,
  name: string,
  options: SnapshotCallOptions,
): Promise<Snapshot> {
  const xml = await mapped(domain, () =>
    virsh.run(['snapshot-dumpxml', '--domain', domain, '--snapshotname', name], {
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      idempotent: true,
    }),
  );
  const record = parseSnapshotXml(xml);
  return toSnapshot(record, record.parent);
}

// ---- writing ---------------------------------------------------------------------------------

/**
 * Validates snapshot options as `createSnapshot` takes them.
 *
 * @throws InvalidSpecError naming the field (`name`, `description`, …); a name with `/` too
 *   (libvirt 9.0: `invalid snapshot name 'a/b': name can't contain '/'`).
 */
export function parseSnapshotOptions(options: SnapshotOptions): {
  name: string;
  description?: string | undefined;
  memory?: boolean | undefined;
  quiesce?: boolean | undefined;
} {
  const parsed = SnapshotOptionsSchema.safeParse(options);
  if (!parsed.success)
    throw InvalidSpecError.fromZod(parsed.error, { subject: 'snapshot options' });
  if (parsed.data.name.includes('/')) {
    throw new InvalidSpecError(
      [
        {
          path: 'name',
          message: "libvirt snapshot names cannot contain '/'",
          code: 'invalid_name',
        },
      ],
      { subject: 'snapshot options' },
    );
  }
  return parsed.data;
}

/**
 * The `<domainsnapshot>` document of an internal snapshot: name, description, and memory
 * `internal` (running VM) or `no` (stopped VM). Disks are left to libvirt, which makes every qcow2
 * disk internal and leaves read-only cdroms out. Every value goes through the XML writer.
 */
export function snapshotXml(options: {
  name: string;
  description?: string | undefined;
  memory?: boolean | undefined;
}): string {
  return renderXml(
    element(
      'domainsnapshot',
      {},
      element('name', {}, field(options.name, 'name')),
      options.description !== undefined &&
        options.description !== '' &&
        element('description', {}, field(options.description, 'description')),
      element('memory', { snapshot: options.memory === true ? 'internal' : 'no' }),
    ),
    { subject: 'snapshot options' },
  );
}

/**
 * Takes an internal snapshot (`snapshot-create --xmlfile /dev/stdin`, the document on stdin) and
 * returns it as libvirt recorded it; it becomes the current snapshot, its parent the previous
 * current one. `memory: true` needs a running (or paused) domain; a running domain needs
 * `memory: true` (libvirt 9.0 has no internal disk-only snapshot of a running VM).
 *
 * @throws InvalidSpecError for bad options (before any call); UnsupportedCapabilityError
 *   (`snapshots.quiesce`) for `quiesce: true` (before any call); NotFoundError (vm);
 *   ConflictError `already-exists` (name taken), `invalid-power-state` (memory on a stopped
 *   domain, no memory on a running one, a running UEFI domain), `invalid-state` (a raw disk),
 *   `locked` (another job holds the domain).
 */
export async function createSnapshot(
  virsh: Virsh,
  domain: string,
  options: SnapshotOptions,
  callOptions: SnapshotCallOptions = {},
): Promise<Snapshot> {
  checkDomain(domain);
  const parsed = parseSnapshotOptions(options);
  if (parsed.quiesce === true) {
    throw new UnsupportedCapabilityError(
      'snapshots.quiesce',
      'libvirt quiesces only for external disk-only snapshots, which libvirt 9.0 cannot revert; hvkit takes internal snapshots, and a running VM’s internal snapshot holds its memory, which needs no quiescing',
    );
  }
  const xml = snapshotXml(parsed);
  await mapped(domain, () =>
    virsh.run(['snapshot-create', '--domain', domain, '--xmlfile', '/dev/stdin'], {
      stdin: xml,
      signal: callOptions.signal,
      timeoutMs: callOptions.timeoutMs,
    }),
  );
  return readOne(virsh, domain, parsed.name, callOptions);
}

/** `Location:` of `snapshot-info` (`internal` or `external`). */
function snapshotLocation(info: string): string | undefined {
  return /^Location:\s+(\S+)\s*$/m.exec(info)?.[1];
}

/**
 * Reverts a domain to a snapshot (`snapshot-revert`). The domain ends in the snapshot's power
 * state (measured): a running snapshot → running, even from shut off (QEMU starts and loads the
 * memory); a shut-off snapshot → shut off, a running domain is stopped; paused → paused. The
 * snapshot becomes current.
 *
 * A managed-save image (hvkit's `suspended`) is the domain's current state, which a revert
 * discards, so it is removed first (`managedsave-remove`). Measured on libvirt 9.0: with one, a
 * revert to a snapshot without memory is refused (`revert requires force: snapshot without memory
 * state, removal of existing managed saved state strongly recommended to avoid corruption`), and
 * `--force` reverts but KEEPS the image; a revert to a running snapshot succeeds and also keeps it,
 * so a later start would restore that stale memory over the reverted disks.
 *
 * Execs: one `snapshot-info` + `dominfo` (the snapshot exists and is internal, before anything is
 * changed), `managedsave-remove` only when there is an image, then `snapshot-revert`.
 *
 * @throws NotFoundError (vm, snapshot); ConflictError `invalid-state` for an external snapshot
 *   (libvirt 9.0: `unsupported configuration: revert to external snapshot not supported yet`),
 *   refused before anything is changed.
 */
export async function revertSnapshot(
  virsh: Virsh,
  domain: string,
  snapshotId: string,
  options: SnapshotCallOptions = {},
): Promise<void> {
  checkDomain(domain);
  checkSnapshotId(snapshotId);
  const call = { signal: options.signal, timeoutMs: options.timeoutMs };
  const [info, dominfo] = await virsh.runMany(
    [
      ['snapshot-info', '--domain', domain, '--snapshotname', snapshotId],
      ['dominfo', '--domain', domain],
    ],
    { ...call, idempotent: true },
  );
  if (info === undefined || !info.ok) {
    throw remapSnapshotError(
      info?.error ?? new ProviderApiError('no snapshot-info result'),
      domain,
    );
  }
  if (snapshotLocation(info.stdout) === 'external') {
    throw new ConflictError(
      'invalid-state',
      `snapshot ${JSON.stringify(snapshotId)} of domain ${JSON.stringify(domain)} is external (made outside hvkit, e.g. snapshot-create-as --disk-only): libvirt 9.0 cannot revert to it`,
      { details: { command: 'snapshot-revert' } },
    );
  }
  if (dominfo === undefined || !dominfo.ok) {
    throw remapSnapshotError(dominfo?.error ?? new ProviderApiError('no dominfo result'), domain);
  }
  await mapped(domain, async () => {
    if (parseDomInfo(dominfo.stdout).managedSave) {
      await virsh.run(['managedsave-remove', '--domain', domain], call);
    }
    await virsh.run(['snapshot-revert', '--domain', domain, '--snapshotname', snapshotId], call);
  });
}

/**
 * Deletes a snapshot (`snapshot-delete`), with its whole subtree when `removeChildren`. Without,
 * libvirt re-parents its children to its parent; deleting the current snapshot makes its parent
 * current (measured). The data inside the qcow2 images is removed too.
 *
 * @throws NotFoundError (vm, snapshot); ConflictError `invalid-state` for a mix of external and
 *   internal snapshots libvirt 9.0 cannot delete.
 */
export async function deleteSnapshot(
  virsh: Virsh,
  domain: string,
  snapshotId: string,
  removeChildren: boolean,
  options: SnapshotCallOptions = {},
): Promise<void> {
  checkDomain(domain);
  checkSnapshotId(snapshotId);
  const args = ['snapshot-delete', '--domain', domain, '--snapshotname', snapshotId];
  if (removeChildren) args.push('--children');
  await mapped(domain, () =>
    virsh.run(args, { signal: options.signal, timeoutMs: options.timeoutMs }),
  );
}

// ---- domain deletion -------------------------------------------------------------------------

/**
 * `undefine` flags a domain with snapshots needs: libvirt 9.0 refuses a plain `undefine` with
 * `Requested operation is not valid: cannot delete inactive domain with 2 snapshots`.
 * `--snapshots-metadata` drops libvirt's records; internal snapshot data lives in the qcow2 files
 * and goes with them.
 */
export const UNDEFINE_SNAPSHOT_FLAGS: readonly string[] = ['--snapshots-metadata'];

/** What deleting a domain must remove because of its snapshots. */
export interface SnapshotCleanupPlan {
  /** How many snapshots the domain has. */
  readonly count: number;
  /** Some snapshot is external: its files are outside the domain's current disk list. */
  readonly external: boolean;
  /**
   * Every file an external snapshot involves: the overlays libvirt created and the images that
   * became their backing files (the disks' sources when the snapshot was taken). The domain's
   * current disks may be among them: deduplicate against the disks being deleted. Empty when all
   * snapshots are internal.
   */
  readonly files: readonly string[];
  /** Flags to add to `undefine`: {@link UNDEFINE_SNAPSHOT_FLAGS} when `count > 0`. */
  readonly undefineFlags: readonly string[];
}

/**
 * What deleting `domain` must also remove because of its snapshots (same reads as
 * `listSnapshots`). For the driver's `delete`: read this first, stop the domain, `undefine` with
 * `undefineFlags` (plus its own, e.g. `--nvram`), delete the current disks, then `files` that are
 * volumes of a pool (`pool-refresh`, then `vol-delete <path>`: external overlays are written next
 * to the disk, so in the pool directory when the disk is a pool volume).
 *
 * @throws NotFoundError (vm) when the domain does not exist.
 */
export async function snapshotCleanupPlan(
  virsh: Virsh,
  domain: string,
  options: SnapshotCallOptions = {},
): Promise<SnapshotCleanupPlan> {
  const { records } = await readSnapshots(virsh, domain, options);
  const files = new Set<string>();
  for (const record of records) {
    for (const disk of record.disks.filter((item) => item.snapshot === 'external')) {
      if (disk.file !== undefined) files.add(disk.file);
      // The image the overlay was put on top of: now its backing file.
      const before = record.domainDisks.find((item) => item.target === disk.name);
      if (before !== undefined) files.add(before.file);
    }
  }
  return {
    count: records.length,
    external: records.some((record) => record.external),
    files: [...files],
    undefineFlags: records.length > 0 ? UNDEFINE_SNAPSHOT_FLAGS : [],
  };
}

// ---- live checks -----------------------------------------------------------------------------

/** What {@link snapshotLiveCheck} answers: as core's `CanResult` without the capability. */
export interface SnapshotCheck {
  readonly ok: boolean;
  readonly reason: string;
}

/**
 * Whether a snapshot capability may be used on `vm` now, by the same rules `createSnapshot`
 * meets on libvirt 9.0 (see the module comment), for the driver's `can()`; undefined for the
 * capabilities it has nothing to say about (tree, revert, delete). `vm.disks` holds no cdroms:
 * libvirt leaves read-only cdroms out of snapshots.
 */
export function snapshotLiveCheck(
  vm: Pick<Vm, 'powerState' | 'disks' | 'firmware'>,
  capability: string,
): SnapshotCheck | undefined {
  const no = (reason: string) => ({ ok: false, reason });
  const state = vm.powerState;
  const active = state === 'on' || state === 'paused';
  const notQcow2 = vm.disks.filter((disk) => disk.format !== undefined && disk.format !== 'qcow2');
  const diskProblem =
    notQcow2.length > 0
      ? `disk ${notQcow2.map((disk) => disk.id).join(', ')} is not qcow2: only qcow2 images hold internal snapshots`
      : undefined;
  switch (capability) {
    case 'snapshots.create':
      if (diskProblem) return no(diskProblem);
      if (active && vm.firmware === 'efi')
        return no(
          'libvirt takes internal snapshots of a UEFI (pflash) domain only while it is off',
        );
      return active
        ? { ok: true, reason: 'domain is running: the snapshot must include memory (memory: true)' }
        : { ok: true, reason: `domain is ${state}: a disk snapshot without memory` };
    case 'snapshots.memory':
      if (diskProblem) return no(diskProblem);
      if (!active) return no(`domain is ${state}; a memory snapshot needs a running domain`);
      if (vm.firmware === 'efi')
        return no(
          'libvirt takes internal snapshots of a UEFI (pflash) domain only while it is off',
        );
      return { ok: true, reason: 'domain is running' };
    case 'snapshots.quiesce':
      return no(
        'libvirt quiesces only external disk-only snapshots, which libvirt 9.0 cannot revert; hvkit takes internal ones',
      );
    default:
      return undefined;
  }
}
