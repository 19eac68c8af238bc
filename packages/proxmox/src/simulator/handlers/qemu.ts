import { hasPrivilege } from '../auth.js';
import { DISK_KEY, NET_KEY } from '../config-file.js';
import {
  checkLock,
  checkNode,
  checkSkiplock,
  forkWorker,
  type HandlerRequest,
  type HandlerTable,
  loadVm,
} from '../context.js';
import { allocateDrive, normalizeNet, precheckDrive, referencedVolume } from '../devices.js';
import { ApiError, die, TaskError } from '../errors.js';
import type { VmState } from '../state.js';
import { bootDiskBytes, cpuCount, markRunning, memoryMiB, uptimeSeconds } from './vm-runtime.js';

/** Create parameters that are not config keys. */
const CREATE_META = new Set([
  'node',
  'vmid',
  'start',
  'storage',
  'pool',
  'force',
  'unique',
  'archive',
  'bwlimit',
  'live-restore',
  'import-working-storage',
  'ha-managed',
]);

function qemuVersion(request: HandlerRequest): string {
  return request.context.version === '9.1' ? '10.1.2' : '9.2.0';
}

function vmSummary(request: HandlerRequest, vm: VmState): Record<string, unknown> {
  const context = request.context;
  const running = vm.status === 'running';
  const summary: Record<string, unknown> = {
    vmid: vm.vmid,
    name: vm.config.name ?? `VM ${vm.vmid}`,
    status: vm.status,
    cpus: cpuCount(vm),
    maxmem: memoryMiB(vm) * 1024 * 1024,
    maxdisk: bootDiskBytes(context, vm),
    mem: running ? Math.floor(memoryMiB(vm) * 1024 * 1024 * 0.4) : 0,
    cpu: running ? 0.0112815646165076 : 0,
    disk: 0,
    uptime: uptimeSeconds(context, vm),
    netin: running ? 1024 : 0,
    netout: running ? 2048 : 0,
    diskread: running ? 649793308 : 0,
    diskwrite: running ? 1515457024 : 0,
  };
  if (running) summary.pid = vm.pid;
  if (vm.config.template === '1') summary.template = 1;
  if (vm.config.lock) summary.lock = vm.config.lock;
  if (vm.config.tags) summary.tags = vm.config.tags;
  return summary;
}

/** Volumes a VM references in its config, pending section and snapshots. */
export function vmVolumes(request: HandlerRequest, vm: VmState): string[] {
  const volumes = new Set<string>();
  const sections = [
    vm.config,
    vm.pending,
    ...[...vm.snapshots.values()].map((section) => section.config),
  ];
  for (const section of sections) {
    for (const [key, value] of Object.entries(section)) {
      const volume = referencedVolume(request.context, key, value);
      if (volume) volumes.add(volume);
    }
  }
  return [...volumes];
}

