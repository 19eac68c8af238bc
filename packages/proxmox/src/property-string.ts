/**
 * Proxmox property strings (`key=value,key2=value2`, with an optional default key whose value is
 * written bare: `virtio=BC:24:11:00:00:01,bridge=vmbr0`, `local-lvm:vm-100-disk-0,size=32G`).
 *
 * Proxmox has no escaping inside property strings (pve-common JSONSchema.pm
 * parse_property_string splits on every `,` and takes the key up to the first `=`), and the config
 * file is line based. So a value with `,`, a line break, or — for the bare default-key value — an
 * `=` would change what Proxmox reads. {@link checkPropertyValue} is the one gate every value goes
 * through: it refuses such values instead of mangling them.
 */

/** A value refused by {@link checkPropertyValue}, or a property string that does not parse. */
export class PropertyStringError extends Error {
  readonly key: string;
  readonly value: string;
  constructor(key: string, value: string, reason: string) {
    super(`${key}: ${reason}`);
    this.name = 'PropertyStringError';
    this.key = key;
    this.value = value;
  }
}

/** True when `value` holds a character Proxmox config files cannot carry in a value. */
function hasLineBreakOrControl(value: string): boolean {
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/**
 * Checks one value before it is written into a property string or a config line, and returns it.
 * Throws {@link PropertyStringError} for an empty value, a line break or control character, a `,`
 * (a new key would start), and an `=` in the bare default-key value (it would read as a key).
 */
export function checkPropertyValue(
  key: string,
  value: string,
  options: { bare?: boolean } = {},
): string {
  if (value === '') throw new PropertyStringError(key, value, 'must not be empty');
  if (hasLineBreakOrControl(value))
    throw new PropertyStringError(key, value, 'must not contain line breaks or control characters');
  if (value.includes(',')) throw new PropertyStringError(key, value, "must not contain ','");
  if (options.bare && value.includes('='))
    throw new PropertyStringError(key, value, "must not contain '=' (it would read as a key)");
  return value;
}

/**
 * Checks a plain (non property-string) config value such as `name`, `ciuser` or `tags`: Proxmox
 * refuses a line break in any config value ("detected invalid newline inside property").
 */
export function checkConfigValue(key: string, value: string): string {
  if (hasLineBreakOrControl(value))
    throw new PropertyStringError(key, value, 'must not contain line breaks or control characters');
  return value;
}

/** Shape of one property-string format: its keys and which one is written bare. */
export interface PropertyStringFormat {
  /** Key whose value may be written without `key=` (first position). */
  readonly defaultKey?: string;
  /** Keys the format knows, in the order they are written (after the default key). */
  readonly keys: readonly string[];
}

/** Raw key → value pairs of a property string, in the order they appeared. */
export type PropertyEntries = Record<string, string>;

/**
 * Splits a property string into its entries, as Proxmox does. A part without `=` is the default
 * key's value (only allowed once, and only when the format has a default key). Unknown keys are
 * kept when `format` or its `keys` are omitted; with keys they throw, as Proxmox refuses them.
 */
export function parsePropertyString(
  text: string,
  format?: { readonly defaultKey?: string; readonly keys?: readonly string[] },
): PropertyEntries {
  const entries: PropertyEntries = {};
  if (text.trim() === '') return entries;
  for (const part of text.split(',')) {
    const match = /^([^=]+)=(.+)$/s.exec(part);
    let key: string;
    let value: string;
    if (match) {
      key = (match[1] ?? '').trim();
      value = match[2] ?? '';
    } else if (format?.defaultKey !== undefined && !part.includes('=')) {
      key = format.defaultKey;
      value = part;
    } else if (format === undefined && !part.includes('=')) {
      // Without a format the caller wants the raw pairs; a bare part lands under ''.
      key = '';
      value = part;
    } else {
      throw new PropertyStringError('(property string)', text, `cannot parse '${part}'`);
    }
    if (format?.keys && key !== format.defaultKey && !format.keys.includes(key))
      throw new PropertyStringError(key, value, 'unknown key');
    if (Object.hasOwn(entries, key)) throw new PropertyStringError(key, value, 'duplicate key');
    entries[key] = value;
  }
  return entries;
}

/** A value of a property-string entry before formatting; `undefined` entries are skipped. */
export type PropertyInput = string | number | boolean | undefined;

/** `true`/`false` as Proxmox writes booleans. */
export function formatBoolean(value: boolean): string {
  return value ? '1' : '0';
}

/** Reads a Proxmox boolean (`1`/`0`, also `on`/`off`/`yes`/`no`/`true`/`false` as pve-common does). */
export function parseBoolean(value: string | number | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const text = String(value).toLowerCase();
  if (['1', 'on', 'yes', 'true'].includes(text)) return true;
  if (['0', 'off', 'no', 'false', ''].includes(text)) return false;
  throw new PropertyStringError('(boolean)', String(value), 'is not a boolean');
}

/**
 * Formats entries into a property string: the default key's value first and bare, the other keys
 * in `format.keys` order, then any keys the format does not list (kept from a parse) in their own
 * order. Every value passes {@link checkPropertyValue}.
 */
export function formatPropertyString(
  entries: Record<string, PropertyInput>,
  format: PropertyStringFormat,
): string {
  const parts: string[] = [];
  const text = (value: Exclude<PropertyInput, undefined>): string =>
    typeof value === 'boolean' ? formatBoolean(value) : String(value);
  const defaultKey = format.defaultKey;
  if (defaultKey !== undefined) {
    const value = entries[defaultKey];
    if (value !== undefined)
      parts.push(checkPropertyValue(defaultKey, text(value), { bare: true }));
  }
  const rest = [
    ...format.keys.filter((key) => key !== defaultKey),
    ...Object.keys(entries).filter((key) => key !== defaultKey && !format.keys.includes(key)),
  ];
  for (const key of rest) {
    const value = entries[key];
    if (value === undefined) continue;
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(key))
      throw new PropertyStringError(key, String(value), 'is not a valid key');
    parts.push(`${key}=${checkPropertyValue(key, text(value))}`);
  }
  return parts.join(',');
}

