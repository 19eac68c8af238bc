import type { CanResult, CapabilityId, Vm } from '@hvkit/core';

/**
 * Whether `capability` may be used on `vm` now, and why; undefined when the declaration says it
 * all. These are the rules the driver enforces before it runs anything, so `can()` and the
 * operation never disagree.
 */
export function libvirtLiveCheck(
  vm: Vm,
  capability: CapabilityId,
): Omit<CanResult, 'capability'> | undefined {
  const no = (reason: string) => ({ ok: false, reason });
  const yes = (reason: string) => ({ ok: true, reason });
  const state = vm.powerState;
  const on = state === 'on';
  const off = state === 'off';
  const agent = vm.guest.toolsState === 'running';
  switch (capability) {
    case 'core.powerOn':
      if (vm.template) return no('templates are never started');
      if (on) return no('the domain is already running');
      return yes(
        state === 'suspended' ? 'powering on resumes the suspended domain' : `domain is ${state}`,
      );
    case 'core.powerOff':
      if (!on) return no(`domain is ${state}; only a running domain can be powered off`);
      return agent
        ? yes('domain runs with a connected QEMU guest agent')
        : yes(
            'power off only: a graceful shutdown needs the QEMU guest agent, which is not connected',
          );
    case 'core.reboot':
      if (!on) return no(`domain is ${state}; only a running domain can be rebooted or reset`);
      return agent
        ? yes('domain runs with a connected QEMU guest agent')
        : yes('reset only: a graceful reboot needs the QEMU guest agent, which is not connected');
    case 'core.suspend':
      if (on) return yes('domain is running and can be suspended');
      if (state === 'suspended' || state === 'paused')
        return yes(`domain is ${state} and can be resumed`);
      return no(`domain is ${state}`);
    case 'lifecycle.templateDeploy':
      if (vm.template) return yes('domain is a template');
      return off
        ? yes('domain is shut off and can be marked as template')
        : no(`domain is ${state}; shut it off to mark it as template`);
    case 'lifecycle.linkedClone':
      return vm.template
        ? yes('domain is a template, whose volumes can back linked clones')
        : no('linked clones are made from templates only: a backing file must never change');
    default:
      return undefined;
  }
}
