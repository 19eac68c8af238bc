import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';
import { SimulatorTestClient } from '../src/simulator/testing/client.js';

type Config = Record<string, string | number>;

describe.each(['8.4', '9.1'] as const)('VM features (PVE %s)', (version) => {
  let simulator: ProxmoxSimulator;
  let client: SimulatorTestClient;
  let nextVmid = 200;

  const createVm = async (parameters: Record<string, string | number> = {}, node = 'pve1') => {
    const vmid = nextVmid++;
    expect(await client.run('POST', `/nodes/${node}/qemu`, { vmid, ...parameters })).toBe('OK');
    return vmid;
  };
  const config = (vmid: number, parameters: Record<string, string | number> = {}, node = 'pve1') =>
    client.data<Config>('GET', `/nodes/${node}/qemu/${vmid}/config`, parameters);

  beforeAll(async () => {
    simulator = await startProxmoxSimulator({ version, taskDurationMs: 2, verifyReturns: true });
    client = new SimulatorTestClient(simulator);
    await client.login();
  });
  afterAll(async () => {
    await client.close();
    await simulator.close();
  });

  it('running VM: hotpluggable keys apply at once, the rest waits in pending until the next start', async () => {
    const vmid = await createVm({ cores: 2, memory: 2048, net0: 'virtio,bridge=vmbr0' });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    expect(
      (
        await client.request('PUT', `/nodes/pve1/qemu/${vmid}/config`, {
          cores: 4,
          name: 'renamed',
          memory: 4096,
          net1: 'e1000,bridge=vmbr1',
        })
      ).status,
    ).toBe(200);
    const current = await config(vmid, { current: 1 });
    expect(current).toMatchObject({ cores: 2, memory: '2048', name: 'renamed' });
    expect(String(current.net1)).toMatch(/^e1000=BC:24:11:/);
    expect(await config(vmid)).toMatchObject({ cores: 4, memory: '4096' });
    const pending = await client.data<Array<Record<string, unknown>>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/pending`,
    );
    expect(pending.find((item) => item.key === 'cores')).toEqual({
      key: 'cores',
      value: 2,
      pending: 4,
    });
    expect(pending.find((item) => item.key === 'name')).toEqual({ key: 'name', value: 'renamed' });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    expect(await config(vmid, { current: 1 })).toMatchObject({ cores: 4, memory: '4096' });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
  });

  it('digest: SHA-1 of the config file, checked on update', async () => {
    const vmid = await createVm({ name: 'digest' });
    const { digest } = await config(vmid);
    const stale = await client.request('PUT', `/nodes/pve1/qemu/${vmid}/config`, {
      digest: '0'.repeat(40),
      cores: 2,
    });
    expect([stale.status, stale.reason]).toEqual([
      500,
      'checksum mismatch (file change by other user?)',
    ]);
    expect(
      (
        await client.request('PUT', `/nodes/pve1/qemu/${vmid}/config`, {
          digest: String(digest),
          cores: 2,
        })
      ).status,
    ).toBe(200);
    expect((await config(vmid)).digest).not.toBe(digest);
    const empty = await client.request('PUT', `/nodes/pve1/qemu/${vmid}/config`, {});
    expect(empty.reason).toBe('no options specified');
  });

  it('delete: a disk moves to unusedN, deleting unusedN frees the volume, unknown keys are refused', async () => {
    const vmid = await createVm({ scsi0: 'local-lvm:4', scsi1: 'local-lvm:2' });
    await client.data('PUT', `/nodes/pve1/qemu/${vmid}/config`, { delete: 'scsi1' });
    const after = await config(vmid);
    expect(after.scsi1).toBeUndefined();
    expect(after.unused0).toBe(`local-lvm:vm-${vmid}-disk-1`);
    await client.data('PUT', `/nodes/pve1/qemu/${vmid}/config`, { delete: 'unused0' });
    const volumes = await client.data<Array<{ volid: string }>>(
      'GET',
      '/nodes/pve1/storage/local-lvm/content',
      { vmid },
    );
    expect(volumes.map((volume) => volume.volid)).toEqual([`local-lvm:vm-${vmid}-disk-0`]);
    const unknown = await client.request('PUT', `/nodes/pve1/qemu/${vmid}/config`, {
      delete: 'colour',
    });
    expect((unknown.body as { errors: unknown }).errors).toEqual({
      delete: "unknown option 'colour'",
    });
  });

  it('create with the full parameter set: cloud-init, EFI disk, import-from, tags, agent', async () => {
    await client.run('POST', '/nodes/pve1/storage/local/download-url', {
      content: 'import',
      filename: 'noble.qcow2',
      url: 'https://cloud-images.example.invalid/noble.qcow2',
    });
    const image = (
      await client.data<Array<{ volid: string; size: number }>>(
        'GET',
        '/nodes/pve1/storage/local/content',
        { content: 'import' },
      )
    )[0];
    expect(image?.volid).toBe('local:import/noble.qcow2');
    const vmid = await createVm({
      name: 'cloud',
      cores: 2,
      sockets: 2,
      memory: 4096,
      balloon: 1024,
      hotplug: 'network,disk,cpu',
      bios: 'ovmf',
      efidisk0: 'local-lvm:1,efitype=4m',
      scsi0: 'local-lvm:0,import-from=local:import/noble.qcow2',
      virtio1: 'local-lvm:10',
      sata0: 'local-lvm:1',
      ide2: 'local-lvm:cloudinit',
      net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1',
      ipconfig0: 'ip=192.168.1.10/24,gw=192.168.1.1',
      ciuser: 'admin',
      sshkeys: encodeURIComponent('ssh-ed25519 AAAA admin@example').replace(/%20/g, '%20'),
      nameserver: '1.1.1.1',
      cicustom: 'user=local:snippets/user.yaml',
      agent: 'enabled=1,fstrim_cloned_disks=1',
      tags: 'web;prod',
      description: 'line one\nline two',
    });
    const created = await config(vmid);
    expect(created).toMatchObject({
      efidisk0: `local-lvm:vm-${vmid}-disk-0,efitype=4m,size=4M`,
      scsi0: `local-lvm:vm-${vmid}-disk-1,size=${image?.size === undefined ? '' : `${image.size / 1024 ** 3}G`}`,
      ide2: `local-lvm:vm-${vmid}-cloudinit,media=cdrom,size=4M`,
      net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0,firewall=1,tag=10',
      tags: 'web;prod',
      description: 'line one\nline two',
      sockets: 2,
      balloon: 1024,
    });
    expect(created.boot).toBe('order=scsi0;virtio1;sata0;ide2;net0');
    const status = await client.data<Record<string, unknown>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/status/current`,
    );
    expect(status).toMatchObject({
      cpus: 4,
      maxmem: 4096 * 1024 * 1024,
      tags: 'web;prod',
      agent: 1,
    });
  });

  it('storage: list, multipart upload with filename rules, content listing', async () => {
    const storages = await client.data<Array<{ storage: string; content: string }>>(
      'GET',
      '/nodes/pve1/storage',
    );
    expect(storages.map((storage) => storage.storage)).toEqual(['local', 'local-lvm']);
    const images = await client.data<Array<{ storage: string }>>('GET', '/nodes/pve1/storage', {
      content: 'images',
    });
    expect(images.map((storage) => storage.storage)).toEqual(['local-lvm']);
    const upload = async (filename: string, content: string) => {
      const form = new FormData();
      form.append('content', content);
      form.append('filename', new Blob([Buffer.from('ISO-BYTES')]), filename);
      const request = new Request('https://placeholder.invalid', { method: 'POST', body: form });
      const body = new Uint8Array(await request.arrayBuffer());
      return client.request(
        'POST',
        '/nodes/pve1/storage/local/upload',
        {},
        {
          body,
          headers: { 'content-type': request.headers.get('content-type') as string },
        },
      );
    };
    const ok = await upload('tools.iso', 'iso');
    expect(ok.status).toBe(200);
    expect((ok.body as { data: string }).data).toMatch(/:imgcopy::root@pam:$/);
    await client.waitTask((ok.body as { data: string }).data);
    const isos = await client.data<Array<{ volid: string; size: number }>>(
      'GET',
      '/nodes/pve1/storage/local/content',
      { content: 'iso' },
    );
    expect(isos).toContainEqual(expect.objectContaining({ volid: 'local:iso/tools.iso', size: 9 }));
    const info = await client.data<{ path: string; size: number; format: string }>(
      'GET',
      `/nodes/pve1/storage/local/content/${encodeURIComponent('local:iso/tools.iso')}`,
    );
    expect(info).toMatchObject({
      path: '/var/lib/vz/template/iso/tools.iso',
      size: 9,
      format: 'iso',
    });
    const removed = await client.request(
      'DELETE',
      `/nodes/pve1/storage/local/content/${encodeURIComponent('iso/tools.iso')}`,
      { delay: 5 },
    );
    expect(removed.body).toEqual({ data: null });
    const gone = await client.request(
      'DELETE',
      `/nodes/pve1/storage/local/content/${encodeURIComponent('local:iso/tools.iso')}`,
    );
    expect([gone.status, gone.reason]).toEqual([
      500,
      "volume 'local:iso/tools.iso' does not exist",
    ]);
    const disk = await upload('disk.raw', 'import');
    await client.waitTask((disk.body as { data: string }).data);
    const vmid = await createVm({ scsi0: 'local-lvm:0,import-from=local:import/disk.raw' });
    const imported = [...simulator.state.volumes.values()].find(
      (volume) => volume.volid === `local-lvm:vm-${vmid}-disk-0`,
    );
    expect(imported?.data?.toString()).toBe('ISO-BYTES');
    const wrong = await upload('tools.exe', 'iso');
    expect((wrong.body as { errors: unknown }).errors).toEqual({
      filename: 'wrong file extension',
    });
    const notHere = await client.request('POST', '/nodes/pve1/storage/local-lvm/download-url', {
      content: 'iso',
      filename: 'x.iso',
      url: 'https://example.invalid/x.iso',
    });
    expect(notHere.status).toBe(400);
  });

  it('templates and clones: linked clones only from templates, full by default otherwise', async () => {
    const vmid = await createVm({ name: 'golden', scsi0: 'local-lvm:8' });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    expect((await client.request('POST', `/nodes/pve1/qemu/${vmid}/template`)).reason).toBe(
      "you can't convert a VM to template if VM is running",
    );
    const running = await client.request('DELETE', `/nodes/pve1/qemu/${vmid}`);
    expect(running.reason).toBe(`VM ${vmid} is running - destroy failed`);
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/template`);
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`)).toBe(
      "you can't start a vm if it's a template",
    );
    const linkedId = nextVmid++;
    expect(
      await client.run('POST', `/nodes/pve1/qemu/${vmid}/clone`, {
        newid: linkedId,
        name: 'linked',
      }),
    ).toBe('OK');
    expect((await config(linkedId)).scsi0).toBe(
      `local-lvm:base-${vmid}-disk-0/vm-${linkedId}-disk-0,size=8G`,
    );
    const storageForLinked = await client.request('POST', `/nodes/pve1/qemu/${vmid}/clone`, {
      newid: nextVmid,
      full: 0,
      storage: 'local-lvm',
    });
    expect(storageForLinked.reason).toBe("parameter 'storage' not allowed for linked clones");
    const clash = await client.request('POST', `/nodes/pve1/qemu/${vmid}/clone`, {
      newid: linkedId,
    });
    expect(clash.reason).toBe(`unable to create VM ${linkedId}: config file already exists`);
    const remote = await client.request('POST', `/nodes/pve1/qemu/${vmid}/clone`, {
      newid: nextVmid,
      target: 'pve2',
    });
    expect(remote.reason).toBe("can't clone VM to node 'pve2' (VM uses local storage)");
  });

  it('snapshots form a tree with a "current" entry; rollback and delete re-parent', async () => {
    const vmid = await createVm({ cores: 1 });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/snapshot`, {
      snapname: 's1',
      description: 'first',
    });
    await client.data('PUT', `/nodes/pve1/qemu/${vmid}/config`, { cores: 2 });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/snapshot`, { snapname: 's2' });
    expect(
      await client.run('POST', `/nodes/pve1/qemu/${vmid}/snapshot`, { snapname: 'pre-upgrade' }),
    ).toBe('OK');
    await client.run('DELETE', `/nodes/pve1/qemu/${vmid}/snapshot/pre-upgrade`);
    const tree = await client.data<Array<Record<string, unknown>>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/snapshot`,
    );
    expect(tree.find((item) => item.name === 's2')?.parent).toBe('s1');
    expect(tree.find((item) => item.name === 'current')).toMatchObject({
      parent: 's2',
      running: 0,
      description: 'You are here!',
    });
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/snapshot`, { snapname: 's1' })).toBe(
      "snapshot name 's1' already used",
    );
    expect(
      (await client.request('POST', `/nodes/pve1/qemu/${vmid}/snapshot`, { snapname: 'current' }))
        .reason,
    ).toBe("unable to use snapshot name 'current' (reserved name)");
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/snapshot/s1/rollback`);
    expect(await config(vmid)).toMatchObject({ cores: 1, parent: 's1' });
    expect((await config(vmid, { snapshot: 's2' })).cores).toBe(2);
    const section = await client.data<Record<string, unknown>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/snapshot/s2/config`,
    );
    expect(typeof section.snaptime).toBe('number');
    expect(section.cores).toBe(2);
    await client.run('DELETE', `/nodes/pve1/qemu/${vmid}/snapshot/s1`);
    const after = await client.data<Array<Record<string, unknown>>>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/snapshot`,
    );
    expect(after.find((item) => item.name === 's2')).not.toHaveProperty('parent');
    expect(after.find((item) => item.name === 'current')).not.toHaveProperty('parent');
    expect(
      (await client.request('POST', `/nodes/pve1/qemu/${vmid}/snapshot/nope/rollback`)).reason,
    ).toBe("snapshot 'nope' does not exist");
  });

  it('migration: offline, online, refused without --online or to the local node', async () => {
    const vmid = await createVm({ scsi0: 'local-lvm:1' });
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    expect(
      (await client.request('POST', `/nodes/pve1/qemu/${vmid}/migrate`, { target: 'pve2' })).reason,
    ).toBe("can't migrate running VM without --online");
    // A parameter error, as qemu-server's migrate_vm raises it (raise_param_exc).
    const local = await client.request('POST', `/nodes/pve1/qemu/${vmid}/migrate`, {
      target: 'pve1',
      online: 1,
    });
    expect(local.status).toBe(400);
    expect(local.reason).toBe('Parameter verification failed.');
    expect((local.body as { errors?: Record<string, string> }).errors).toEqual({
      target: 'target is local node.',
    });
    expect(
      await client.run('POST', `/nodes/pve1/qemu/${vmid}/migrate`, { target: 'pve2', online: 1 }),
    ).toBe("can't live migrate attached local disks without with-local-disks option");
    expect(
      await client.run('POST', `/nodes/pve1/qemu/${vmid}/migrate`, {
        target: 'pve2',
        online: 1,
        'with-local-disks': 1,
      }),
    ).toBe('OK');
    const moved = await client.data<{ status: string }>(
      'GET',
      `/nodes/pve2/qemu/${vmid}/status/current`,
    );
    expect(moved.status).toBe('running');
    expect((await client.request('GET', `/nodes/pve1/qemu/${vmid}/config`)).status).toBe(500);
    const resources = await client.data<Array<{ vmid: number; node: string }>>(
      'GET',
      '/cluster/resources',
      { type: 'vm' },
    );
    expect(resources.find((item) => item.vmid === vmid)?.node).toBe('pve2');
  });

  it('guest agent: not configured, VM not running, agent not running, timeout, interfaces', async () => {
    const plain = await createVm();
    expect(
      (await client.request('GET', `/nodes/pve1/qemu/${plain}/agent/network-get-interfaces`))
        .reason,
    ).toBe('No QEMU guest agent configured');
    const vmid = await createVm({
      agent: 1,
      net0: 'virtio,bridge=vmbr0',
      ipconfig0: 'ip=10.1.2.3/24,gw=10.1.2.1',
    });
    const path = `/nodes/pve1/qemu/${vmid}/agent/network-get-interfaces`;
    expect((await client.request('GET', path)).reason).toBe(`VM ${vmid} is not running`);
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    const { result } = await client.data<{
      result: Array<{ name: string; 'ip-addresses': Array<{ 'ip-address': string }> }>;
    }>('GET', path);
    expect(result.map((item) => item.name)).toEqual(['lo', 'eth0']);
    expect(result[1]?.['ip-addresses'][0]?.['ip-address']).toBe('10.1.2.3');
    simulator.state.setAgent(vmid, { mode: 'not-running' });
    expect((await client.request('GET', path)).reason).toBe('QEMU guest agent is not running');
    simulator.state.setAgent(vmid, { mode: 'timeout' });
    expect((await client.request('GET', path)).reason).toBe(
      `VM ${vmid} qga command 'guest-network-get-interfaces' failed - got timeout`,
    );
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
  });

  it('suspend to disk locks the VM as "suspended"; resume starts it again', async () => {
    const vmid = await createVm();
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/suspend`, { todisk: 1 })).toBe(
      'OK',
    );
    const suspended = await config(vmid);
    expect(suspended.lock).toBe('suspended');
    expect(String(suspended.vmstate)).toMatch(new RegExp(`^local-lvm:vm-${vmid}-state-suspend-`));
    expect(
      (await client.data<{ status: string }>('GET', `/nodes/pve1/qemu/${vmid}/status/current`))
        .status,
    ).toBe('stopped');
    expect(await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/resume`)).toBe('OK');
    expect(await config(vmid)).not.toHaveProperty('lock');
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
  });

  it('HA resources: CRUD, reflected in status and cluster resources; destroy needs purge', async () => {
    const vmid = await createVm();
    await client.data('POST', '/cluster/ha/resources', {
      sid: `vm:${vmid}`,
      state: 'started',
      comment: 'web',
    });
    expect(
      (await client.request('POST', '/cluster/ha/resources', { sid: String(vmid) })).reason,
    ).toBe(`resource ID 'vm:${vmid}' already defined`);
    expect(await client.data('GET', `/cluster/ha/resources/vm:${vmid}`)).toMatchObject({
      sid: `vm:${vmid}`,
      state: 'started',
      type: 'vm',
    });
    await client.data('PUT', `/cluster/ha/resources/vm:${vmid}`, { state: 'stopped' });
    expect(
      (
        await client.data<Array<{ sid: string; state: string }>>('GET', '/cluster/ha/resources')
      ).find((item) => item.sid === `vm:${vmid}`)?.state,
    ).toBe('stopped');
    const status = await client.data<{ ha: Record<string, unknown> }>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/status/current`,
    );
    expect(status.ha).toEqual({ managed: 1, state: 'stopped' });
    expect((await client.request('DELETE', `/nodes/pve1/qemu/${vmid}`)).reason).toBe(
      `unable to remove VM ${vmid} - used in HA resources and purge parameter not set.`,
    );
    expect(await client.run('DELETE', `/nodes/pve1/qemu/${vmid}`, { purge: 1 })).toBe('OK');
    expect((await client.request('GET', `/cluster/ha/resources/vm:${vmid}`)).reason).toBe(
      `no such resource 'vm:${vmid}'`,
    );
  });

  it('nextid skips used ids; ?vmid= of a used id is a 400; rrddata returns a time series', async () => {
    const used = await createVm();
    const clash = await client.request('GET', '/cluster/nextid', { vmid: used });
    expect((clash.body as { errors: unknown }).errors).toEqual({
      vmid: `VM ${used} already exists`,
    });
    expect(await client.data('GET', '/cluster/nextid', { vmid: 999 })).toBe('999');
    const points = await client.data<Array<{ time: number }>>(
      'GET',
      `/nodes/pve1/qemu/${used}/rrddata`,
      { timeframe: 'hour', cf: 'AVERAGE' },
    );
    expect(points).toHaveLength(70);
    expect((points[1]?.time ?? 0) - (points[0]?.time ?? 0)).toBe(60);
    const nodes = await client.data<Array<{ type: string }>>('GET', '/cluster/resources', {
      type: 'node',
    });
    expect(nodes.map((item) => item.type)).toEqual(['node', 'node', 'node']);
    expect(await client.data('GET', '/nodes/pve1/status')).toMatchObject({
      pveversion: expect.stringMatching(`^pve-manager/${version}`),
    });
  });

  it('pools: create into a pool, list members; an unknown pool is refused', async () => {
    expect(
      (await client.request('POST', '/nodes/pve1/qemu', { vmid: nextVmid, pool: 'nope' })).reason,
    ).toBe("pool 'nope' does not exist");
    const vmid = await createVm({ pool: 'hvkit', name: 'pooled' });
    expect(await client.data('GET', '/pools')).toEqual([{ poolid: 'hvkit' }]);
    const pool = await client.data<{ members: Array<{ id: string; vmid: number }> }>(
      'GET',
      '/pools/hvkit',
    );
    expect(pool.members.map((member) => member.id)).toContain(`qemu/${vmid}`);
    const resources = await client.data<Array<{ vmid?: number; pool?: string }>>(
      'GET',
      '/cluster/resources',
      { type: 'vm' },
    );
    expect(resources.find((item) => item.vmid === vmid)?.pool).toBe('hvkit');
  });

  it('node networks list the bridges; /access/permissions lists the caller privileges', async () => {
    const bridges = await client.data<Array<{ iface: string; type: string }>>(
      'GET',
      '/nodes/pve1/network',
      { type: 'any_bridge' },
    );
    expect(bridges.map((item) => item.iface)).toEqual(['vmbr0', 'vmbr1']);
    const permissions = await client.data<Record<string, Record<string, number>>>(
      'GET',
      '/access/permissions',
    );
    expect(permissions['/']).toMatchObject({ 'VM.Allocate': 1, 'Datastore.AllocateSpace': 1 });
  });

  it('guest agent ping, info, osinfo and host name', async () => {
    const vmid = await createVm({ agent: 1, name: 'agent-host' });
    expect((await client.request('POST', `/nodes/pve1/qemu/${vmid}/agent/ping`)).reason).toBe(
      `VM ${vmid} is not running`,
    );
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/start`);
    expect(await client.data('POST', `/nodes/pve1/qemu/${vmid}/agent/ping`)).toEqual({
      result: {},
    });
    expect(await client.data('GET', `/nodes/pve1/qemu/${vmid}/agent/get-host-name`)).toEqual({
      result: { 'host-name': 'agent-host' },
    });
    const osinfo = await client.data<{ result: { id: string } }>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/agent/get-osinfo`,
    );
    expect(osinfo.result.id).toBe('ubuntu');
    const info = await client.data<{ result: { supported_commands: Array<{ name: string }> } }>(
      'GET',
      `/nodes/pve1/qemu/${vmid}/agent/info`,
    );
    expect(info.result.supported_commands.map((command) => command.name)).toContain(
      'guest-network-get-interfaces',
    );
    simulator.state.setAgent(vmid, { mode: 'timeout' });
    expect((await client.request('POST', `/nodes/pve1/qemu/${vmid}/agent/ping`)).reason).toBe(
      `VM ${vmid} qga command 'guest-ping' failed - got timeout`,
    );
    await client.run('POST', `/nodes/pve1/qemu/${vmid}/status/stop`);
  });
});
