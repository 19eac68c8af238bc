/**
 * The VirtualMachine property paths the driver asks the PropertyCollector for. Sizes below were
 * measured on vcsim 0.24 (`__fixtures__/record.sh`), which indents its XML and repeats the
 * `XMLSchema-instance` namespace declaration on every `<val>`: each extra path costs about
 * 150–170 bytes per VM there, whatever its value.
 */

/**
 * The slim set for `list`: what core's `Vm` requires, what `ListQuery` filters on, and
 * `config.uuid` (kept in `raw`, the identity that survives a re-register). Measured on vcsim:
 * about 1,500 B per VM (2,000 B for a VM with hot-add flags and a guest IP; unset properties are
 * not sent), against 220 B for `name` alone. A VM mapped from this set has no disks, NICs,
 * snapshots or tags (see `toVm`).
 *
 * Left out on purpose (optional in `Vm`, about 165 B each): `config.guestId`, `runtime.host`,
 * `config.annotation`, allocations, firmware. `guest.toolsStatus` stands in for
 * `guest.toolsRunningStatus` because it alone tells all four tool states apart.
 */
export const VM_SUMMARY_PROPERTIES = [
  'name',
  'runtime.powerState',
  'config.template',
  'config.uuid',
  'config.hardware.numCPU',
  'config.hardware.numCoresPerSocket',
  'config.hardware.memoryMB',
  'config.cpuHotAddEnabled',
  'config.memoryHotAddEnabled',
  'guest.toolsStatus',
  'guest.ipAddress',
] as const;

/**
 * The path that holds hvkit's tags (`guestinfo.hvkit.tags` in extraConfig). Not in the summary
 * set: extraConfig carries cloud-init data and whatever else the VM was given (kilobytes), and
 * vcsim 0.24 refuses the keyed form `config.extraConfig["guestinfo.hvkit.tags"]` with
 * `InvalidProperty`. A driver that filters a listing by tags adds this path to the summary set
 * for that call; `toVm` reads tags whenever the path is present.
 */
export const VM_TAGS_PROPERTY = 'config.extraConfig';

/**
 * The full set for `get`. Measured on vcsim: about 9–12 KB per VM, most of it
 * `config.hardware.device`. Sub-paths of `config` and `guest` instead of the whole objects keep
 * out files, tools, boot options, ipStack and screen data that `Vm` does not use.
 */
export const VM_DETAIL_PROPERTIES = [
  'name',
  'runtime.powerState',
  'runtime.host',
  'config.template',
  'config.uuid',
  'config.guestId',
  'config.createDate',
  'config.annotation',
  'config.firmware',
  'config.hardware',
  'config.cpuAllocation',
  'config.memoryAllocation',
  'config.cpuHotAddEnabled',
  'config.memoryHotAddEnabled',
  VM_TAGS_PROPERTY,
  'guest.toolsRunningStatus',
  'guest.toolsStatus',
  'guest.hostName',
  'guest.guestFullName',
  'guest.ipAddress',
  'guest.net',
  'guest.disk',
  'snapshot',
  'resourcePool',
  'parent',
  'datastore',
] as const;

/** One path of {@link VM_SUMMARY_PROPERTIES} or {@link VM_DETAIL_PROPERTIES}. */
export type VmPropertyPath =
  | (typeof VM_SUMMARY_PROPERTIES)[number]
  | (typeof VM_DETAIL_PROPERTIES)[number];