// ---- sizes ------------------------------------------------------------------------------------

const SIZE_UNITS = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 } as const;

/**
 * Bytes of a Proxmox disk size (`32G`, `104858K`, `512`, `1.5G`): binary units K/M/G/T, no unit =
 * bytes. Throws {@link PropertyStringError} for anything else.
 */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(text.trim());
  if (!match) throw new PropertyStringError('size', text, 'is not a disk size like 32G');
  const unit = match[2] as keyof typeof SIZE_UNITS | undefined;
  return Math.round(Number(match[1]) * (unit ? SIZE_UNITS[unit] : 1));
}

/** A byte count as Proxmox prints it (format_size): the largest unit that divides it exactly. */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0)
    throw new PropertyStringError('size', String(bytes), 'must be a whole number of bytes');
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const factor = SIZE_UNITS[unit];
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

// ---- net[n] -----------------------------------------------------------------------------------

/** NIC models of the `net[n]` format. */
export const NET_MODELS = [
  'e1000',
  'e1000-82540em',
  'e1000-82544gc',
  'e1000-82545em',
  'e1000e',
  'i82551',
  'i82557b',
  'i82559er',
  'ne2k_isa',
  'ne2k_pci',
  'pcnet',
  'rtl8139',
  'virtio',
  'vmxnet3',
] as const;
/** One of {@link NET_MODELS}. */
export type NetModel = (typeof NET_MODELS)[number];

const NET_KEYS = [
  'model',
  'macaddr',
  'bridge',
  'tag',
  'firewall',
  'rate',
  'mtu',
  'queues',
  'link_down',
  'trunks',
] as const;

/** A `net[n]` value. */
export interface NetConfig {
  model: NetModel;
  /** Upper-case colon form; Proxmox generates one (OUI BC:24:11) when omitted. */
  macaddr?: string | undefined;
  bridge?: string | undefined;
  /** VLAN tag 1–4094. */
  tag?: number | undefined;
  firewall?: boolean | undefined;
  /** MB/s. */
  rate?: number | undefined;
  mtu?: number | undefined;
  queues?: number | undefined;
  link_down?: boolean | undefined;
  trunks?: string | undefined;
}

