import type { CanResult, CapabilityId } from '@hvkit/core';
import { toolsStateOf } from './mock-guest.js';
import type { MockVmRecord } from './mock-state.js';

/** vSphere fault tolerance supports up to 8 vCPUs. */
export const MAX_FAULT_TOLERANCE_VCPUS = 8;

/** Capabilities that only read a VM (or share it), so a running task does not block them. */
const READS =
  /^(core\.describe|core\.taskStatus|core\.consoleUrl|guest\.|monitoring\.|lifecycle\.(full|linked)Clone|migration\.)/;

/**
 * Whether `capability` may be used on `vm` now, with the reason a real backend (vSphere) would
 * give; undefined when the declaration says it all. `lockHolder` is the task holding the VM
 * exclusively, if any: every change waits for it.
 */
export function liveCheckOf(
  vm: MockVmRecord,
  capability: CapabilityId,
  lockHolder: string | undefined,
): Omit<CanResult, 'capability'> | undefined {
  const no = (reason: string) => ({ ok: false, reason });
  const yes = (reason: string) => ({ ok: true, reason });
  const state = vm.powerState;
  const on = state === 'on';
  const off = state === 'off';
  const tools = toolsStateOf(vm);
  if (lockHolder !== undefined && !READS.test(capability)) {
    return no(`VM is locked by task ${lockHolder}; retry when it has finished`);
  }
  switch (capability) {
    case 'core.powerOn':
      if (vm.template) return no('templates cannot be powered on');
      if (on) return no('VM is already powered on');
      return yes(state === 'suspended' ? 'powering on resumes the suspended VM' : `VM is ${state}`);
    case 'core.powerOff':
      return on ? yes('VM is on') : no(`VM is ${state}; only a running VM can be powered off`);
    case 'core.reboot':
      if (!on) return no(`VM is ${state}; only a running VM can be rebooted or reset`);
      return tools === 'running'
        ? yes('VM is on with running guest tools')
        : yes(`reset only: a graceful reboot needs running guest tools (tools are ${tools})`);
    case 'core.suspend':
      if (on) return yes('VM is on and can be suspended');
      if (state === 'suspended') return yes('VM is suspended and can be resumed');
      return no(`VM is ${state}`);
    case 'core.consoleUrl':
      return on ? yes('VM is on') : no(`VM is ${state}; the console needs a running VM`);
    case 'core.reconfigure':
      return vm.template ? no('templates cannot be reconfigured') : undefined;
    case 'resources.cpu':
    case 'resources.memory': {
      const part = capability === 'resources.cpu' ? vm.cpu : vm.memory;
      const what = capability === 'resources.cpu' ? 'vCPU count' : 'memory size';
      if (vm.template) return no('templates cannot be reconfigured');
      if (off) return yes('VM is off: any change applies');
      if (!on) return no(`a ${state} VM cannot change its ${what}; power it off first`);
      if (!part.hotAdd) {
        return no(`a running VM without hot-add cannot change its ${what}; power it off first`);
      }
      return yes(`VM is on with hot-add: the ${what} can grow now, not shrink`);
    }
    case 'resources.cpuHotAdd':
    case 'resources.memoryHotAdd': {
      const part = capability === 'resources.cpuHotAdd' ? vm.cpu : vm.memory;
      if (off) return yes('hot-add can be switched while the VM is off');
      return part.hotAdd
        ? yes('hot-add is enabled')
        : no('hot-add is disabled; enable it while the VM is off');
    }
    case 'storage.diskExpand':
      return vm.snapshots.length > 0 ? no('disks of a VM with snapshots cannot grow') : undefined;
    case 'lifecycle.linkedClone':
      if (vm.template || vm.currentSnapshotId !== null)
        return yes(vm.template ? 'source is a template' : 'VM has a current snapshot');
      return no('a linked clone needs a snapshot or a template source');
    case 'lifecycle.templateDeploy':
      if (vm.template) return yes('VM is a template');
      return off
        ? yes('VM is off and can be marked as template')
        : no(`VM is ${state}; markAsTemplate needs it off`);
    case 'snapshots.create':
      if (vm.template) return no('templates cannot take snapshots');
      if (vm.policies.faultTolerance?.enabled)
        return no('fault-tolerant VMs cannot take snapshots');
      return undefined;
    case 'snapshots.memory':
      if (vm.template) return no('templates cannot take snapshots');
      return on ? yes('VM is on') : no(`VM is ${state}; a memory snapshot needs a running VM`);
    case 'snapshots.quiesce':
      return tools === 'running'
        ? yes('guest tools are running')
        : no(`quiescing needs running guest tools (tools are ${tools})`);
    case 'snapshots.revert':
    case 'snapshots.delete':
      return vm.snapshots.length > 0 ? undefined : no('VM has no snapshots');
    case 'guest.agent':
    case 'guest.monitoring':
      return tools === 'running' ? yes('guest tools are running') : no(`guest tools are ${tools}`);
    case 'advanced.ha':
    case 'advanced.drs':
      return vm.template ? no('policies apply to VMs, not templates') : undefined;
    case 'advanced.faultTolerance':
      if (vm.template) return no('policies apply to VMs, not templates');
      if (vm.cpu.count > MAX_FAULT_TOLERANCE_VCPUS)
        return no(`fault tolerance supports at most ${MAX_FAULT_TOLERANCE_VCPUS} vCPUs`);
      if (vm.snapshots.length > 0)
        return no('delete the snapshots before turning on fault tolerance');
      return undefined;
    case 'migration.diskExport':
      if (!off && vm.currentSnapshotId === null)
        return no(`VM is ${state}; power it off or take a snapshot to export its disks`);
      return undefined;
    default:
      return undefined;
  }
}
