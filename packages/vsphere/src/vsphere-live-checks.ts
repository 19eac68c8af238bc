import type { CanResult, CapabilityId, Vm } from '@hvkit/core';

/**
 * Whether `capability` may be used on `vm` now, with vCenter's reason; undefined when the
 * declaration says it all. These are the rules the driver also enforces before it sends
 * anything (vcsim checks fewer of them than vCenter does).
 */
export function vsphereLiveCheck(
  vm: Vm,
  capability: CapabilityId,
): Omit<CanResult, 'capability'> | undefined {
  const no = (reason: string) => ({ ok: false, reason });
  const yes = (reason: string) => ({ ok: true, reason });
  const state = vm.powerState;
  const on = state === 'on';
  const off = state === 'off';
  const tools = vm.guest.toolsState;
  switch (capability) {
    case 'core.powerOn':
      if (vm.template) return no('templates cannot be powered on');
      if (on) return no('VM is already powered on');
      return yes(state === 'suspended' ? 'powering on resumes the suspended VM' : `VM is ${state}`);
    case 'core.powerOff':
      if (!on) return no(`VM is ${state}; only a running VM can be powered off`);
      return tools === 'running'
        ? yes('VM is on with running VMware Tools')
        : yes(`power off only: a guest shutdown needs running VMware Tools (tools are ${tools})`);
    case 'core.reboot':
      if (!on) return no(`VM is ${state}; only a running VM can be rebooted or reset`);
      return tools === 'running'
        ? yes('VM is on with running VMware Tools')
        : yes(`reset only: a guest reboot needs running VMware Tools (tools are ${tools})`);
    case 'core.suspend':
      if (on) return yes('VM is on and can be suspended');
      if (state === 'suspended') return yes('VM is suspended and can be resumed');
      return no(`VM is ${state}`);
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
      return vm.snapshots.roots.length > 0
        ? no('disks of a VM with snapshots cannot grow (they have delta disks)')
        : undefined;
    case 'lifecycle.linkedClone':
      return vm.snapshots.currentId !== null
        ? yes('VM has a current snapshot to link the clone to')
        : no('a linked clone needs a snapshot of the source');
    case 'lifecycle.templateDeploy':
      if (vm.template) return yes('VM is a template');
      return off
        ? yes('VM is off and can be marked as template')
        : no(`VM is ${state}; power it off to mark it as template`);
    case 'snapshots.quiesce':
      return on && tools === 'running'
        ? yes('VM is on with running VMware Tools')
        : no('quiescing needs a running VM with VMware Tools');
    case 'snapshots.memory':
      return on ? yes('VM is on') : no(`VM is ${state}; a memory snapshot needs a running VM`);
    default:
      return undefined;
  }
}