function isNetModel(value: string): value is NetModel {
  return (NET_MODELS as readonly string[]).includes(value);
}

function integerIn(key: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text)) throw new PropertyStringError(key, text, 'must be an integer');
  const value = Number(text);
  if (value < min || value > max)
    throw new PropertyStringError(key, text, `must be between ${min} and ${max}`);
  return value;
}

function checkMac(key: string, mac: string): string {
  if (!/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(mac))
    throw new PropertyStringError(key, mac, 'must be a MAC address like BC:24:11:00:00:01');
  if ((Number.parseInt(mac.slice(0, 2), 16) & 1) === 1)
    throw new PropertyStringError(key, mac, 'must be a unicast MAC address');
  return mac.toUpperCase();
}

function checkIntegerIn(key: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max)
    throw new PropertyStringError(key, String(value), `must be an integer from ${min} to ${max}`);
}

/** Reads a `net[n]` value (`virtio=BC:24:11:2C:69:EC,bridge=vmbr0,tag=10,firewall=1`). */
export function parseNet(text: string): NetConfig {
  const entries: PropertyEntries = {};
  let model: NetModel | undefined;
  let mac: string | undefined;
  for (const part of text.split(',')) {
    const [key = '', ...rest] = part.split('=');
    const value = rest.join('=');
    if (isNetModel(key)) {
      // `<model>=<mac>` (the usual form) or a bare model.
      if (model !== undefined) throw new PropertyStringError('model', text, 'given twice');
      model = key;
      if (rest.length > 0) mac = checkMac('macaddr', value);
    } else if (rest.length === 0) {
      throw new PropertyStringError('net', text, `cannot parse '${part}'`);
    } else if (key === 'model') {
      if (!isNetModel(value)) throw new PropertyStringError('model', value, 'unknown NIC model');
      model = value;
    } else if ((NET_KEYS as readonly string[]).includes(key)) {
      entries[key] = value;
    } else {
      throw new PropertyStringError(key, value, 'unknown key');
    }
  }
  if (model === undefined) throw new PropertyStringError('model', text, 'is missing');
  if (entries.macaddr !== undefined) mac = checkMac('macaddr', entries.macaddr);
  const net: NetConfig = { model };
  if (mac !== undefined) net.macaddr = mac;
  if (entries.bridge !== undefined) net.bridge = entries.bridge;
  if (entries.tag !== undefined) net.tag = integerIn('tag', entries.tag, 1, 4094);
  if (entries.firewall !== undefined) net.firewall = parseBoolean(entries.firewall);
  if (entries.rate !== undefined) net.rate = Number(entries.rate);
  if (entries.mtu !== undefined) net.mtu = integerIn('mtu', entries.mtu, 1, 65520);
  if (entries.queues !== undefined) net.queues = integerIn('queues', entries.queues, 0, 64);
  if (entries.link_down !== undefined) net.link_down = parseBoolean(entries.link_down);
  if (entries.trunks !== undefined) net.trunks = entries.trunks;
  return net;
}

/** Writes a `net[n]` value the way Proxmox stores it (`<model>=<MAC>` first). */
export function formatNet(net: NetConfig): string {
  if (!isNetModel(net.model)) throw new PropertyStringError('model', net.model, 'unknown model');
  checkIntegerIn('tag', net.tag, 1, 4094);
  checkIntegerIn('mtu', net.mtu, 1, 65520);
  checkIntegerIn('queues', net.queues, 0, 64);
  if (net.rate !== undefined && !(Number.isFinite(net.rate) && net.rate >= 0))
    throw new PropertyStringError('rate', String(net.rate), 'must be a number ≥ 0');
  if (net.trunks !== undefined && !/^\d+(-\d+)?(;\d+(-\d+)?)*$/.test(net.trunks))
    throw new PropertyStringError('trunks', net.trunks, 'must look like 10;20-30');
  if (net.bridge !== undefined && !/^[A-Za-z0-9_.-]+$/.test(net.bridge))
    throw new PropertyStringError('bridge', net.bridge, 'is not a bridge name');
  const head =
    net.macaddr === undefined ? net.model : `${net.model}=${checkMac('macaddr', net.macaddr)}`;
  const rest = formatPropertyString(
    {
      bridge: net.bridge,
      tag: net.tag,
      firewall: net.firewall,
      rate: net.rate,
      mtu: net.mtu,
      queues: net.queues,
      link_down: net.link_down,
      trunks: net.trunks,
    },
    { keys: NET_KEYS },
  );
  return rest === '' ? head : `${head},${rest}`;
}

