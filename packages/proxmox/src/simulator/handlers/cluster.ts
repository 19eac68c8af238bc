import { checkNode, type HandlerRequest, type HandlerTable } from '../context.js';
import { ApiError, die } from '../errors.js';
import type { HaResource } from '../state.js';
import { bootDiskBytes, cpuCount, memoryMiB, uptimeSeconds } from './vm-runtime.js';

const NODE_MEMORY_BYTES = 67_302_887_424;
const NODE_DISK_BYTES = 100_861_726_720;

/** Full package versions the simulator reports per release. */
export const PVE_RELEASES = {
  '8.4': { release: '8.4', version: '8.4.14', repoid: 'b502d23c55afcba1' },
  '9.1': { release: '9.1', version: '9.1.5', repoid: '71482d1833ded40a' },
} as const;

function nodeEntry(request: HandlerRequest, node: string, index: number) {
  return {
    node,
    status: 'online',
    type: 'node',
    id: `node/${node}`,
    cpu: 0.0054917623564653 + index / 1000,
    maxcpu: 16,
    mem: 4_681_965_056 + index * 1_000_000,
    maxmem: NODE_MEMORY_BYTES,
    disk: 2_983_723_008,
    maxdisk: NODE_DISK_BYTES,
    uptime: 872_961 + (Math.floor(request.context.clock.now() / 1000) % 100_000),
    level: '',
  };
}

function normalizeSid(sid: string): string {
  return /^\d+$/.test(sid) ? `vm:${sid}` : sid;
}

function haEntry(resource: HaResource): Record<string, unknown> {
  const entry: Record<string, unknown> = {
    sid: resource.sid,
    type: resource.type,
    state: resource.state,
    max_restart: resource.max_restart,
    max_relocate: resource.max_relocate,
    digest: '0000000000000000000000000000000000000000',
  };
  if (resource.comment !== undefined) entry.comment = resource.comment;
  if (resource.group !== undefined) entry.group = resource.group;
  if (resource.failback !== undefined) entry.failback = resource.failback;
  return entry;
}

