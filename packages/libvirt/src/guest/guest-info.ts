/**
 * What a domain's guest reports about itself through the QEMU guest agent (qemu-ga), as core's
 * `GuestInfo`, in ONE virsh command: `guestinfo --os --hostname --interface --filesystem`.
 *
 * Measured on the bed (libvirt 9.0, qemu-ga 7.2 in the busybox test guest):
 * - `guestinfo` answers `os.*`, `hostname`, `if.*` (name, hwaddr, addresses) and, for file
 *   systems, nothing at all: the guest mounts only proc/sysfs/devtmpfs/tmpfs, which qemu-ga's
 *   `guest-get-fsinfo` leaves out (`{"return":[]}`), and libvirt then prints no `fs.count` line.
 * - qemu-ga has no uptime command (`guest-info` lists none; `guest-get-cpustats` totals of CPU 0
 *   fell 12 s short of `/proc/uptime` 70 s after boot, so they are no stand-in). Uptime would
 *   need `guest-exec` of `cat /proc/uptime` and a second round trip for `guest-exec-status`:
 *   `uptimeSeconds` is left out, so `guest.monitoring` should not be declared.
 * - The agent channel connects about 25 s after `start` under TCG; before that `guestinfo` fails
 *   with `Guest agent is not responding: QEMU guest agent is not connected`.
 * - A connected but stuck agent (qemu-ga stopped with SIGSTOP in the guest) made `guestinfo`
 *   block for over 5 minutes: libvirt 9.0's default agent timeout is "block", and killing the
 *   virsh client does not free the libvirtd worker, which holds the domain's agent job (and kept
 *   libvirtd from stopping when the bed was restarted meanwhile). So every call first sets the
 *   domain's agent timeout (`guest-agent-timeout --timeout N`, same virsh process). Measured
 *   with N = 5 on the stuck agent: the first call failed after 10.6 s, the next after 6 s, with
 *   `Guest agent is not responding: Guest agent not available for now`; the live XML kept
 *   saying the channel is `connected` (so the XML's tools state says running meanwhile).
 */
import {
  ConflictError,
  type GuestInfo,
  InvalidSpecError,
  NotFoundError,
  type ToolsState,
} from '@hvkit/core';
import type { Virsh, VirshCallOptions } from '../virsh/virsh.js';

/** The `guestinfo` command {@link getGuestInfo} runs for `domain` (name or UUID). */
export function guestInfoCommand(domain: string): string[] {
  return ['guestinfo', '--os', '--hostname', '--interface', '--filesystem', '--', domain];
}

// libvirt 9.0, measured on the bed: the failures of `guestinfo` that say what the agent's state
// is, rather than that the call went wrong.
// A shut-off or paused domain (paused: the vCPUs cannot run the agent).
const NOT_RUNNING = /domain is not running/;
// Running, channel present, qemu-ga not (yet) listening: booting, or the agent is stopped.
const NOT_CONNECTED = /QEMU guest agent is not connected/;
// Running without an org.qemu.guest_agent.0 channel.
const NOT_CONFIGURED = /QEMU guest agent is not configured/;
// Connected but no answer within libvirt's agent timeout (the agent is stuck or busy).
const NOT_RESPONDING = /Guest agent is not responding/;

/** Options of {@link getGuestInfo}. */
export interface GuestInfoOptions extends VirshCallOptions {
  /**
   * Seconds libvirt waits for the agent before failing (`guest-agent-timeout`, set on the running
   * domain before each call; it then applies to every agent call on that domain until it stops).
   * Default 5: a stuck agent then costs about 6–11 s (measured), not an endless wait.
   */
  agentTimeoutSeconds?: number | undefined;
}

/** The commands {@link getGuestInfo} runs in one virsh process for `domain` (name or UUID). */
export function guestInfoCommands(domain: string, agentTimeoutSeconds = 5): string[][] {
  return [
    ['guest-agent-timeout', '--timeout', String(agentTimeoutSeconds), '--', domain],
    guestInfoCommand(domain),
  ];
}

/**
 * Guest info of `domain` (name or UUID) from its guest agent, in one virsh process (one SSH
 * exec): `guest-agent-timeout` (so a stuck agent fails after `agentTimeoutSeconds` instead of
 * blocking libvirtd's worker) and `guestinfo`.
 *
 * - Agent answers → `toolsState: 'running'`, `hostname`, `osName` (`os.pretty-name`, else
 *   `os.name` and `os.version`), `interfaces` by MAC (lower case) with every address the guest
 *   has on them, `ipAddresses` (all of them, in the guest's order, once each) and `filesystems`
 *   when the agent lists any. Loopback interfaces (`lo`, or MAC 00:00:00:00:00:00) are left out.
 * - Domain shut off or paused, or agent not connected → `toolsState: 'not-running'`, no
 *   addresses. No agent channel in the domain → `not-installed`. Agent connected but silent →
 *   `unknown`. These are not errors (the conformance suite asks a stopped VM for guest info and
 *   expects tools not running and no addresses).
 *
 * @throws NotFoundError (`vm`) when there is no such domain; the mapped virsh error otherwise.
 */
