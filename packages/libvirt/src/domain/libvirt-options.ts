import { hasControlCharacters, InvalidSpecError } from '@hvkit/core';
import { z } from 'zod';

const HostPathSchema = z
  .string()
  .min(2)
  .max(4096)
  .startsWith('/', 'must be an absolute path on the libvirt host')
  .refine((value) => !hasControlCharacters(value), 'must not contain control characters');

/**
 * `providerOptions.libvirt` of a VmSpec: what only libvirt has. Every value ends up in the domain
 * XML through the one escape function; paths are host paths, never interpreted by a shell.
 */
export const LibvirtVmOptionsSchema = z
  .object({
    /**
     * Hypervisor: `kvm` (hardware-assisted) or `qemu` (TCG emulation, slow but works without
     * /dev/kvm). Default: the provider's `defaults.domainType`, else `kvm` (`validate()` warns
     * when the host has no KVM).
     */
    domainType: z.enum(['qemu', 'kvm']).optional(),
    /**
     * QEMU machine type: `q35` (default; PCIe, AHCI, no IDE), `pc` (i440fx; IDE) or a versioned
     * one such as `pc-q35-7.2` / `pc-i440fx-7.2`.
     */
    machine: z
      .string()
      .regex(
        /^(q35|pc|pc-q35-[0-9.]+|pc-i440fx-[0-9.]+)$/,
        'must be q35, pc, pc-q35-<version> or pc-i440fx-<version>',
      )
      .optional(),
    /** Direct kernel boot: the kernel image on the host. The disks are then not booted from. */
    kernel: HostPathSchema.optional(),
    /** Direct kernel boot: the initrd on the host. Needs `kernel`. */
    initrd: HostPathSchema.optional(),
    /** Direct kernel boot: the kernel command line. Needs `kernel`. */
    cmdline: z
      .string()
      .max(4096)
      .refine((value) => !hasControlCharacters(value), 'must not contain control characters')
      .optional(),
    /**
     * vCPU maximum for `cpu.hotAdd` (`<vcpu current=count>max</vcpu>`). Default: twice the count
     * (at most 768), rounded down to whole sockets of `coresPerSocket`.
     */
    maxCpuCount: z.int().min(1).max(768).optional(),
    /**
     * Memory maximum in MiB for `memory.hotAdd` (`<memory>` = maximum, `<currentMemory>` = size;
     * the balloon grows and shrinks between them). Default: twice `sizeMiB`.
     */
    maxMemoryMiB: z
      .int()
      .min(4)
      .max(24 * 1024 * 1024)
      .optional(),
  })
  .strict()
  .superRefine((options, context) => {
    for (const key of ['initrd', 'cmdline'] as const) {
      if (options[key] !== undefined && options.kernel === undefined)
        context.addIssue({ code: 'custom', path: [key], message: 'needs kernel' });
    }
  });
/** See {@link LibvirtVmOptionsSchema}. */
export type LibvirtVmOptions = z.infer<typeof LibvirtVmOptionsSchema>;

/**
 * Parses `providerOptions.libvirt` of a spec (absent: `{}`).
 *
 * @throws InvalidSpecError with paths under `providerOptions.libvirt`.
 */
export function parseLibvirtOptions(spec: {
  providerOptions?: Record<string, Record<string, unknown>> | undefined;
}): LibvirtVmOptions {
  const raw = spec.providerOptions?.libvirt;
  if (raw === undefined) return {};
  const parsed = LibvirtVmOptionsSchema.safeParse(raw);
  if (!parsed.success)
    throw InvalidSpecError.fromZod(parsed.error, {
      subject: 'spec',
      pathPrefix: ['providerOptions', 'libvirt'],
    });
  return parsed.data;
}