export const clusterHandlers: HandlerTable = {
  'GET /version': (request) => ({ ...PVE_RELEASES[request.context.version] }),

  'GET /nodes': (request) =>
    request.context.state.nodes.map((node, index) => ({
      ...nodeEntry(request, node, index),
      ssl_fingerprint: request.context.certificateFingerprint,
    })),

  'GET /nodes/{node}/status': (request) => {
    const node = checkNode(request);
    const release = PVE_RELEASES[request.context.version];
    const index = request.context.state.nodes.indexOf(node);
    const entry = nodeEntry(request, node, index);
    return {
      cpu: entry.cpu,
      cpuinfo: {
        cpus: 16,
        cores: 8,
        sockets: 1,
        model: 'AMD EPYC 7302P 16-Core Processor',
        mhz: '3000.000',
        hvm: '1',
        flags: 'fpu vme de pse',
        user_hz: 100,
      },
      memory: {
        total: NODE_MEMORY_BYTES,
        used: entry.mem,
        free: NODE_MEMORY_BYTES - entry.mem,
        available: NODE_MEMORY_BYTES - entry.mem,
      },
      swap: { total: 8_589_930_496, used: 0, free: 8_589_930_496 },
      rootfs: {
        total: NODE_DISK_BYTES,
        used: entry.disk,
        free: NODE_DISK_BYTES - entry.disk,
        avail: NODE_DISK_BYTES - entry.disk,
      },
      ksm: { shared: 0 },
      uptime: entry.uptime,
      loadavg: ['0.12', '0.08', '0.05'],
      idle: 0,
      wait: 0.000123,
      kversion:
        request.context.version === '9.1'
          ? 'Linux 6.17.2-1-pve #1 SMP PREEMPT_DYNAMIC PMX 6.17.2-1'
          : 'Linux 6.8.12-9-pve #1 SMP PREEMPT_DYNAMIC PMX 6.8.12-9',
      pveversion: `pve-manager/${release.version}/${release.repoid}`,
      'boot-info': { mode: 'efi', secureboot: 0 },
      'current-kernel': {
        sysname: 'Linux',
        release: request.context.version === '9.1' ? '6.17.2-1-pve' : '6.8.12-9-pve',
        machine: 'x86_64',
        version: '#1 SMP PREEMPT_DYNAMIC',
      },
    };
  },

  'GET /cluster/resources': (request) => {
    const { context, params } = request;
    const type = params.type === undefined ? undefined : String(params.type);
    const result: unknown[] = [];
    if (type === undefined || type === 'vm') {
      for (const vm of context.state.vms.values()) {
        const running = vm.status === 'running';
        const entry: Record<string, unknown> = {
          id: `qemu/${vm.vmid}`,
          type: 'qemu',
          vmid: vm.vmid,
          name: vm.config.name ?? `VM ${vm.vmid}`,
          node: vm.node,
          status: vm.status,
          maxcpu: cpuCount(vm),
          maxmem: memoryMiB(vm) * 1024 * 1024,
          maxdisk: bootDiskBytes(context, vm),
          mem: running ? Math.floor(memoryMiB(vm) * 1024 * 1024 * 0.4) : 0,
          cpu: running ? 0.0249060195469461 : 0,
          disk: 0,
          uptime: uptimeSeconds(context, vm),
          netin: running ? 2048 : 0,
          netout: running ? 1024 : 0,
          diskread: running ? 4510777856 : 0,
          diskwrite: running ? 6059209728 : 0,
          template: vm.config.template === '1' ? 1 : 0,
        };
        if (vm.config.tags) entry.tags = vm.config.tags;
        if (vm.config.lock) entry.lock = vm.config.lock;
        for (const pool of context.state.pools.values())
          if (pool.vms.has(vm.vmid)) entry.pool = pool.poolid;
        const ha = context.state.ha.get(`vm:${vm.vmid}`);
        if (ha) entry.hastate = ha.state;
        result.push(entry);
      }
    }
    if (type === undefined || type === 'node') {
      context.state.nodes.forEach((node, index) => {
        result.push({ ...nodeEntry(request, node, index), 'cgroup-mode': 2 });
      });
    }
    if (type === undefined || type === 'storage') {
      for (const node of context.state.nodes) {
        for (const storage of context.state.storages) {
          const used = context.state
            .volumesOn(node, storage.id)
            .reduce((sum, volume) => sum + volume.sizeBytes, 0);
          result.push({
            id: `storage/${node}/${storage.id}`,
            type: 'storage',
            storage: storage.id,
            node,
            status: 'available',
            plugintype: storage.type,
            content: storage.content.join(','),
            shared: storage.shared ? 1 : 0,
            disk: used,
            maxdisk: storage.totalBytes ?? 500 * 1024 ** 3,
          });
        }
      }
    }
    return result;
  },

  'GET /cluster/nextid': (request) => {
    const { state } = request.context;
    if (request.params.vmid !== undefined) {
      const vmid = Number(request.params.vmid);
      if (state.vms.has(vmid)) {
        throw new ApiError(400, 'Parameter verification failed.', {
          errors: { vmid: `VM ${vmid} already exists` },
        });
      }
      return String(vmid);
    }
    return String(state.nextFreeVmid());
  },

  'GET /pools': (request) => {
    const { context, params } = request;
    return [...context.state.pools.values()]
      .filter((pool) => params.poolid === undefined || pool.poolid === params.poolid)
      .map((pool) => ({
        poolid: pool.poolid,
        ...(pool.comment !== undefined ? { comment: pool.comment } : {}),
      }));
  },

  'GET /pools/{poolid}': (request) => {
    const { context, params } = request;
    const pool = context.state.pools.get(String(params.poolid));
    if (!pool) throw die(`pool '${params.poolid}' does not exist`);
    const members = [...pool.vms]
      .map((vmid) => context.state.vms.get(vmid))
      .filter((vm) => vm !== undefined)
      .map((vm) => ({
        id: `qemu/${vm.vmid}`,
        type: 'qemu',
        vmid: vm.vmid,
        node: vm.node,
        name: vm.config.name ?? `VM ${vm.vmid}`,
        status: vm.status,
        template: vm.config.template === '1' ? 1 : 0,
      }));
    return { ...(pool.comment !== undefined ? { comment: pool.comment } : {}), members };
  },

  'GET /nodes/{node}/network': (request) => {
    checkNode(request);
    const type = request.params.type === undefined ? undefined : String(request.params.type);
    const bridges = request.context.state.bridges.map((bridge, index) => ({
      iface: bridge,
      type: 'bridge',
      active: 1,
      autostart: 1,
      method: index === 0 ? 'static' : 'manual',
      method6: 'manual',
      families: ['inet'],
      bridge_ports: `eno${index + 1}`,
      bridge_stp: 'off',
      bridge_fd: '0',
      priority: index + 3,
      ...(index === 0
        ? { address: '192.0.2.10', netmask: '24', cidr: '192.0.2.10/24', gateway: '192.0.2.1' }
        : {}),
    }));
    const ports = request.context.state.bridges.map((_bridge, index) => ({
      iface: `eno${index + 1}`,
      type: 'eth',
      active: 1,
      exists: 1,
      method: 'manual',
      method6: 'manual',
      families: ['inet'],
      priority: index + 1,
    }));
    if (type === undefined) return [...ports, ...bridges];
    if (type === 'bridge' || type === 'any_bridge' || type === 'any_local_bridge') return bridges;
    if (type === 'eth') return ports;
    return [];
  },

  'GET /cluster/ha/resources': (request) => {
    const type = request.params.type;
    return [...request.context.state.ha.values()]
      .filter((resource) => type === undefined || resource.type === type)
      .map(haEntry);
  },

  'POST /cluster/ha/resources': (request) => {
    const { params, context } = request;
    const sid = normalizeSid(String(params.sid));
    const [type, id] = sid.split(':') as ['vm' | 'ct', string];
    if (context.state.ha.has(sid)) throw die(`resource ID '${sid}' already defined`);
    if (type === 'vm' && !context.state.vms.has(Number(id))) throw die(`no such VM '${id}'`);
    if (type === 'ct') throw die(`no such CT '${id}'`);
    context.state.ha.set(sid, {
      sid,
      type,
      state: params.state === undefined ? 'started' : String(params.state),
      max_restart: params.max_restart === undefined ? 1 : Number(params.max_restart),
      max_relocate: params.max_relocate === undefined ? 1 : Number(params.max_relocate),
      ...(params.comment !== undefined ? { comment: String(params.comment) } : {}),
      ...(params.group !== undefined ? { group: String(params.group) } : {}),
      ...(params.failback !== undefined ? { failback: Number(params.failback) } : {}),
    });
    return null;
  },

  'GET /cluster/ha/resources/{sid}': (request) => {
    const sid = normalizeSid(String(request.params.sid));
    const resource = request.context.state.ha.get(sid);
    if (!resource) throw die(`no such resource '${sid}'`);
    return haEntry(resource);
  },

  'PUT /cluster/ha/resources/{sid}': (request) => {
    const { params } = request;
    const sid = normalizeSid(String(params.sid));
    const resource = request.context.state.ha.get(sid);
    if (!resource) throw die(`no such resource '${sid}'`);
    if (params.state !== undefined) resource.state = String(params.state);
    if (params.comment !== undefined) resource.comment = String(params.comment);
    if (params.group !== undefined) resource.group = String(params.group);
    if (params.max_restart !== undefined) resource.max_restart = Number(params.max_restart);
    if (params.max_relocate !== undefined) resource.max_relocate = Number(params.max_relocate);
    for (const key of String(params.delete ?? '')
      .split(/[,;\s]+/)
      .filter(Boolean)) {
      if (key === 'comment') delete resource.comment;
      if (key === 'group') delete resource.group;
    }
    return null;
  },

  'DELETE /cluster/ha/resources/{sid}': (request) => {
    const sid = normalizeSid(String(request.params.sid));
    if (!request.context.state.ha.delete(sid)) throw die(`no such resource '${sid}'`);
    return null;
  },
};
