/**
 * Linked clones through the real provider and driver against the local fake vim25 server: the
 * CloneVM_Task request (snapshot + createNewChildDiskBacking, in vim25 element order) and the
 * clone read back with a copy-on-write parent disk. vcsim accepts the same request but ignores
 * snapshot and diskMoveType and makes a full copy, so it cannot prove either half.
 *
 * The shipped declaration gates `mode: 'linked'` (lifecycle.linkedClone is unsupported today);
 * these tests declare it on core's provider over the real driver to reach the code.
 */
import { ConflictError, type Provider } from '@hvkit/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  elementOf,
  type FakeRequest,
  FakeVimServer,
  fakeProvider,
  loadFixture,
  sessionHandlers,
  soapResponse,
  watchHandlers,
} from './fake-vim-server.js';

const SOURCE = { provider: 'vc', id: 'vm-42' };
const INVENTORY = loadFixture('synthetic-vcenter-RetrievePropertiesEx-inventory.res.xml');
const CLONE_DETAIL = loadFixture('synthetic-vcenter-RetrievePropertiesEx-VM-linked-clone.res.xml');
const TASK_RUNNING = loadFixture('synthetic-vcenter-RetrievePropertiesEx-Task-running.res.xml');
const HOST = loadFixture('synthetic-vcenter-RetrievePropertiesEx-HostSystem-parent.res.xml');
const CLUSTER = loadFixture(
  'synthetic-vcenter-RetrievePropertiesEx-Cluster-configurationEx.res.xml',
);

const servers: FakeVimServer[] = [];
const providers: Provider[] = [];

afterEach(async () => {
  for (const provider of providers.splice(0)) await provider.close();
  for (const server of servers.splice(0)) await server.close();
});

async function cloneServer(source: 'with-snapshots' | 'without-snapshots') {
  const sourceProps = loadFixture(`synthetic-vcenter-RetrievePropertiesEx-VM-${source}.res.xml`);
  const server = await FakeVimServer.start({
    ...sessionHandlers(),
    ...watchHandlers(),
    RetrievePropertiesEx: (request: FakeRequest) => {
      if (request.body.includes('<obj type="ContainerView">')) return INVENTORY;
      // The task watch reads Task.info once first; still running, it then waits for pushes.
      if (request.body.includes('<obj type="Task">')) return TASK_RUNNING;
      if (request.body.includes('<obj type="VirtualMachine">vm-42</obj>')) return sourceProps;
      if (request.body.includes('<obj type="VirtualMachine">vm-2001</obj>')) return CLONE_DETAIL;
      // get() also reads the HA/DRS policies on the VM's cluster.
      if (request.body.includes('<obj type="HostSystem">host-10</obj>')) return HOST;
      if (request.body.includes('<obj type="ClusterComputeResource">domain-c7</obj>'))
        return CLUSTER;
      throw new Error(`unexpected RetrievePropertiesEx: ${request.body}`);
    },
    CreateContainerView: loadFixture('CreateContainerView.res.xml', 'soap'),
    DestroyView: loadFixture('DestroyView.res.xml'),
    FindChild: loadFixture('synthetic-vcenter-FindChild-none.res.xml'),
    CloneVM_Task: loadFixture('synthetic-vcenter-CloneVM_Task.res.xml'),
    WaitForUpdatesEx: loadFixture(
      'synthetic-vcenter-WaitForUpdatesEx-CloneVM_Task-success.res.xml',
    ),
    Logout: soapResponse('Logout'),
  });
  servers.push(server);
  const provider = fakeProvider(server, { declare: { 'lifecycle.linkedClone': 'supported' } });
  providers.push(provider);
  return { server, provider };
}

/** The `<spec>` element of the CloneVM_Task request, one element per line for the snapshot. */
function specOf(server: FakeVimServer): string {
  const calls = server.calls('CloneVM_Task');
  expect(calls).toHaveLength(1);
  const spec = elementOf(calls[0]?.body ?? '', 'spec') ?? '';
  return spec.replaceAll('><', '>\n<');
}