// ---- disks ------------------------------------------------------------------------------------

/** Disk buses Proxmox has, with their highest index. */
export const DRIVE_BUSES = { scsi: 30, virtio: 15, sata: 5, ide: 3 } as const;
/** One of the keys of {@link DRIVE_BUSES}. */
export type DriveBus = keyof typeof DRIVE_BUSES;

/** True for a config key naming a disk slot (`scsi0`, `virtio15`, `sata5`, `ide2`). */
export function isDriveKey(key: string): boolean {
  const match = /^(scsi|virtio|sata|ide)(\d+)$/.exec(key);
  if (!match) return false;
  const index = Number(match[2]);
  return String(index) === match[2] && index <= DRIVE_BUSES[match[1] as DriveBus];
}

const DRIVE_KEYS = [
  'file',
  'import-from',
  'media',
  'format',
  'cache',
  'discard',
  'iothread',
  'ssd',
  'backup',
  'replicate',
  'size',
] as const;

/** Proxmox disk image formats. */
export const DRIVE_FORMATS = ['raw', 'qcow', 'qed', 'qcow2', 'vmdk', 'cloop'] as const;
const CACHE_MODES = ['none', 'writethrough', 'writeback', 'unsafe', 'directsync'] as const;

/** A `scsi[n]`/`virtio[n]`/`sata[n]`/`ide[n]` value. */
export interface DriveConfig {
  /**
   * The volume (`local-lvm:vm-100-disk-0`), an allocation (`local-lvm:32`, whole GiB) or
   * `storage:0` with `import-from`, `none`, or `cdrom`.
   */
  file: string;
  'import-from'?: string | undefined;
  media?: 'disk' | 'cdrom' | undefined;
  format?: (typeof DRIVE_FORMATS)[number] | undefined;
  cache?: (typeof CACHE_MODES)[number] | undefined;
  discard?: 'on' | 'ignore' | undefined;
  iothread?: boolean | undefined;
  ssd?: boolean | undefined;
  backup?: boolean | undefined;
  replicate?: boolean | undefined;
  /** Bytes. Informational in the config; written back with {@link formatSize}. */
  sizeBytes?: number | undefined;
  /** Keys this codec does not model (`aio`, `iops_rd`, `serial`…), kept for a faithful rewrite. */
  extra?: Record<string, string> | undefined;
}

function enumValue<T extends string>(key: string, value: string, values: readonly T[]): T {
  if (!(values as readonly string[]).includes(value))
    throw new PropertyStringError(key, value, `must be one of ${values.join(', ')}`);
  return value as T;
}

/** Reads a disk value (`local-lvm:vm-100-disk-0,iothread=1,size=32G`). Unknown keys go to `extra`. */
export function parseDrive(text: string): DriveConfig {
  return driveFromEntries(parsePropertyString(text, { defaultKey: 'file' }));
}

function driveFromEntries(all: PropertyEntries): DriveConfig {
  // `volume` is an alias of `file`.
  const file = all.file ?? all.volume;
  if (file === undefined) throw new PropertyStringError('file', '', 'is missing');
  const drive: DriveConfig = { file };
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(all)) {
    switch (key) {
      case 'file':
      case 'volume':
        break;
      case 'import-from':
        drive['import-from'] = value;
        break;
      case 'media':
        drive.media = enumValue(key, value, ['disk', 'cdrom'] as const);
        break;
      case 'format':
        drive.format = enumValue(key, value, DRIVE_FORMATS);
        break;
      case 'cache':
        drive.cache = enumValue(key, value, CACHE_MODES);
        break;
      case 'discard':
        drive.discard = enumValue(key, value, ['on', 'ignore'] as const);
        break;
      case 'iothread':
      case 'ssd':
      case 'backup':
      case 'replicate':
        drive[key] = parseBoolean(value);
        break;
      case 'size':
        drive.sizeBytes = parseSize(value);
        break;
      default:
        extra[key] = value;
    }
  }
  if (Object.keys(extra).length > 0) drive.extra = extra;
  return drive;
}

