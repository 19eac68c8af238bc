import { createHmac } from 'node:crypto';
import { forkWorker, type HandlerRequest, type HandlerTable, loadVm } from '../context.js';
import { parseNet } from '../devices.js';
import { die } from '../errors.js';
import type { AgentInterface, VmState } from '../state.js';

const RRD_STEP_S: Record<string, number> = {
  hour: 60,
  day: 1800,
  week: 10800,
  month: 43200,
  year: 604800,
  decade: 6048000,
};

const AGENT_COMMANDS = [
  'guest-ping',
  'guest-info',
  'guest-get-osinfo',
  'guest-get-host-name',
  'guest-network-get-interfaces',
  'guest-fsfreeze-freeze',
  'guest-fsfreeze-thaw',
  'guest-shutdown',
];

/** The agent checks of qemu-server Agent.pm: configured, VM running, agent answering. */
function agentVm(request: HandlerRequest, command: string): VmState {
  const vm = loadVm(request);
  const agent = vm.config.agent;
  if (!agent || !/(?:^|enabled=)1/.test(agent)) throw die('No QEMU guest agent configured');
  if (vm.status !== 'running') throw die(`VM ${vm.vmid} is not running`);
  if (vm.agent.mode === 'not-running') throw die('QEMU guest agent is not running');
  if (vm.agent.mode === 'timeout')
    throw die(`VM ${vm.vmid} qga command '${command}' failed - got timeout`);
  return vm;
}

export const qemuConsoleHandlers: HandlerTable = {
  'POST /nodes/{node}/qemu/{vmid}/vncproxy': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    if (vm.status !== 'running') throw die(`VM ${vm.vmid} not running`);
    const user = request.principal.tokenid ?? request.principal.userid;
    const port = 5900 + (vm.vmid % 100);
    const stamp = Math.floor(context.clock.now() / 1000)
      .toString(16)
      .toUpperCase()
      .padStart(8, '0');
    const ticket = `PVEVNC:${stamp}::${createHmac('sha256', 'vnc').update(`${user}:${vm.vmid}:${stamp}`).digest('base64')}`;
    const upid = forkWorker(request, 'vncproxy', String(vm.vmid), async (task) => {
      task.log(`listening on port ${port}`);
      await task.work(10_000);
      throw new Error('connection timed out');
    });
    const result: Record<string, unknown> = {
      cert: context.certificatePem,
      port: String(port),
      ticket,
      upid,
      user,
    };
    if (params['generate-password']) result.password = ticket.slice(-8);
    return result;
  },

  'POST /nodes/{node}/qemu/{vmid}/agent/ping': (request) => {
    agentVm(request, 'guest-ping');
    return { result: {} };
  },

  'GET /nodes/{node}/qemu/{vmid}/agent/info': (request) => {
    agentVm(request, 'guest-info');
    return {
      result: {
        version: '8.2.2',
        supported_commands: AGENT_COMMANDS.map((name) => ({
          name,
          enabled: true,
          'success-response': true,
        })),
      },
    };
  },

  'GET /nodes/{node}/qemu/{vmid}/agent/get-osinfo': (request) => {
    const vm = agentVm(request, 'guest-get-osinfo');
    const custom = vm.agent.mode === 'interfaces' ? vm.agent.osinfo : undefined;
    return {
      result: custom ?? {
        id: 'ubuntu',
        name: 'Ubuntu',
        'pretty-name': 'Ubuntu 24.04.1 LTS',
        version: '24.04.1 LTS (Noble Numbat)',
        'version-id': '24.04',
        'kernel-release': '6.8.0-45-generic',
        'kernel-version': '#45-Ubuntu SMP PREEMPT_DYNAMIC',
        machine: 'x86_64',
      },
    };
  },

  'GET /nodes/{node}/qemu/{vmid}/agent/get-host-name': (request) => {
    const vm = agentVm(request, 'guest-get-host-name');
    const custom = vm.agent.mode === 'interfaces' ? vm.agent.hostname : undefined;
    return { result: { 'host-name': custom ?? vm.config.name ?? `vm${vm.vmid}` } };
  },

  'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces': (request) => {
    const vm = agentVm(request, 'guest-network-get-interfaces');
    if (vm.agent.mode !== 'interfaces') throw die('QEMU guest agent is not running');
    const result: AgentInterface[] = vm.agent.interfaces ?? [
      {
        name: 'lo',
        'hardware-address': '00:00:00:00:00:00',
        'ip-addresses': [
          { 'ip-address-type': 'ipv4', 'ip-address': '127.0.0.1', prefix: 8 },
          { 'ip-address-type': 'ipv6', 'ip-address': '::1', prefix: 128 },
        ],
      },
    ];
    if (!vm.agent.interfaces) {
      let index = 0;
      for (const key of Object.keys(vm.config).sort()) {
        const match = /^net(\d+)$/.exec(key);
        if (!match) continue;
        const net = parseNet(request.context, key, vm.config[key] as string);
        const ipconfig = vm.config[`ipconfig${match[1]}`] ?? '';
        const staticIp = /(?:^|,)ip=(\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(ipconfig);
        result.push({
          name: `eth${index}`,
          'hardware-address': (net.macaddr ?? '').toLowerCase(),
          'ip-addresses': [
            {
              'ip-address-type': 'ipv4',
              'ip-address':
                staticIp?.[1] ?? `10.0.${(vm.vmid >> 8) & 0xff}.${(vm.vmid + index) & 0xff}`,
              prefix: Number(staticIp?.[2] ?? 24),
            },
          ],
        });
        index++;
      }
    }
    return { result };
  },

  'GET /nodes/{node}/qemu/{vmid}/rrddata': (request) => {
    const vm = loadVm(request);
    const { context, params } = request;
    const step = RRD_STEP_S[String(params.timeframe)] ?? 60;
    const now = Math.floor(context.clock.now() / 1000 / step) * step;
    const running = vm.status === 'running';
    const points: unknown[] = [];
    for (let index = 69; index >= 0; index--) {
      const time = now - index * step;
      const wave = (Math.sin(time / step / 5) + 1) / 2;
      const point: Record<string, number> = { time };
      if (running) {
        Object.assign(point, {
          cpu: 0.01 + wave * 0.05,
          maxcpu: Number(vm.config.cores ?? 1) * Number(vm.config.sockets ?? 1),
          mem: 400_000_000 + wave * 100_000_000,
          maxmem: 1024 * 1024 * Number(/(\d+)/.exec(vm.config.memory ?? '512')?.[1] ?? 512),
          disk: 0,
          maxdisk: 0,
          netin: wave * 2000,
          netout: wave * 1000,
          diskread: wave * 50_000,
          diskwrite: wave * 80_000,
        });
        if (params.cf === 'MAX') point.cpu = (point.cpu as number) * 1.5;
      }
      points.push(point);
    }
    return points;
  },
};