describe('a linked clone through the provider', () => {
  it('sends CloneVM_Task with the current snapshot and createNewChildDiskBacking, in vim25 order', async () => {
    const { server, provider } = await cloneServer('with-snapshots');
    const clone = await provider.clone(SOURCE, { name: 'web-01-linked', mode: 'linked' });

    const call = server.calls('CloneVM_Task')[0];
    expect(call?.target).toEqual({ type: 'VirtualMachine', value: 'vm-42' });
    expect(call?.body).toContain('<folder type="Folder">group-v4</folder>');
    expect(call?.body).toContain('<name>web-01-linked</name>');
    // VirtualMachineCloneSpec: location, template, config?, customization?, powerOn, snapshot;
    // VirtualMachineRelocateSpec: folder?, datastore?, diskMoveType, pool?, host?.
    expect(specOf(server)).toMatchInlineSnapshot(`
      "<spec>
      <location>
      <diskMoveType>createNewChildDiskBacking</diskMoveType>
      </location>
      <template>false</template>
      <config>
      <deviceChange>
      <operation>edit</operation>
      <device xsi:type="VirtualVmxnet3">
      <key>4000</key>
      <deviceInfo>
      <label>Network adapter 1</label>
      <summary>VM Network</summary>
      </deviceInfo>
      <backing xsi:type="VirtualEthernetCardNetworkBackingInfo">
      <deviceName>VM Network</deviceName>
      <useAutoDetect>false</useAutoDetect>
      <network type="Network">network-13</network>
      </backing>
      <connectable>
      <migrateConnect>unset</migrateConnect>
      <startConnected>true</startConnected>
      <allowGuestControl>true</allowGuestControl>
      <connected>true</connected>
      <status>ok</status>
      </connectable>
      <controllerKey>100</controllerKey>
      <unitNumber>7</unitNumber>
      <addressType>generated</addressType>
      <wakeOnLanEnabled>true</wakeOnLanEnabled>
      </device>
      </deviceChange>
      </config>
      <powerOn>false</powerOn>
      <snapshot type="VirtualMachineSnapshot">snapshot-7</snapshot>
      </spec>"
    `);
    expect(clone.ref).toEqual({ provider: 'vc', id: 'vm-2001' });
    expect(clone.name).toBe('web-01-linked');
    expect(clone.powerState).toBe('off');
    expect(clone.disks).toHaveLength(1);
    expect(clone.disks[0]?.parentId).toBe('[ds-nfs-01] web-01/web-01-000001.vmdk');
    expect(server.unhandled).toEqual([]);
    await vi.waitFor(() => expect(server.calls('DestroyPropertyCollector')).toHaveLength(1));
  });

  it('clones from a named snapshot, placed on a cluster and host, with the pool and host after diskMoveType', async () => {
    const { server, provider } = await cloneServer('with-snapshots');
    await provider.clone(SOURCE, {
      name: 'web-01-linked',
      mode: 'linked',
      snapshotId: 'snapshot-6',
      placement: { cluster: 'Cluster', host: 'esx-01.corp.example' },
      description: 'from <base> & co',
    });
    expect(specOf(server)).toMatchInlineSnapshot(`
      "<spec>
      <location>
      <diskMoveType>createNewChildDiskBacking</diskMoveType>
      <pool type="ResourcePool">resgroup-8</pool>
      <host type="HostSystem">host-10</host>
      </location>
      <template>false</template>
      <config>
      <annotation>from &lt;base&gt; &amp; co</annotation>
      <deviceChange>
      <operation>edit</operation>
      <device xsi:type="VirtualVmxnet3">
      <key>4000</key>
      <deviceInfo>
      <label>Network adapter 1</label>
      <summary>VM Network</summary>
      </deviceInfo>
      <backing xsi:type="VirtualEthernetCardNetworkBackingInfo">
      <deviceName>VM Network</deviceName>
      <useAutoDetect>false</useAutoDetect>
      <network type="Network">network-13</network>
      </backing>
      <connectable>
      <migrateConnect>unset</migrateConnect>
      <startConnected>true</startConnected>
      <allowGuestControl>true</allowGuestControl>
      <connected>true</connected>
      <status>ok</status>
      </connectable>
      <controllerKey>100</controllerKey>
      <unitNumber>7</unitNumber>
      <addressType>generated</addressType>
      <wakeOnLanEnabled>true</wakeOnLanEnabled>
      </device>
      </deviceChange>
      </config>
      <powerOn>false</powerOn>
      <snapshot type="VirtualMachineSnapshot">snapshot-6</snapshot>
      </spec>"
    `);
  });

  it('a linked clone of a VM without snapshots is ConflictError invalid-state and sends no CloneVM_Task', async () => {
    const { server, provider } = await cloneServer('without-snapshots');
    const error = await provider.clone(SOURCE, { name: 'web-01-linked', mode: 'linked' }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(ConflictError.isInstance(error)).toBe(true);
    expect((error as ConflictError).reason).toBe('invalid-state');
    expect(server.calls('CloneVM_Task')).toEqual([]);
    // Only reads happened: no task, no mutation of any kind.
    expect(
      server
        .methods()
        .filter(
          (method) =>
            ![
              'RetrieveServiceContent',
              'Login',
              'RetrievePropertiesEx',
              'CreateContainerView',
              'DestroyView',
            ].includes(method),
        ),
    ).toEqual([]);
  });

  it('a named snapshot the source does not have is NotFoundError and sends no CloneVM_Task', async () => {
    const { server, provider } = await cloneServer('with-snapshots');
    const error = await provider
      .clone(SOURCE, { name: 'web-01-linked', mode: 'linked', snapshotId: 'snapshot-99' })
      .then(
        () => undefined,
        (reason: unknown) => reason,
      );
    expect((error as { code?: string }).code).toBe('NOT_FOUND');
    expect(server.calls('CloneVM_Task')).toEqual([]);
  });

  it('can() on the source says yes with a current snapshot', async () => {
    const { provider } = await cloneServer('with-snapshots');
    // can() reads the full record (get); the fake answers vm-42 with the source properties,
    // which hold the snapshot tree.
    const result = await provider.can(SOURCE, 'lifecycle.linkedClone');
    expect(result.ok).toBe(true);
  });
});