/** Writes a disk value. `file` is bare and must not contain `=` or `,`. */
export function formatDrive(drive: DriveConfig): string {
  if (drive.format !== undefined) enumValue('format', drive.format, DRIVE_FORMATS);
  if (drive.cache !== undefined) enumValue('cache', drive.cache, CACHE_MODES);
  if (drive.media !== undefined) enumValue('media', drive.media, ['disk', 'cdrom'] as const);
  if (drive.discard !== undefined) enumValue('discard', drive.discard, ['on', 'ignore'] as const);
  for (const key of Object.keys(drive.extra ?? {})) {
    if ((DRIVE_KEYS as readonly string[]).includes(key) || key === 'volume')
      throw new PropertyStringError(key, '', 'is modelled; set the typed field instead');
  }
  return formatPropertyString(
    {
      file: drive.file,
      'import-from': drive['import-from'],
      media: drive.media,
      format: drive.format,
      cache: drive.cache,
      discard: drive.discard,
      iothread: drive.iothread,
      ssd: drive.ssd,
      backup: drive.backup,
      replicate: drive.replicate,
      ...drive.extra,
      size: drive.sizeBytes === undefined ? undefined : formatSize(drive.sizeBytes),
    },
    { defaultKey: 'file', keys: DRIVE_KEYS },
  );
}

/** What a disk's `file` names. */
export type DriveSource =
  | { kind: 'volume'; volume: string; storage?: string | undefined }
  | { kind: 'allocation'; storage: string; sizeGiB: number }
  | { kind: 'none' }
  | { kind: 'cdrom' };

/**
 * Classifies a disk `file`: an existing volume (`local-lvm:vm-100-disk-0`, `storage` is the part
 * before `:`; absolute paths have none), a new allocation `STORAGE:SIZE_GiB`, `none` or `cdrom`.
 */
export function parseDriveFile(file: string): DriveSource {
  if (file === 'none') return { kind: 'none' };
  if (file === 'cdrom') return { kind: 'cdrom' };
  const allocation = /^([^/:\s]+):(\d+(?:\.\d+)?)$/.exec(file);
  if (allocation)
    return { kind: 'allocation', storage: allocation[1] ?? '', sizeGiB: Number(allocation[2]) };
  const volume = /^([^/:\s]+):(.+)$/.exec(file);
  if (volume) return { kind: 'volume', volume: file, storage: volume[1] };
  return { kind: 'volume', volume: file };
}

/** Proxmox storage ids (pve-storage `pve-storage-id`): a letter, then letters, digits, `-_.`. */
export function checkStorageId(key: string, storage: string): string {
  if (!/^[a-z][a-z0-9\-_.]*[a-z0-9]$/i.test(storage) && !/^[a-z]$/i.test(storage))
    throw new PropertyStringError(key, storage, 'is not a Proxmox storage id');
  return storage;
}

// ---- efidisk0 ---------------------------------------------------------------------------------

/** An `efidisk0` value. */
export interface EfiDiskConfig {
  file: string;
  efitype?: '2m' | '4m' | undefined;
  'pre-enrolled-keys'?: boolean | undefined;
  format?: (typeof DRIVE_FORMATS)[number] | undefined;
  sizeBytes?: number | undefined;
  extra?: Record<string, string> | undefined;
}

const EFI_KEYS = ['file', 'efitype', 'pre-enrolled-keys', 'format', 'size'] as const;

/** Reads an `efidisk0` value (`local-lvm:vm-100-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M`). */
export function parseEfiDisk(text: string): EfiDiskConfig {
  const all = parsePropertyString(text, { defaultKey: 'file' });
  const file = all.file ?? all.volume;
  if (file === undefined) throw new PropertyStringError('file', text, 'is missing');
  const disk: EfiDiskConfig = { file };
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(all)) {
    if (key === 'file' || key === 'volume') continue;
    if (key === 'efitype') disk.efitype = enumValue(key, value, ['2m', '4m'] as const);
    else if (key === 'pre-enrolled-keys') disk['pre-enrolled-keys'] = parseBoolean(value);
    else if (key === 'format') disk.format = enumValue(key, value, DRIVE_FORMATS);
    else if (key === 'size') disk.sizeBytes = parseSize(value);
    else extra[key] = value;
  }
  if (Object.keys(extra).length > 0) disk.extra = extra;
  return disk;
}

