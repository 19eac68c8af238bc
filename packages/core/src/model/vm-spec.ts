import { z } from 'zod';
import {
  DescriptionSchema,
  DiskBusSchema,
  DiskFormatSchema,
  FirmwareSchema,
  IdentifierSchema,
  Ipv4AddressSchema,
  Ipv4CidrSchema,
  Ipv6AddressSchema,
  Ipv6CidrSchema,
  isIpv4,
  isIpv6,
  MacAddressSchema,
  NameSchema,
  NicModelSchema,
  ProviderOptionsSchema,
  ProvisioningSchema,
  TagsSchema,
} from './common.js';

/** Largest disk hvkit accepts, in GiB (62 TiB, the vSphere VMDK limit). */
export const MAX_DISK_GIB = 63_488;
/** Largest memory hvkit accepts, in MiB (24 TiB). */
export const MAX_MEMORY_MIB = 24 * 1024 * 1024;

/** vCPU settings. Reservation and limit are in MHz. */
export const CpuSpecSchema = z
  .object({
    /** Total vCPUs. */
    count: z.int().min(1).max(768),
    /** Cores per virtual socket; must divide `count`. Default 1. */
    coresPerSocket: z.int().min(1).max(768).optional(),
    /** Allow adding vCPUs while running. Default false. Needs `resources.cpuHotAdd`. */
    hotAdd: z.boolean().optional(),
    /** Guaranteed MHz. Needs `resources.reservations`. */
    reservationMHz: z.int().min(0).max(10_000_000).optional(),
    /** Maximum MHz. Needs `resources.limits`. */
    limitMHz: z.int().min(1).max(10_000_000).optional(),
  })
  .strict()
  .superRefine((cpu, context) => {
    if (cpu.coresPerSocket !== undefined && cpu.count % cpu.coresPerSocket !== 0) {
      context.addIssue({
        code: 'custom',
        path: ['coresPerSocket'],
        message: `must divide count (${cpu.count})`,
      });
    }
    if (
      cpu.reservationMHz !== undefined &&
      cpu.limitMHz !== undefined &&
      cpu.reservationMHz > cpu.limitMHz
    ) {
      context.addIssue({
        code: 'custom',
        path: ['reservationMHz'],
        message: 'must not exceed limitMHz',
      });
    }
  });
/** See {@link CpuSpecSchema}. */
export type CpuSpec = z.infer<typeof CpuSpecSchema>;

/** Memory settings, in MiB. */
export const MemorySpecSchema = z
  .object({
    sizeMiB: z.int().min(4).max(MAX_MEMORY_MIB),
    /** Allow adding memory while running. Needs `resources.memoryHotAdd`. */
    hotAdd: z.boolean().optional(),
    /** Guaranteed MiB. Needs `resources.reservations`. */
    reservationMiB: z.int().min(0).max(MAX_MEMORY_MIB).optional(),
    /** Maximum MiB. Needs `resources.limits`. */
    limitMiB: z.int().min(1).max(MAX_MEMORY_MIB).optional(),
  })
  .strict()
  .superRefine((memory, context) => {
    if (memory.reservationMiB !== undefined && memory.reservationMiB > memory.sizeMiB) {
      context.addIssue({
        code: 'custom',
        path: ['reservationMiB'],
        message: 'must not exceed sizeMiB',
      });
    }
    if (
      memory.reservationMiB !== undefined &&
      memory.limitMiB !== undefined &&
      memory.reservationMiB > memory.limitMiB
    ) {
      context.addIssue({
        code: 'custom',
        path: ['reservationMiB'],
        message: 'must not exceed limitMiB',
      });
    }
  });
/** See {@link MemorySpecSchema}. */
export type MemorySpec = z.infer<typeof MemorySpecSchema>;

