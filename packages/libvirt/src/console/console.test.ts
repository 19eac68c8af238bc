// Offline tests of the console module: reading the display from domain XML (shapes as libvirt
// 9.0 printed them on the bed), the state checks on fake virsh output, and the forward registry.
import { ConflictError, HvkitError, NotFoundError } from '@hvkit/core';
import type { LocalForward, LocalForwardStats } from '@hvkit/ssh';
import { describe, expect, it } from 'vitest';
import type { Virsh, VirshCommandResult } from '../virsh/virsh.js';
import { ConsoleForwards, parseLiveDisplay, readLiveDisplay } from './console.js';

const UUID = '90408ed1-f44a-4699-897b-e2d999bd3b2a';

/** A domain document with `graphics` in its devices; an `id` makes it the live one (null: inactive). */
function domainXml(graphics: string, id: number | null = 18): string {
  return [
    `<domain type='qemu'${id === null ? '' : ` id='${id}'`}>`,
    '  <name>hvkit-con-x</name>',
    `  <uuid>${UUID}</uuid>`,
    '  <devices>',
    "    <serial type='pty'><target port='0'/></serial>",
    graphics,
    "    <audio id='1' type='none'/>",
    '  </devices>',
    '</domain>',
  ].join('\n');
}

// As libvirt 9.0 prints the graphics hvkit's domain XML asks for, once running.
const LOOPBACK_VNC = `    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>`;

async function failure(promise: Promise<unknown>): Promise<HvkitError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!HvkitError.isInstance(error))
    throw new Error(`expected an hvkit error, got ${String(error)}`);
  return error;
}

describe('parseLiveDisplay', () => {
  it('reads the loopback VNC display of a running domain', () => {
    expect(parseLiveDisplay(domainXml(LOOPBACK_VNC), 'x')).toEqual({
      uuid: UUID,
      active: true,
      display: {
        protocol: 'vnc',
        host: '127.0.0.1',
        port: 5900,
        password: undefined,
        passwordValidTo: undefined,
      },
    });
  });

  it('an inactive definition (no id, port -1) is not active and does not throw', () => {
    const inactive = domainXml(
      `<graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>`,
      null,
    );
    expect(parseLiveDisplay(inactive, 'x').active).toBe(false);
  });

  it('a wildcard listen is reached on the loopback; a network listen by its address', () => {
    const wildcard = parseLiveDisplay(
      domainXml(
        `<graphics type='vnc' port='5901' listen='0.0.0.0'><listen type='address' address='0.0.0.0'/></graphics>`,
      ),
      'x',
    );
    expect(wildcard.display).toMatchObject({ host: '127.0.0.1', port: 5901 });
    const v6 = parseLiveDisplay(
      domainXml(
        `<graphics type='vnc' port='5902'><listen type='address' address='::'/></graphics>`,
      ),
      'x',
    );
    expect(v6.display).toMatchObject({ host: '::1', port: 5902 });
    const network = parseLiveDisplay(
      domainXml(
        `<graphics type='vnc' port='5903'><listen type='network' network='default' address='192.168.122.1'/></graphics>`,
      ),
      'x',
    );
    expect(network.display).toMatchObject({ host: '192.168.122.1', port: 5903 });
  });

  it('prefers VNC, takes SPICE when there is no VNC', () => {
    const spice = `<graphics type='spice' port='5910' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>`;
    expect(parseLiveDisplay(domainXml(`${spice}\n${LOOPBACK_VNC}`), 'x').display).toMatchObject({
      protocol: 'vnc',
      port: 5900,
    });
    expect(parseLiveDisplay(domainXml(spice), 'x').display).toMatchObject({
      protocol: 'spice',
      port: 5910,
    });
  });

  it('reads the password (unescaped) and its expiry (UTC) from --security-info output', () => {
    const live = parseLiveDisplay(
      domainXml(
        `<graphics type='vnc' port='5900' listen='127.0.0.1' passwd='p@s:w&amp;&lt;d' passwdValidTo='2026-11-21T19:00:00'><listen type='address' address='127.0.0.1'/></graphics>`,
      ),
      'x',
    );
    expect(live.display).toMatchObject({
      password: 'p@s:w&<d',
      passwordValidTo: '2026-11-21T19:00:00.000Z',
    });
  });

  it('says why a display cannot be forwarded: UNIX socket, no listen, no display', () => {
    // As libvirt 9.0 printed a running domain defined with <listen type='socket'/>.
    const socket = `<graphics type='vnc' socket='/var/lib/libvirt/qemu/domain-20-hvkit-con-explore2/vnc.sock'>
      <listen type='socket' socket='/var/lib/libvirt/qemu/domain-20-hvkit-con-explore2/vnc.sock'/>
    </graphics>`;
    expect(parseLiveDisplay(domainXml(socket), 'x').display).toMatchObject({
      unavailable: 'unix-socket',
    });
    expect(
      parseLiveDisplay(domainXml(`<graphics type='vnc'><listen type='none'/></graphics>`), 'x')
        .display,
    ).toMatchObject({ unavailable: 'no-listen' });
    expect(parseLiveDisplay(domainXml(''), 'x').display).toMatchObject({
      unavailable: 'no-display',
    });
  });

  it('a running domain without a port is a ProviderApiError', () => {
    expect(() =>
      parseLiveDisplay(domainXml(`<graphics type='vnc' listen='127.0.0.1'/>`), 'x'),
    ).toThrow(/no TCP port/);
  });

  it('malformed XML: the error quotes neither the document nor the parser (the password could be in it)', () => {
    const broken = `<domain id='1'><devices><graphics type='vnc' passwd='hunter22' port='5900'></devices>`;
    let caught: unknown;
    try {
      parseLiveDisplay(broken, 'x');
    } catch (error) {
      caught = error;
    }
    expect(HvkitError.isInstance(caught)).toBe(true);
    const error = caught as HvkitError;
    expect(error.code).toBe('PROVIDER_API');
    expect(JSON.stringify(error.toJSON())).not.toContain('hunter22');
    expect(String(error.stack)).not.toContain('hunter22');
    expect(error.cause).toBeUndefined();
  });
});