export const qemuHandlers: HandlerTable = {
  'GET /nodes/{node}/qemu': (request) => {
    const node = checkNode(request);
    return [...request.context.state.vms.values()]
      .filter((vm) => vm.node === node)
      .filter(() => hasPrivilege(request.principal, 'VM.Audit'))
      .map((vm) => vmSummary(request, vm));
  },

  'POST /nodes/{node}/qemu': (request) => {
    const node = checkNode(request);
    const { context, params } = request;
    const vmid = Number(params.vmid);
    // The schema says user 'all'; create_vm checks VM.Allocate itself (qemu-server Qemu.pm).
    if (!hasPrivilege(request.principal, 'VM.Allocate')) {
      throw new ApiError(403, `Permission check failed (/vms/${vmid}, VM.Allocate)`);
    }
    const existing = context.state.vms.get(vmid);
    if (existing) {
      throw die(
        `unable to create VM ${vmid} - VM ${vmid} already exists on node '${existing.node}'`,
      );
    }
    if (params.archive !== undefined) throw die('restore is not supported by the simulator');
    const pool =
      params.pool === undefined ? undefined : context.state.pools.get(String(params.pool));
    if (params.pool !== undefined && !pool) throw die(`pool '${params.pool}' does not exist`);
    const requested: Record<string, string> = {};
    for (const [key, value] of Object.entries(params)) {
      if (!CREATE_META.has(key)) requested[key] = String(value);
    }
    for (const [key, value] of Object.entries(requested)) precheckDrive(context, node, key, value);
    const now = Math.floor(context.clock.now() / 1000);
    const vm: VmState = {
      vmid,
      node,
      config: { lock: 'create' },
      pending: {},
      pendingDelete: new Map(),
      snapshots: new Map(),
      snapshotInfo: new Map(),
      status: 'stopped',
      qmpstatus: 'stopped',
      agent: { mode: 'interfaces' },
    };
    context.state.vms.set(vmid, vm);
    pool?.vms.add(vmid);
    return forkWorker(request, 'qmcreate', String(vmid), async (task) => {
      const created: string[] = [];
      try {
        await context.locks.run(vmid, async () => {
          await task.work();
          const config: Record<string, string> = {};
          for (const [key, value] of Object.entries(requested)) {
            let stored = normalizeNet(context, key, value);
            stored = allocateDrive(context, node, vmid, key, stored, task.log);
            const volume = referencedVolume(context, key, stored);
            if (volume && volume !== value) created.push(volume);
            config[key] = stored;
          }
          config.smbios1 ??= `uuid=${context.state.nextUuid()}`;
          config.vmgenid ??= context.state.nextUuid();
          config.meta ??= `creation-qemu=${qemuVersion(request)},ctime=${now}`;
          if (config.boot === undefined) {
            const devices = Object.keys(config)
              .filter((key) => DISK_KEY.test(key) || NET_KEY.test(key))
              .filter((key) => key !== 'efidisk0' && key !== 'tpmstate0');
            config.boot = devices.length > 0 ? `order=${devices.join(';')}` : ' ';
          }
          vm.config = config;
        });
      } catch (error) {
        for (const volume of created) context.state.removeVolume(node, volume);
        context.state.vms.delete(vmid);
        pool?.vms.delete(vmid);
        const message = error instanceof Error ? error.message : String(error);
        throw new TaskError(`unable to create VM ${vmid} - ${message}`);
      }
      if (params['ha-managed']) {
        context.state.ha.set(`vm:${vmid}`, {
          sid: `vm:${vmid}`,
          type: 'vm',
          state: 'started',
          max_restart: 1,
          max_relocate: 1,
        });
      }
      if (params.start) {
        await task.work();
        markRunning(context, vm);
      }
    });
  },

  'DELETE /nodes/{node}/qemu/{vmid}': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    const skiplock = checkSkiplock(request);
    checkLock(vm, skiplock);
    if (vm.status === 'running') throw die(`VM ${vm.vmid} is running - destroy failed`);
    if (vm.config.protection === '1')
      throw die(`can't remove VM ${vm.vmid} - protection mode enabled`);
    const sid = `vm:${vm.vmid}`;
    if (context.state.ha.has(sid) && !params.purge) {
      throw die(
        `unable to remove VM ${vm.vmid} - used in HA resources and purge parameter not set.`,
      );
    }
    return forkWorker(request, 'qmdestroy', String(vm.vmid), async (task) => {
      await context.locks.run(vm.vmid, async () => {
        await task.work();
        if (vm.config.template === '1') {
          for (const volid of vmVolumes(request, vm)) {
            const used = [...context.state.volumes.values()].some(
              (volume) => volume.base === volid,
            );
            if (used)
              throw new TaskError(`base volume '${volid}' is still in use by linked cloned`);
          }
        }
        const volumes = new Set(vmVolumes(request, vm));
        if (params['destroy-unreferenced-disks'] !== 0) {
          for (const volume of context.state.volumes.values()) {
            if (volume.vmid === vm.vmid && volume.content === 'images') volumes.add(volume.volid);
          }
        }
        for (const volid of volumes) {
          const volume = context.state.volume(vm.node, volid);
          if (volume?.vmid !== vm.vmid) continue;
          context.state.removeVolume(vm.node, volid);
          task.log(`  Logical volume "${volid.split(':')[1]}" successfully removed.`);
        }
        context.state.vms.delete(vm.vmid);
        for (const pool of context.state.pools.values()) pool.vms.delete(vm.vmid);
        if (params.purge) context.state.ha.delete(sid);
      });
    });
  },

  'GET /nodes/{node}/qemu/{vmid}/status/current': (request) => {
    const vm = loadVm(request);
    const { context } = request;
    const summary = vmSummary(request, vm);
    const ha = context.state.ha.get(`vm:${vm.vmid}`);
    const result: Record<string, unknown> = {
      ...summary,
      qmpstatus: vm.qmpstatus,
      ha: ha ? { managed: 1, state: ha.state } : { managed: 0 },
    };
    if (vm.config.agent !== undefined)
      result.agent = /(?:^|enabled=)1/.test(vm.config.agent) ? 1 : 0;
    if (vm.status === 'running') {
      result['running-machine'] =
        context.version === '9.1' ? 'pc-i440fx-10.1+pve0' : 'pc-i440fx-9.2+pve0';
      result['running-qemu'] = qemuVersion(request);
      result.balloon = memoryMiB(vm) * 1024 * 1024;
      result.balloon_min = Number(vm.config.balloon ?? memoryMiB(vm)) * 1024 * 1024;
      result.shares = Number(vm.config.shares ?? 1000);
      result.freemem = Math.floor(memoryMiB(vm) * 1024 * 1024 * 0.4);
    }
    if (vm.config.lock === 'suspended') result.lock = 'suspended';
    return result;
  },
};