/** Writes an `efidisk0` value. */
export function formatEfiDisk(disk: EfiDiskConfig): string {
  if (disk.efitype !== undefined) enumValue('efitype', disk.efitype, ['2m', '4m'] as const);
  return formatPropertyString(
    {
      file: disk.file,
      efitype: disk.efitype,
      'pre-enrolled-keys': disk['pre-enrolled-keys'],
      format: disk.format,
      ...disk.extra,
      size: disk.sizeBytes === undefined ? undefined : formatSize(disk.sizeBytes),
    },
    { defaultKey: 'file', keys: EFI_KEYS },
  );
}

// ---- ipconfig[n] ------------------------------------------------------------------------------

/** An `ipconfig[n]` value: `ip` is a CIDR or `dhcp`; `ip6` a CIDR, `dhcp` or `auto` (SLAAC). */
export interface IpConfig {
  ip?: string | undefined;
  gw?: string | undefined;
  ip6?: string | undefined;
  gw6?: string | undefined;
}

const IP_KEYS = ['ip', 'gw', 'ip6', 'gw6'] as const;

/** Reads an `ipconfig[n]` value (`ip=10.0.0.5/24,gw=10.0.0.1,ip6=dhcp`). */
export function parseIpConfig(text: string): IpConfig {
  const entries = parsePropertyString(text, { keys: IP_KEYS });
  const config: IpConfig = {};
  for (const key of IP_KEYS) if (entries[key] !== undefined) config[key] = entries[key];
  return config;
}

/** Writes an `ipconfig[n]` value; a gateway without its address is refused as Proxmox does. */
export function formatIpConfig(config: IpConfig): string {
  if (config.gw !== undefined && (config.ip === undefined || config.ip === 'dhcp'))
    throw new PropertyStringError('gw', config.gw, 'needs a static ip');
  if (config.gw6 !== undefined && (config.ip6 === undefined || !config.ip6.includes('/')))
    throw new PropertyStringError('gw6', config.gw6, 'needs a static ip6');
  for (const key of IP_KEYS) {
    const value = config[key];
    if (value !== undefined && !/^[0-9A-Fa-f.:/]+$|^dhcp$|^auto$/.test(value))
      throw new PropertyStringError(key, value, 'is not an address, dhcp or auto');
  }
  return formatPropertyString({ ...config }, { keys: IP_KEYS });
}

// ---- memory -----------------------------------------------------------------------------------

/** Memory in MiB from `memory`: an integer on PVE 7.x, a property string `[current=]<int>` since 8.0. */
export function parseMemory(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const entries = parsePropertyString(value, { defaultKey: 'current', keys: ['current'] });
  if (entries.current === undefined) return undefined;
  return integerIn('memory', entries.current, 16, Number.MAX_SAFE_INTEGER);
}

/**
 * `memory` as the version expects it: a number for 7.x, the property string for 8.x and later
 * (written bare, `4096`, which is how Proxmox stores `current=4096`).
 */
export function formatMemory(mebibytes: number, version: string): string | number {
  checkIntegerIn('memory', mebibytes, 16, Number.MAX_SAFE_INTEGER);
  if (Number.parseInt(version, 10) < 8) return mebibytes;
  return formatPropertyString({ current: mebibytes }, { defaultKey: 'current', keys: ['current'] });
}

// ---- agent ------------------------------------------------------------------------------------

/** An `agent` value. */
export interface AgentConfig {
  enabled: boolean;
  'freeze-fs'?: boolean | undefined;
  fstrim_cloned_disks?: boolean | undefined;
  type?: 'virtio' | 'isa' | undefined;
}

const AGENT_KEYS = ['enabled', 'freeze-fs', 'fstrim_cloned_disks', 'type'] as const;