export async function getGuestInfo(
  virsh: Virsh,
  domain: string,
  options: GuestInfoOptions = {},
): Promise<GuestInfo> {
  const seconds = options.agentTimeoutSeconds ?? 5;
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new InvalidSpecError(
      [
        {
          path: 'agentTimeoutSeconds',
          message: 'must be a whole number of seconds ≥ 1',
          code: 'invalid_value',
        },
      ],
      { subject: 'guest info options' },
    );
  }
  const { agentTimeoutSeconds: _, ...call } = options;
  // The timeout's own failure (domain missing, not running) is told again by guestinfo.
  const [, info] = await virsh.runMany(guestInfoCommands(domain, seconds), {
    idempotent: true,
    ...call,
  });
  if (!info) throw new Error('virsh.runMany returned fewer results than commands');
  if (info.ok) return parseGuestInfo(info.stdout);
  const state = agentStateOfError(info.error);
  if (state === undefined) throw info.error;
  return { toolsState: state, ipAddresses: [] };
}

/**
 * The tools state a failed `guestinfo` (or any agent command) reveals, or undefined when the
 * error is not about the agent or the domain's state (not found, transport, …).
 */
export function agentStateOfError(error: unknown): ToolsState | undefined {
  if (NotFoundError.isInstance(error)) return undefined;
  if (!(error instanceof Error)) return undefined;
  const text = error.message;
  if (NOT_CONFIGURED.test(text)) return 'not-installed';
  if (!ConflictError.isInstance(error)) return undefined;
  if (NOT_RUNNING.test(text) || NOT_CONNECTED.test(text)) return 'not-running';
  if (NOT_RESPONDING.test(text)) return 'unknown';
  return undefined;
}

/**
 * `guestinfo` output (`key   : value` lines, keys like `if.1.addr.0.addr`) → an object of the
 * keys and their values. Keys never hold blanks; a value may be empty or hold `:`.
 */
export function parseGuestInfoFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    const match = /^(\S+)\s*:(?: (.*))?$/.exec(line);
    if (match?.[1] !== undefined) fields.set(match[1], match[2] ?? '');
  }
  return fields;
}

function count(fields: ReadonlyMap<string, string>, key: string): number {
  const value = Number(fields.get(key) ?? '0');
  return Number.isInteger(value) && value > 0 ? value : 0;
}

function bytes(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

const LOOPBACK_MAC = '00:00:00:00:00:00';

type GuestInterface = NonNullable<GuestInfo['interfaces']>[number];
type GuestFilesystem = NonNullable<GuestInfo['filesystems']>[number];

function interfacesOf(fields: ReadonlyMap<string, string>): GuestInterface[] {
  const out: GuestInterface[] = [];
  for (let index = 0; index < count(fields, 'if.count'); index++) {
    const prefix = `if.${index}`;
    const name = fields.get(`${prefix}.name`);
    const mac = fields.get(`${prefix}.hwaddr`)?.toLowerCase();
    // No MAC (a tunnel, say) cannot be matched to a NIC; loopback is not one.
    if (!mac || mac === LOOPBACK_MAC || name === 'lo') continue;
    const addresses: string[] = [];
    for (let at = 0; at < count(fields, `${prefix}.addr.count`); at++) {
      const address = fields.get(`${prefix}.addr.${at}.addr`);
      if (address) addresses.push(address);
    }
    out.push({ mac, ...(name ? { name } : {}), ipAddresses: addresses });
  }
  return out;
}

function filesystemsOf(fields: ReadonlyMap<string, string>): GuestFilesystem[] {
  const out: GuestFilesystem[] = [];
  for (let index = 0; index < count(fields, 'fs.count'); index++) {
    const prefix = `fs.${index}`;
    const mountPoint = fields.get(`${prefix}.mountpoint`);
    // libvirt prints total-bytes/used-bytes only when the agent reported them; qemu-ga's total
    // leaves out the blocks reserved for root and its used is total - available, so
    // total - used is what an ordinary user can still write.
    const total = bytes(fields.get(`${prefix}.total-bytes`));
    const used = bytes(fields.get(`${prefix}.used-bytes`));
    if (!mountPoint || total === undefined || used === undefined) continue;
    out.push({ mountPoint, capacityBytes: total, freeBytes: Math.max(0, total - used) });
  }
  return out;
}

/** Maps the output of {@link guestInfoCommand} (the agent answered) to core's `GuestInfo`. */
export function parseGuestInfo(text: string): GuestInfo {
  const fields = parseGuestInfoFields(text);
  const interfaces = interfacesOf(fields);
  const filesystems = filesystemsOf(fields);
  const hostname = fields.get('hostname');
  const osName =
    fields.get('os.pretty-name') ||
    [fields.get('os.name'), fields.get('os.version')].filter(Boolean).join(' ');
  return {
    toolsState: 'running',
    ...(hostname ? { hostname } : {}),
    ...(osName ? { osName } : {}),
    ipAddresses: [...new Set(interfaces.flatMap((item) => item.ipAddresses))],
    interfaces,
    ...(filesystems.length > 0 ? { filesystems } : {}),
  };
}