/** A disk to create. */
export const DiskSpecSchema = z
  .object({
    /** Optional label, unique within the VM. */
    name: NameSchema.optional(),
    /** Size in GiB; fractions allowed down to 1 MiB. */
    sizeGiB: z
      .number()
      .positive()
      .max(MAX_DISK_GIB)
      .refine((value) => Number.isInteger(value * 1024), 'must be a whole number of MiB'),
    /** Default `thin`. `thick` and `eagerZeroedThick` need `storage.thick`. */
    provisioning: ProvisioningSchema.optional(),
    bus: DiskBusSchema.optional(),
    /** Datastore or pool. Needs `storage.storagePools`. */
    storage: IdentifierSchema.optional(),
    /** Named storage policy. Needs `storage.storagePolicies`. */
    storagePolicy: IdentifierSchema.optional(),
    format: DiskFormatSchema.optional(),
    /** Copy contents from an imported image (`importImage` / `importDisk`) instead of a blank disk. */
    sourceImageId: IdentifierSchema.optional(),
  })
  .strict();
/** See {@link DiskSpecSchema}. */
export type DiskSpec = z.infer<typeof DiskSpecSchema>;

/** Static IPv4 addressing. */
export const StaticIpv4Schema = z
  .object({ address: Ipv4CidrSchema, gateway: Ipv4AddressSchema.optional() })
  .strict();
/** Static IPv6 addressing. */
export const StaticIpv6Schema = z
  .object({ address: Ipv6CidrSchema, gateway: Ipv6AddressSchema.optional() })
  .strict();