/** Reads `agent` (`1`, `enabled=1,fstrim_cloned_disks=1`); a missing value is disabled. */
export function parseAgent(value: string | number | undefined): AgentConfig {
  if (value === undefined) return { enabled: false };
  const entries = parsePropertyString(String(value), {
    defaultKey: 'enabled',
    // Aliases of freeze-fs accepted on read.
    keys: [...AGENT_KEYS, 'freeze-fs-on-backup', 'guest-fsfreeze'],
  });
  const agent: AgentConfig = { enabled: parseBoolean(entries.enabled) ?? false };
  const freeze =
    entries['freeze-fs'] ?? entries['freeze-fs-on-backup'] ?? entries['guest-fsfreeze'];
  if (freeze !== undefined) agent['freeze-fs'] = parseBoolean(freeze);
  if (entries.fstrim_cloned_disks !== undefined)
    agent.fstrim_cloned_disks = parseBoolean(entries.fstrim_cloned_disks);
  if (entries.type !== undefined)
    agent.type = enumValue('type', entries.type, ['virtio', 'isa'] as const);
  return agent;
}

/** Writes `agent` (`1` when only enabled). */
export function formatAgent(agent: AgentConfig): string {
  return formatPropertyString({ ...agent }, { defaultKey: 'enabled', keys: AGENT_KEYS });
}

// ---- cicustom ---------------------------------------------------------------------------------

/** A `cicustom` value: snippet volumes replacing the generated cloud-init files. */
export interface CiCustomConfig {
  user?: string | undefined;
  meta?: string | undefined;
  network?: string | undefined;
  vendor?: string | undefined;
}

const CICUSTOM_KEYS = ['meta', 'network', 'user', 'vendor'] as const;

/** Reads `cicustom` (`user=local:snippets/user.yaml,network=local:snippets/net.yaml`). */
export function parseCiCustom(text: string): CiCustomConfig {
  const entries = parsePropertyString(text, { keys: CICUSTOM_KEYS });
  const config: CiCustomConfig = {};
  for (const key of CICUSTOM_KEYS) if (entries[key] !== undefined) config[key] = entries[key];
  return config;
}

/** Writes `cicustom`; each volume must be `<storage>:snippets/<file>`. */
export function formatCiCustom(config: CiCustomConfig): string {
  for (const key of CICUSTOM_KEYS) {
    const value = config[key];
    if (value !== undefined && !/^[^/:\s]+:snippets\/[^\s]+$/.test(value))
      throw new PropertyStringError(
        key,
        value,
        'must be a snippet volume <storage>:snippets/<file>',
      );
  }
  return formatPropertyString({ ...config }, { keys: CICUSTOM_KEYS });
}

// ---- hotplug ----------------------------------------------------------------------------------

/** Hotplug features of the `hotplug` option. */
export type HotplugFeature = 'network' | 'disk' | 'cpu' | 'memory' | 'usb' | 'cloudinit';
const HOTPLUG_FEATURES: readonly HotplugFeature[] = [
  'network',
  'disk',
  'cpu',
  'memory',
  'usb',
  'cloudinit',
];
/** The default when `hotplug` is absent (or `1`). */
export const DEFAULT_HOTPLUG: readonly HotplugFeature[] = ['network', 'disk', 'usb'];

/** Reads `hotplug`: absent or `1` = default, `0` = none, else a comma list. */
export function parseHotplug(value: string | number | undefined): Set<HotplugFeature> {
  if (value === undefined || String(value) === '1') return new Set(DEFAULT_HOTPLUG);
  if (String(value) === '0' || String(value) === '') return new Set();
  const features = new Set<HotplugFeature>();
  for (const item of String(value).split(',')) {
    features.add(enumValue('hotplug', item.trim(), HOTPLUG_FEATURES));
  }
  return features;
}

/** Writes `hotplug` in Proxmox's order; no feature is `0`. */
export function formatHotplug(features: Iterable<HotplugFeature>): string {
  const set = new Set(features);
  const list = HOTPLUG_FEATURES.filter((feature) => set.has(feature));
  return list.length === 0 ? '0' : list.join(',');
}
