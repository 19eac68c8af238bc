/**
 * hvkit's side of the operations through the whole provider (`createProvider` over the libvirt
 * driver: input validation, the driver, output validation) instead of bare `Virsh.run`. Loaded
 * only with `--via provider` (a dynamic import), so the default run does not depend on it.
 *
 * The driver is built on the bench's counting `Virsh`, not by `createLibvirtProvider` (which makes
 * its own SSH connection), so the OpenSSH sides can replay exactly the execs each call made.
 * Operations in turn: `get` of each bench domain three times out of four, then `list` with the
 * run's name prefix (which reads every domain of the bed, as `listDomains` does). Power actions
 * are left out: powering on boots a guest under TCG, not a cheap operation.
 */
import { createProvider, systemClock } from '@hvkit/core';
import type { SshConnection } from '@hvkit/ssh';
import { LibvirtDriver } from '../../packages/libvirt/src/libvirt-driver.js';
import type { Virsh } from '../../packages/libvirt/src/virsh/virsh.js';
import type { HvkitOp } from './ops.js';

/** An {@link HvkitOp} through the provider; `uuids` are the bench domains' ids. */
export function providerOp(options: {
  virsh: Virsh;
  ssh: SshConnection;
  uuids: readonly string[];
  prefix: string;
}): HvkitOp {
  const provider = createProvider(
    new LibvirtDriver({
      name: 'libvirt',
      virsh: options.virsh,
      host: 'bed',
      endpoint: 'bench',
      defaults: {},
      clock: systemClock,
      ssh: options.ssh,
      // The bench owns and closes the connection.
      close: async () => undefined,
    }),
  );
  return async (index) => {
    if (index % 4 === 3) {
      let count = 0;
      for await (const _vm of provider.list({ namePrefix: options.prefix })) count++;
      if (count !== options.uuids.length)
        throw new Error(`provider.list found ${count} of ${options.uuids.length} bench domains`);
      return undefined;
    }
    const id = options.uuids[Math.floor(index / 4) % options.uuids.length] ?? '';
    const vm = await provider.get({ provider: 'libvirt', id });
    if (vm.ref.id !== id) throw new Error(`provider.get(${id}) returned ${vm.ref.id}`);
    return undefined;
  };
}
