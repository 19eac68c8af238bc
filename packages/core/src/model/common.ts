import { z } from 'zod';

/**
 * True when `value` holds a control character: C0 (tabs and newlines included), DEL or C1
 * (U+0080–U+009F, which holds terminal escapes such as CSI U+009B).
 */
export function hasControlCharacters(value: string): boolean {
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** Names of VMs, snapshots, pools and rules: printable, 1–80 characters, no control characters. */
export const NameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(80, 'must be at most 80 characters')
  .refine((value) => !hasControlCharacters(value), 'must not contain control characters')
  .refine((value) => value.trim() === value, 'must not start or end with white space');

/** Free text (descriptions, annotations): no NUL, at most 4096 characters. */
export const DescriptionSchema = z
  .string()
  .max(4096, 'must be at most 4096 characters')
  .refine((value) => !value.includes('\u0000'), 'must not contain NUL');

/** An identifier a backend gave us (datastore, network, moref, UUID): non-empty, no control characters. */
export const IdentifierSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(1024, 'must be at most 1024 characters')
  .refine((value) => !hasControlCharacters(value), 'must not contain control characters');

/** A reference to a VM: the provider instance's name and the backend's native id. */
export const VmRefSchema = z.object({
  /** Name of the provider instance (`provider.name`). */
  provider: IdentifierSchema,
  /** Native id: vSphere moref, libvirt UUID, Proxmox `node/vmid`, Mock `vm-…`. */
  id: IdentifierSchema,
});
/** See {@link VmRefSchema}. */
export type VmRef = z.infer<typeof VmRefSchema>;

/** Observed power state. `paused` is a libvirt/QEMU pause; `suspended` is saved to disk or RAM. */
export const PowerStateSchema = z.enum(['on', 'off', 'suspended', 'paused', 'unknown']);
/** See {@link PowerStateSchema}. */
export type PowerState = z.infer<typeof PowerStateSchema>;

/** Disk provisioning. `thick` allocates lazily-zeroed space up front; `eagerZeroedThick` zeroes it. */
export const ProvisioningSchema = z.enum(['thin', 'thick', 'eagerZeroedThick']);
/** See {@link ProvisioningSchema}. */
export type Provisioning = z.infer<typeof ProvisioningSchema>;

/** Disk controller bus. */
export const DiskBusSchema = z.enum(['scsi', 'virtio', 'sata', 'ide', 'nvme']);
/** See {@link DiskBusSchema}. */
export type DiskBus = z.infer<typeof DiskBusSchema>;

/** Disk image formats hvkit moves and converts. */
export const DiskFormatSchema = z.enum(['raw', 'qcow2', 'vmdk', 'vhdx']);
/** See {@link DiskFormatSchema}. */
export type DiskFormat = z.infer<typeof DiskFormatSchema>;

/** Virtual NIC models. */
export const NicModelSchema = z.enum(['virtio', 'e1000', 'e1000e', 'vmxnet3', 'rtl8139']);
/** See {@link NicModelSchema}. */
export type NicModel = z.infer<typeof NicModelSchema>;

/** Boot firmware. */
export const FirmwareSchema = z.enum(['bios', 'efi']);
/** See {@link FirmwareSchema}. */
export type Firmware = z.infer<typeof FirmwareSchema>;

/** A unicast MAC address in colon form, e.g. `52:54:00:12:34:56`. */
export const MacAddressSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, 'must be a MAC address like 52:54:00:12:34:56')
  .refine(
    (value) => (Number.parseInt(value.slice(0, 2), 16) & 1) === 0,
    'must be a unicast MAC address',
  )
  .transform((value) => value.toLowerCase());

const ipv4Octet = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const ipv4Pattern = `${ipv4Octet}(\\.${ipv4Octet}){3}`;

/** True for a dotted-quad IPv4 address. */
export function isIpv4(value: string): boolean {
  return new RegExp(`^${ipv4Pattern}$`).test(value);
}

/** True for an IPv6 address in any valid textual form (including `::` and embedded IPv4). */
export function isIpv6(value: string): boolean {
  if (value.includes('%')) return false;
  let text = value;
  let groupsNeeded = 8;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIpv4(tail)) return false;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  const groups = (part: string): string[] | null => {
    if (part === '') return [];
    const items = part.split(':');
    return items.every((item) => /^[0-9a-fA-F]{1,4}$/.test(item)) ? items : null;
  };
  const head = groups(halves[0] ?? '');
  if (!head) return false;
  if (halves.length === 1) return head.length === groupsNeeded;
  const rest = groups(halves[1] ?? '');
  if (!rest) return false;
  groupsNeeded -= 1;
  return head.length + rest.length <= groupsNeeded;
}

/** IPv4 address. */
export const Ipv4AddressSchema = z.string().refine(isIpv4, 'must be an IPv4 address');
/** IPv6 address. */
export const Ipv6AddressSchema = z.string().refine(isIpv6, 'must be an IPv6 address');

/** IPv4 address with prefix length, e.g. `10.0.0.5/24`. */
export const Ipv4CidrSchema = z.string().refine((value) => {
  const [address, prefix, extra] = value.split('/');
  return (
    extra === undefined &&
    address !== undefined &&
    isIpv4(address) &&
    prefix !== undefined &&
    /^(3[0-2]|[12]?\d)$/.test(prefix)
  );
}, 'must be an IPv4 address with prefix length, like 10.0.0.5/24');

/** IPv6 address with prefix length, e.g. `2001:db8::5/64`. */
export const Ipv6CidrSchema = z.string().refine((value) => {
  const [address, prefix, extra] = value.split('/');
  return (
    extra === undefined &&
    address !== undefined &&
    isIpv6(address) &&
    prefix !== undefined &&
    /^(12[0-8]|1[01]\d|[1-9]?\d)$/.test(prefix)
  );
}, 'must be an IPv6 address with prefix length, like 2001:db8::5/64');

/** The shape of tags, before the `__proto__` guard of {@link TagsSchema}. */
const TagRecordSchema = z.record(
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_.:/-]+$/, 'tag keys use letters, digits and _ . : / -'),
  z
    .string()
    .max(256)
    .refine((value) => !hasControlCharacters(value), 'must not contain control characters'),
);

/**
 * Tags: string keys and values. A `__proto__` key is refused rather than silently dropped (zod
 * skips it, and a plain object cannot hold it as a key).
 */
export const TagsSchema = z
  .custom<z.input<typeof TagRecordSchema>>(
    (value) => !(typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')),
    { message: 'the tag key __proto__ is reserved' },
  )
  .pipe(TagRecordSchema);

/** Provider-specific options, keyed by provider type and validated by that provider. */
export const ProviderOptionsSchema = z.record(z.string(), z.record(z.string(), z.unknown()));
/** See {@link ProviderOptionsSchema}. */
export type ProviderOptions = z.infer<typeof ProviderOptionsSchema>;