/** A Virsh whose runMany answers `domstate` and `dumpxml` with the given outputs. */
function fakeVirsh(state: string, dump: string): Virsh {
  return {
    runMany: async (commands: readonly (readonly string[])[]): Promise<VirshCommandResult[]> => {
      expect(commands).toEqual([
        ['domstate', '--', 'vm1'],
        ['dumpxml', '--security-info', '--', 'vm1'],
      ]);
      return [
        { ok: true, stdout: `${state}\n` },
        { ok: true, stdout: dump },
      ];
    },
  } as unknown as Virsh;
}

describe('readLiveDisplay', () => {
  it('running, idle and in shutdown serve a console', async () => {
    for (const state of ['running', 'idle', 'in shutdown']) {
      const live = await readLiveDisplay(fakeVirsh(state, domainXml(LOOPBACK_VNC)), 'vm1');
      expect(live).toMatchObject({ uuid: UUID, display: { port: 5900 } });
    }
  });

  it('paused, shut off, pmsuspended and crashed are ConflictError invalid-power-state', async () => {
    for (const state of ['paused', 'shut off', 'pmsuspended', 'crashed']) {
      const error = await failure(
        readLiveDisplay(fakeVirsh(state, domainXml(LOOPBACK_VNC)), 'vm1'),
      );
      expect(ConflictError.isInstance(error)).toBe(true);
      expect(error.details).toMatchObject({ reason: 'invalid-power-state', state });
    }
  });

  it('stopped between domstate and dumpxml (inactive document): invalid-power-state', async () => {
    const inactive = domainXml(LOOPBACK_VNC.replace("port='5900'", "port='-1'"), null);
    const error = await failure(readLiveDisplay(fakeVirsh('running', inactive), 'vm1'));
    expect(error.details).toMatchObject({ reason: 'invalid-power-state' });
  });

  it('the lookup error of domstate is thrown as mapped (NotFoundError for a missing domain)', async () => {
    const missing = {
      runMany: async (): Promise<VirshCommandResult[]> => [
        {
          ok: false,
          stdout: '',
          error: new NotFoundError('vm', 'vm1', 'missing'),
        },
        { ok: false, stdout: '', error: new ConflictError('invalid-state', 'unused') },
      ],
    } as unknown as Virsh;
    const error = await failure(readLiveDisplay(missing, 'vm1'));
    expect(error.code).toBe('NOT_FOUND');
  });
});

/** A LocalForward stand-in: `open` connections, closes when asked. */
function fakeForward(open: number): LocalForward & { closedCalls: number } {
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  const forward = {
    host: '127.0.0.1',
    port: 40_000,
    closedCalls: 0,
    closing: false,
    closed,
    get stats(): LocalForwardStats {
      return { open, accepted: open, refused: 0 };
    },
    close: async () => {
      forward.closedCalls++;
      forward.closing = true;
      resolveClosed();
      await closed;
    },
  };
  return forward;
}

describe('ConsoleForwards', () => {
  it('at the cap, makes room by closing the oldest forward without a viewer', async () => {
    const forwards = new ConsoleForwards({ max: 2 });
    const busy = fakeForward(1);
    const idle = fakeForward(0);
    forwards.add('a', busy);
    forwards.add('b', idle);
    await forwards.makeRoom('lv');
    expect(idle.closedCalls).toBe(1);
    expect(busy.closedCalls).toBe(0);
    expect(forwards.size).toBe(1);
  });

  it('at the cap with every forward in use: ConflictError in-use', async () => {
    const forwards = new ConsoleForwards({ max: 1 });
    forwards.add('a', fakeForward(1));
    const error = await failure(forwards.makeRoom('lv'));
    expect(error.details).toMatchObject({ reason: 'in-use', max: 1 });
  });

  it('a forward that closes by itself leaves; closeDomain closes only that domain', async () => {
    const forwards = new ConsoleForwards();
    const a1 = fakeForward(0);
    const a2 = fakeForward(0);
    const b = fakeForward(0);
    forwards.add('a', a1);
    forwards.add('a', a2);
    forwards.add('b', b);
    await a1.close();
    await Promise.resolve();
    expect(forwards.forwardsOf('a')).toEqual([a2]);
    await forwards.closeDomain('a');
    expect(a2.closedCalls).toBe(1);
    expect(b.closedCalls).toBe(0);
    await Promise.resolve();
    expect(forwards.size).toBe(1);
  });

  it('closeAll closes every forward and refuses new ones', async () => {
    const forwards = new ConsoleForwards();
    const a = fakeForward(1);
    forwards.add('a', a);
    await forwards.closeAll();
    expect(a.closedCalls).toBe(1);
    const error = await failure(forwards.makeRoom('lv'));
    expect(error.details).toMatchObject({ reason: 'invalid-state' });
    const late = fakeForward(0);
    forwards.add('b', late);
    expect(late.closedCalls).toBe(1);
  });
});