/** A NIC to create. */
export const NicSpecSchema = z
  .object({
    /** Network, port group, bridge or distributed port group name. */
    network: IdentifierSchema,
    /** What `network` names. Default `network`. `bridge` needs `network.bridge`; `distributed` needs `network.distributedSwitch`. */
    connection: z.enum(['network', 'bridge', 'distributed']).optional(),
    model: NicModelSchema.optional(),
    /** 802.1Q VLAN id. Needs `network.vlan`. */
    vlan: z.int().min(1).max(4094).optional(),
    mac: MacAddressSchema.optional(),
    /** `dhcp` needs `network.dhcp`; an address needs `network.staticIp`. Omitted: the guest decides. */
    ipv4: z.union([z.literal('dhcp'), z.literal('none'), StaticIpv4Schema]).optional(),
    ipv6: z
      .union([z.literal('dhcp'), z.literal('slaac'), z.literal('none'), StaticIpv6Schema])
      .optional(),
    /** DNS servers and search domains for static addressing. */
    dns: z
      .object({
        servers: z
          .array(
            z.string().refine((value) => isIpv4(value) || isIpv6(value), 'must be an IP address'),
          )
          .max(8),
        search: z
          .array(z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a domain name'))
          .max(8)
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
/** See {@link NicSpecSchema}. */
export type NicSpec = z.infer<typeof NicSpecSchema>;

/** A cloud image to download. Needs `images.cloudImageDownload`. */
export const UrlImageSourceSchema = z
  .object({
    kind: z.literal('url'),
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    format: DiskFormatSchema.optional(),
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256')
      .optional(),
  })
  .strict();

/** An item of a content library. Needs `images.contentLibrary`. */
export const ContentLibrarySourceSchema = z
  .object({
    kind: z.literal('content-library'),
    library: IdentifierSchema,
    item: IdentifierSchema,
  })
  .strict();

/** Where a VM's boot disk (or whole VM, for templates) comes from. */
export const ImageSourceSchema = z.discriminatedUnion('kind', [
  /** Deploy from a template: its id or name. Needs `lifecycle.templateDeploy`. */
  z.object({ kind: z.literal('template'), template: IdentifierSchema }).strict(),
  /** An image already imported (`importImage`, `importDisk`). */
  z.object({ kind: z.literal('image'), imageId: IdentifierSchema }).strict(),
  UrlImageSourceSchema,
  ContentLibrarySourceSchema,
]);
/** See {@link ImageSourceSchema}. */
export type ImageSource = z.infer<typeof ImageSourceSchema>;

const YAML_LIMIT = 64 * 1024;
const CloudInitDocumentSchema = z.union([
  z
    .string()
    .max(YAML_LIMIT, 'must be at most 64 KiB')
    .refine((value) => !value.includes('\u0000'), 'must not contain NUL'),
  z.record(z.string(), z.unknown()),
]);

/** cloud-init data. Strings are passed as they are; objects are serialised as YAML-compatible JSON. */
export const CloudInitSchema = z
  .object({
    userData: z
      .string()
      .max(YAML_LIMIT, 'must be at most 64 KiB')
      .refine((value) => !value.includes('\u0000'), 'must not contain NUL')
      .optional(),
    metaData: CloudInitDocumentSchema.optional(),
    networkConfig: CloudInitDocumentSchema.optional(),
  })
  .strict();
/** See {@link CloudInitSchema}. */
export type CloudInit = z.infer<typeof CloudInitSchema>;

const HostnameSchema = z
  .string()
  .regex(
    /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/,
    'must be a host name: letters, digits and inner hyphens, at most 63',
  );

/** Hypervisor-side guest customization. Needs `guest.customization`. */
export const CustomizationSchema = z
  .object({
    hostname: HostnameSchema.optional(),
    domain: z
      .string()
      .regex(/^[A-Za-z0-9.-]{1,253}$/, 'must be a domain name')
      .optional(),
    timeZone: z
      .string()
      .regex(/^[A-Za-z0-9_+\-/]{1,64}$/, 'must be a time zone name like Europe/Paris')
      .optional(),
  })
  .strict();
/** See {@link CustomizationSchema}. */
export type Customization = z.infer<typeof CustomizationSchema>;

/** Where to run the VM. */
export const PlacementSchema = z
  .object({
    host: IdentifierSchema.optional(),
    cluster: IdentifierSchema.optional(),
    /** Needs `advanced.resourcePools`. */
    resourcePool: IdentifierSchema.optional(),
    folder: IdentifierSchema.optional(),
    /** Default storage for disks that name none. Needs `storage.storagePools`. */
    storage: IdentifierSchema.optional(),
  })
  .strict();
/** See {@link PlacementSchema}. */
export type Placement = z.infer<typeof PlacementSchema>;

/** The desired VM. Validated before any provider call; invalid input raises `InvalidSpecError`. */
export const VmSpecSchema = z
  .object({
    name: NameSchema,
    description: DescriptionSchema.optional(),
    /** Guest OS family; providers map it to their own guest ids. Default `linux`. */
    guestOs: z.enum(['linux', 'windows', 'other']).optional(),
    cpu: CpuSpecSchema,
    memory: MemorySpecSchema,
    disks: z.array(DiskSpecSchema).max(60).optional(),
    nics: z.array(NicSpecSchema).max(10).optional(),
    image: ImageSourceSchema.optional(),
    firmware: FirmwareSchema.optional(),
    /** Needs `firmware: 'efi'`. */
    secureBoot: z.boolean().optional(),
    cloudInit: CloudInitSchema.optional(),
    customization: CustomizationSchema.optional(),
    placement: PlacementSchema.optional(),
    tags: TagsSchema.optional(),
    /** Power state after creation. Default `off`. */
    powerState: z.enum(['on', 'off']).optional(),
    providerOptions: ProviderOptionsSchema.optional(),
  })
  .strict()
  .superRefine((spec, context) => {
    if (spec.secureBoot && spec.firmware !== 'efi') {
      context.addIssue({ code: 'custom', path: ['secureBoot'], message: "needs firmware: 'efi'" });
    }
    const diskNames = new Set<string>();
    spec.disks?.forEach((disk, index) => {
      if (disk.name === undefined) return;
      if (diskNames.has(disk.name)) {
        context.addIssue({
          code: 'custom',
          path: ['disks', index, 'name'],
          message: `duplicate disk name ${JSON.stringify(disk.name)}`,
        });
      }
      diskNames.add(disk.name);
    });
    const macs = new Set<string>();
    spec.nics?.forEach((nic, index) => {
      if (nic.mac === undefined) return;
      if (macs.has(nic.mac)) {
        context.addIssue({
          code: 'custom',
          path: ['nics', index, 'mac'],
          message: `duplicate MAC ${nic.mac}`,
        });
      }
      macs.add(nic.mac);
    });
  });
/** The validated, normalised spec. */
export type VmSpec = z.infer<typeof VmSpecSchema>;
/** What callers write (before defaults and normalisation). */
export type VmSpecInput = z.input<typeof VmSpecSchema>;
