// The event log offline: virsh event lines recorded on the bed (__fixtures__/event-loop-bed.txt,
// `virsh event --all --loop --timestamp` while this module's and other helpers' tests ran) parsed
// and mapped, and the log's folding, resolution and queries on them.
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Virsh } from '../virsh/virsh.js';
import { EventLog, eventMeaning, parseEventLine } from './events.js';

const RECORDED = readFileSync(new URL('./__fixtures__/event-loop-bed.txt', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line !== '');

/** Recorded lines of one domain, in order. */
function linesOf(domain: string): string[] {
  return RECORDED.filter((line) => line.includes(`for domain '${domain}'`));
}

// The log never spawns in these tests; only `ingest` is used.
const NO_VIRSH = {} as Virsh;

function logWith(uuids: Record<string, string | undefined>, capacity?: number) {
  const asked: string[] = [];
  const log = new EventLog(NO_VIRSH, {
    provider: 'lv',
    capacity,
    resolve: async (name) => {
      asked.push(name);
      return uuids[name];
    },
  });
  return { log, asked };
}

describe('parseEventLine', () => {
  it('splits every recorded event header and skips the indented detail lines', () => {
    const headers = RECORDED.filter((line) => /^\d{4}-/.test(line));
    const others = RECORDED.filter((line) => !/^\d{4}-/.test(line));
    expect(headers.length).toBeGreaterThan(400);
    expect(others.length).toBeGreaterThan(0);
    for (const line of headers) {
      const parsed = parseEventLine(line);
      expect(parsed, line).toBeDefined();
      expect(line).toContain(`for domain '${parsed?.domain}'`);
    }
    for (const line of others) expect(parseEventLine(line)).toBeUndefined();
  });

  it('reads the time with its offset, the type, the name and the detail', () => {
    expect(
      parseEventLine(
        "2026-11-21 17:58:06.135+0000: event 'lifecycle' for domain 'hvkit-gm-explore': Defined Added",
      ),
    ).toEqual({
      timeMs: Date.parse('2026-11-21T17:58:06.135Z'),
      type: 'lifecycle',
      domain: 'hvkit-gm-explore',
      detail: 'Defined Added',
    });
    expect(parseEventLine("2026-11-21 19:58:06.135+0200: event 'reboot' for domain 'a b'")).toEqual(
      {
        timeMs: Date.parse('2026-11-21T17:58:06.135Z'),
        type: 'reboot',
        domain: 'a b',
        detail: '',
      },
    );
    expect(
      parseEventLine(
        "2026-11-21 18:02:16.187+0000: event 'job-completed' for domain 'hvkit-gm-explore':",
      )?.detail,
    ).toBe('');
  });

  it("keeps a name holding quotes and `': ` whole", () => {
    const parsed = parseEventLine(
      "2026-11-21 17:58:06.135+0000: event 'lifecycle' for domain 'it's: odd': Started Booted",
    );
    expect(parsed?.domain).toBe("it's: odd");
    expect(parsed?.detail).toBe('Started Booted');
  });

  it('is undefined for lines that are not events', () => {
    expect(parseEventLine('qemu:///system')).toBeUndefined();
    expect(parseEventLine('\toperation: 2')).toBeUndefined();
    expect(parseEventLine('')).toBeUndefined();
  });
});

describe('eventMeaning', () => {
  const meaning = (detail: string) =>
    eventMeaning({ timeMs: 0, type: 'lifecycle', domain: 'web', detail })?.type;

  it('maps the lifecycle lines to vm-<verb> types, dropping the redundant ones', () => {
    expect(meaning('Defined Added')).toBe('vm-created');
    expect(meaning('Defined Updated')).toBe('vm-reconfigured');
    expect(meaning('Defined Renamed')).toBe('vm-renamed');
    expect(meaning('Defined Snapshot')).toBe('vm-snapshot-reverted');
    expect(meaning('Undefined Removed')).toBe('vm-deleted');
    expect(meaning('Undefined Renamed')).toBeUndefined();
    expect(meaning('Started Booted')).toBe('vm-powered-on');
    expect(meaning('Started Restored')).toBe('vm-resumed');
    expect(meaning('Suspended Paused')).toBe('vm-paused');
    expect(meaning('Resumed Unpaused')).toBe('vm-resumed');
    expect(meaning('Stopped Destroyed')).toBe('vm-powered-off');
    expect(meaning('Stopped Shutdown')).toBe('vm-shut-down');
    expect(meaning('Stopped Saved')).toBe('vm-suspended');
    expect(meaning('Shutdown Finished after guest request')).toBeUndefined();
  });

  it('reports reboots, metadata and device changes; not agent, balloon or job progress', () => {
    const of = (type: string, detail = '') =>
      eventMeaning({ timeMs: 0, type, domain: 'web', detail })?.type;
    expect(of('reboot')).toBe('vm-rebooted');
    expect(of('metadata-change', 'type description, uri <null>')).toBe('vm-reconfigured');
    expect(of('device-added', 'net1')).toBe('vm-reconfigured');
    expect(of('agent-lifecycle', "state: 'connected' reason: 'channel event'")).toBeUndefined();
    expect(of('balloon-change', '262144KiB')).toBeUndefined();
    expect(of('migration-iteration', "iteration: '1'")).toBeUndefined();
  });
});

describe('EventLog on recorded lines', () => {
  const UUID = '11111111-2222-3333-4444-555555555555';

  it('turns one domain’s recorded life into one event per action, in order', async () => {
    const { log } = logWith({ 'hvkit-gm-explore': UUID, 'hvkit-gm-explore2': UUID });
    // Both names, in the recorded order (a rename prints the old name's line first).
    for (const line of RECORDED.filter((item) => item.includes("for domain 'hvkit-gm-explore")))
      await log.ingest(line);
    const types = log
      .query({ vmId: UUID, limit: 1000 })
      .reverse()
      .map((event) => event.type);
    // Recorded: define, start, suspend/resume (a pause), destroy, start, suspend, resume, desc,
    // ACPI reboot (3 lines), reset (3 lines), guest shutdown, start, managedsave, restore,
    // destroy, rename there and back, start, define over it, attach-interface, metadata.
    expect(types.slice(0, 20)).toEqual([
      'vm-created',
      'vm-powered-on',
      'vm-paused',
      'vm-resumed',
      'vm-powered-off',
      'vm-powered-on',
      'vm-paused',
      'vm-resumed',
      'vm-reconfigured',
      'vm-rebooted',
      'vm-rebooted',
      'vm-shut-down',
      'vm-powered-on',
      'vm-paused',
      'vm-suspended',
      'vm-resumed',
      'vm-powered-off',
      'vm-renamed',
      'vm-renamed',
      'vm-powered-on',
    ]);
    expect(types.slice(20, 23)).toEqual(['vm-reconfigured', 'vm-reconfigured', 'vm-reconfigured']);
    const renamed = log.query({ vmId: UUID, limit: 1000 }).filter((e) => e.type === 'vm-renamed');
    expect(renamed.map((event) => event.message).reverse()).toEqual([
      'VM "hvkit-gm-explore2" renamed from "hvkit-gm-explore"',
      'VM "hvkit-gm-explore" renamed from "hvkit-gm-explore2"',
    ]);
  });

  it('answers newest first, by VM, since (inclusive) and limit, with unique stable ids', async () => {
    const other = '99999999-2222-3333-4444-555555555555';
    const { log } = logWith({ 'hvkit-gm-explore': UUID, 'hvkit-gm-noagent': other });
    for (const line of RECORDED) await log.ingest(line);
    const all = log.query({ limit: 10_000 });
    const times = all.map((event) => Date.parse(event.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set(all.map((event) => event.id)).size).toBe(all.length);
    expect(log.query({ limit: 10_000 }).map((event) => event.id)).toEqual(all.map((e) => e.id));

    const mine = log.query({ vmId: other });
    expect(mine.map((event) => event.type)).toEqual([
      'vm-deleted',
      'vm-powered-off',
      'vm-powered-on',
      'vm-created',
    ]);
    for (const event of mine) expect(event.vm).toEqual({ provider: 'lv', id: other });
    expect(log.query({ vmId: other, limit: 1 })[0]?.id).toBe(mine[0]?.id);
    const since = log.query({ vmId: other, since: mine[1]?.time });
    expect(since.map((event) => event.id)).toEqual([mine[0]?.id, mine[1]?.id]);
    expect(log.query({ limit: 2 })).toHaveLength(2);
    // Other helpers' domains were not resolvable here: their events carry no VM.
    expect(all.some((event) => event.vm === undefined)).toBe(true);
  });

  it('keeps a learnt UUID for a domain that is gone, and looks a reused name up again', async () => {
    const uuids: Record<string, string | undefined> = {};
    const { log, asked } = logWith(uuids);
    const at = (second: number, detail: string) =>
      `2026-11-21 18:00:${String(second).padStart(2, '0')}.000+0000: event 'lifecycle' for domain 'web': ${detail}`;
    log.learn('web', 'uuid-1');
    await log.ingest(at(1, 'Defined Added'));
    await log.ingest(at(2, 'Undefined Removed'));
    uuids.web = 'uuid-2';
    await log.ingest(at(3, 'Defined Added'));
    await log.ingest(at(4, 'Stopped Destroyed'));
    expect(log.query({ vmId: 'uuid-1' }).map((event) => event.type)).toEqual([
      'vm-deleted',
      'vm-created',
    ]);
    expect(log.query({ vmId: 'uuid-2' }).map((event) => event.type)).toEqual([
      'vm-powered-off',
      'vm-created',
    ]);
    // Looked up for each definition (names are reused); the rest came from the cache.
    expect(asked).toEqual(['web', 'web']);
  });

  it('takes events the driver records itself, in time order with libvirt’s', async () => {
    const { log } = logWith({ 'hvkit-gm-noagent': UUID });
    for (const line of linesOf('hvkit-gm-noagent')) await log.ingest(line);
    log.record({
      type: 'vm-snapshot-created',
      vmId: UUID,
      message: 'snapshot s1 of VM "hvkit-gm-noagent" created',
      timeMs: Date.parse('2026-11-21T17:59:54Z'),
    });
    expect(log.query({ vmId: UUID }).map((event) => event.type)).toEqual([
      'vm-deleted',
      'vm-powered-off',
      'vm-snapshot-created',
      'vm-powered-on',
      'vm-created',
    ]);
  });

  it('keeps only the newest `capacity` events', async () => {
    const { log } = logWith({ 'hvkit-gm-explore': UUID }, 5);
    for (const line of linesOf('hvkit-gm-explore')) await log.ingest(line);
    const kept = log.query({ limit: 100 });
    expect(kept).toHaveLength(5);
    expect(kept[0]?.type).toBe('vm-reconfigured');
  });
});

describe('EventLog listener (fake remote virsh)', () => {
  interface FakeChild {
    args: readonly string[];
    stdout: PassThrough;
    finish: (code: number, stderr?: string) => void;
    killed: string[];
  }

  function fakeVirsh() {
    const children: FakeChild[] = [];
    let spawned: (() => void) | undefined;
    const virsh = {
      spawn: async (args: readonly string[]) => {
        const stdout = new PassThrough();
        let finish: FakeChild['finish'] = () => {};
        const exit = new Promise<{
          code: number | null;
          signal: null;
          killed: boolean;
          stderr: Buffer;
        }>((resolve) => {
          finish = (code, stderr = '') => {
            stdout.end();
            resolve({ code, signal: null, killed: false, stderr: Buffer.from(stderr) });
          };
        });
        const child: FakeChild = { args, stdout, finish, killed: [] };
        children.push(child);
        spawned?.();
        return {
          stdout,
          stdin: new PassThrough(),
          exit,
          kill: (signal = 'SIGTERM') => {
            child.killed.push(signal);
            finish(143);
          },
        };
      },
      run: async (args: readonly string[]) =>
        args[0] === 'list'
          ? '6fc9430a-4ca7-4c5d-8905-1426255e4d5f old one\n'
          : 'uuid-from-domuuid\n',
    } as unknown as Virsh;
    const nextSpawn = () =>
      new Promise<void>((resolve) => {
        spawned = resolve;
      });
    return { virsh, children, nextSpawn };
  }

  const line = (second: number, detail: string) =>
    `2026-11-21 18:00:${String(second).padStart(2, '0')}.000+0000: event 'lifecycle' for domain 'web': ${detail}\n`;

  it('is ready after virsh’s uri line, restarts a listener that ended, and closes it', async () => {
    const { virsh, children, nextSpawn } = fakeVirsh();
    const errors: unknown[] = [];
    const log = new EventLog(virsh, {
      provider: 'lv',
      restartDelayMs: 1,
      onError: (error) => errors.push(error),
    });
    let ready = false;
    const started = log.start().then(() => {
      ready = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(children).toHaveLength(1);
    expect(children[0]?.args).toEqual(['uri; event --all --loop --timestamp']);
    expect(ready).toBe(false);
    children[0]?.stdout.write('qemu:///system\n');
    await started;
    expect(log.listening).toBe(true);
    // A line may arrive in pieces.
    const first = line(1, 'Defined Added');
    children[0]?.stdout.write(first.slice(0, 30));
    children[0]?.stdout.write(first.slice(30));

    const respawned = nextSpawn();
    children[0]?.finish(1, 'error: Disconnected from qemu:///system due to end of file\n');
    await respawned;
    expect(log.listening).toBe(false);
    expect(log.gaps).toHaveLength(1);
    expect(log.gaps[0]?.to).toBeUndefined();
    expect(String(errors[0])).toContain('Disconnected from qemu:///system');
    children[1]?.stdout.write('qemu:///system\n');
    children[1]?.stdout.write(line(5, 'Started Booted'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(log.gaps[0]?.to).toBeDefined();
    // The gap is an event of its own (at the time the listener went down, here later than the
    // fake lines' timestamps), in unfiltered queries only: it belongs to no VM.
    const all = log.query();
    expect(all.map((event) => event.type)).toEqual(['events-gap', 'vm-powered-on', 'vm-created']);
    expect(all[0]?.time).toBe(log.gaps[0]?.from);
    expect(all[0]).not.toHaveProperty('vm');
    expect(all[0]?.message).toContain(`to ${log.gaps[0]?.to}`);
    expect(all[1]?.vm).toEqual({ provider: 'lv', id: 'uuid-from-domuuid' });
    expect(log.query({ vmId: 'uuid-from-domuuid' }).map((event) => event.type)).toEqual([
      'vm-powered-on',
      'vm-created',
    ]);

    // Learnt from `list --all --uuid --name` at connect, though never seen defined.
    children[1]?.stdout.write(
      "2026-11-21 18:00:09.000+0000: event 'lifecycle' for domain 'old one': Undefined Removed\n",
    );
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Newest of the fake lines (the gap, stamped with the real clock, is newer still).
    expect(log.query({ limit: 2 })[1]).toMatchObject({
      type: 'vm-deleted',
      vm: { provider: 'lv', id: '6fc9430a-4ca7-4c5d-8905-1426255e4d5f' },
    });

    await log.close();
    expect(children[1]?.killed).toEqual(['SIGTERM']);
    expect(children).toHaveLength(2);
    expect(log.listening).toBe(false);
    await expect(log.start()).rejects.toThrow(/closed/);
  });

  it('start() rejects with virsh’s error when the first listener cannot connect', async () => {
    const { virsh, children, nextSpawn } = fakeVirsh();
    const log = new EventLog(virsh, { provider: 'lv', restartDelayMs: 60_000 });
    const started = log.start();
    await new Promise((resolve) => setTimeout(resolve, 10));
    children[0]?.finish(1, 'error: failed to connect to the hypervisor\n');
    await expect(started).rejects.toThrow(/failed to connect to the hypervisor/);
    // It keeps trying in the background: start() again waits for that listener.
    const retried = nextSpawn();
    const again = log.start();
    await log.close();
    await again;
    expect(children).toHaveLength(1);
    void retried;
  });
});

describe('EventLog start after a failed first listener', () => {
  it('a later start() resolves once the background retry connects', async () => {
    const children: { stdout: PassThrough; finish: (code: number, stderr?: string) => void }[] = [];
    const virsh = {
      spawn: async () => {
        const stdout = new PassThrough();
        let finish: (code: number, stderr?: string) => void = () => {};
        const exit = new Promise((resolve) => {
          finish = (code, stderr = '') => {
            stdout.end();
            resolve({ code, signal: null, killed: false, stderr: Buffer.from(stderr) });
          };
        });
        children.push({ stdout, finish });
        return { stdout, stdin: new PassThrough(), exit, kill: () => finish(143) };
      },
    } as unknown as Virsh;
    const log = new EventLog(virsh, { provider: 'lv', restartDelayMs: 1 });
    const first = log.start();
    await new Promise((resolve) => setTimeout(resolve, 5));
    children[0]?.finish(1, 'error: failed to connect to the hypervisor\n');
    await expect(first).rejects.toThrow(/failed to connect/);
    const second = log.start();
    for (let wait = 0; children.length < 2 && wait < 100; wait++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    children[1]?.stdout.write('qemu:///system\n');
    await second;
    expect(log.listening).toBe(true);
    expect(log.gaps).toHaveLength(1);
    expect(log.gaps[0]?.to).toBeDefined();
    await expect(log.start()).resolves.toBeUndefined();
    await log.close();
  });
});
