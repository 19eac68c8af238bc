// The session protocol against a scripted interactive virsh (the real one: test/virsh-session.bed.test.ts):
// which commands may use a session, output cut per command, virsh's own reconnect notices, a
// program that does not echo (no readline), and a session that dies mid-request.
import { PassThrough, Writable } from 'node:stream';
import { TransportError } from '@hvkit/core';
import type { SshProcess } from '@hvkit/ssh';
import { describe, expect, it } from 'vitest';
import { Virsh } from './virsh.js';
import { sessionLine, VirshSession } from './virsh-session.js';

interface Script {
  /** Answers one command line: [stdout, stderr]. Undefined: the line is a marker, handled here. */
  answer?: (line: string) => [string, string];
  /** Echo input lines after the prompt, as readline does. Default true. */
  echo?: boolean;
  /** Dies (channel closes) on this line. */
  dieOn?: string;
}

/** A fake SSH spawn that behaves as interactive `virsh -q`: prompt, echo, `echo`, unknown commands. */
function fakeVirsh(script: Script) {
  const spawned: { stdout: PassThrough; stderr: (text: string) => void; alive: boolean }[] = [];
  const spawn = async (
    _argv: readonly string[],
    options?: { onStderr?: (chunk: Buffer) => void },
  ): Promise<SshProcess> => {
    const stdout = new PassThrough();
    let ended!: (status: { code: number; signal: null; killed: boolean; stderr: Buffer }) => void;
    const exit = new Promise<{ code: number; signal: null; killed: boolean; stderr: Buffer }>(
      (resolve) => {
        ended = resolve;
      },
    );
    const state = {
      stdout,
      stderr: (text: string) => options?.onStderr?.(Buffer.from(text)),
      alive: true,
    };
    spawned.push(state);
    const die = () => {
      if (!state.alive) return;
      state.alive = false;
      stdout.end();
      ended({ code: 0, signal: null, killed: true, stderr: Buffer.alloc(0) });
    };
    let pending = '';
    const prompt = () => stdout.write('virsh # ');
    prompt();
    const stdin = new Writable({
      write(chunk: Buffer, _encoding, done) {
        pending += chunk.toString();
        for (let at = pending.indexOf('\n'); at >= 0; at = pending.indexOf('\n')) {
          const line = pending.slice(0, at);
          pending = pending.slice(at + 1);
          if (!state.alive) break;
          if (line === script.dieOn) {
            die();
            break;
          }
          if (script.echo !== false) stdout.write(`${line}\n`);
          if (line.startsWith('echo ')) stdout.write(line.slice(5));
          else if (line.startsWith('@@hvkit-')) state.stderr(`error: unknown command: '${line}'\n`);
          else {
            const [out, err] = script.answer?.(line) ?? ['', ''];
            stdout.write(out);
            if (err) state.stderr(err);
          }
          prompt();
        }
        done();
      },
    });
    return { stdout, stdin, exit, kill: die } as unknown as SshProcess;
  };
  return { spawn, spawned };
}

describe('sessionLine', () => {
  it('takes printable ASCII commands and refuses what a session must not carry', () => {
    expect(sessionLine(['dominfo', '--', 'a b'], "dominfo -- 'a b'")).toBe("dominfo -- 'a b'");
    expect(sessionLine(['desc', 'ü'], "desc 'ü'")).toBeUndefined();
    expect(sessionLine(['desc', 'a\tb'], "desc 'a\tb'")).toBeUndefined();
    expect(sessionLine(['define', '/dev/stdin'], 'define /dev/stdin')).toBeUndefined();
    expect(sessionLine(['echo', '/proc/self/fd/0'], 'echo /proc/self/fd/0')).toBeUndefined();
    for (const command of ['connect', 'cd', 'quit', 'console', 'event', 'vol-upload', 'edit'])
      expect(sessionLine([command, 'x'], `${command} x`)).toBeUndefined();
    // A lone argument that needed quoting is a command string for a one-shot virsh.
    expect(sessionLine(['list; list'], "'list; list'")).toBeUndefined();
    expect(sessionLine(['nodeinfo'], 'nodeinfo')).toBe('nodeinfo');
    expect(sessionLine(['desc', 'x'.repeat(20_000)], `desc ${'x'.repeat(20_000)}`)).toBeUndefined();
  });
});

describe('VirshSession with a scripted virsh', () => {
  it('cuts stdout and stderr per command, even output that looks like a prompt or a marker', async () => {
    const { spawn } = fakeVirsh({
      answer: (line) =>
        line === 'bad'
          ? ['partial', "error: failed to get domain 'x'\n"]
          : [`virsh # out of ${line}\n@@hvkit-fake-0@@\n`, ''],
    });
    const session = await VirshSession.open({ spawn }, 'qemu:///system', 'libvirt');
    const reply = await session.request(['one', 'bad', 'two']);
    expect(reply.error).toBeUndefined();
    expect(reply.outputs).toEqual([
      { stdout: 'virsh # out of one\n@@hvkit-fake-0@@\n', stderr: '' },
      { stdout: 'partial', stderr: "error: failed to get domain 'x'\n" },
      { stdout: 'virsh # out of two\n@@hvkit-fake-0@@\n', stderr: '' },
    ]);
    // The session stays usable for the next request.
    expect(session.usable).toBe(true);
    const again = await session.request(['three']);
    expect(again.outputs[0]?.stdout).toBe('virsh # out of three\n@@hvkit-fake-0@@\n');
    session.close();
  });

  it("drops virsh's reconnect notice from a command's errors and retires the session", async () => {
    let first = true;
    const { spawn } = fakeVirsh({
      answer: () => {
        const notice = first ? 'error: Disconnected from qemu:///system due to end of file\n' : '';
        first = false;
        return ['ok\n', notice];
      },
    });
    const session = await VirshSession.open({ spawn }, 'qemu:///system', 'libvirt');
    const reply = await session.request(['start x']);
    expect(reply.outputs).toEqual([{ stdout: 'ok\n', stderr: '' }]);
    expect(session.usable).toBe(false);
    session.close();
  });

  it('stderr while idle (virsh speaking on its own) retires the session', async () => {
    const fake = fakeVirsh({ answer: () => ['ok\n', ''] });
    const session = await VirshSession.open({ spawn: fake.spawn }, 'qemu:///system', 'libvirt');
    expect(session.usable).toBe(true);
    fake.spawned[0]?.stderr('error: Disconnected from qemu:///system due to end of file\n');
    expect(session.usable).toBe(false);
    session.close();
  });

  it('a program that does not echo (no readline) fails the handshake as a protocol error', async () => {
    const { spawn } = fakeVirsh({ echo: false });
    const opening = VirshSession.open({ spawn }, 'qemu:///system', 'libvirt', 5_000);
    await expect(opening).rejects.toSatisfy(
      (error: unknown) =>
        TransportError.isInstance(error) &&
        (error.details as { protocol?: boolean }).protocol === true,
    );
  });

  it('a session that dies mid-request returns the finished commands and an unknown-outcome error', async () => {
    const { spawn } = fakeVirsh({ answer: (line) => [`${line}!\n`, ''], dieOn: 'two' });
    const session = await VirshSession.open({ spawn }, 'qemu:///system', 'libvirt');
    const reply = await session.request(['one', 'two', 'three']);
    expect(reply.outputs).toEqual([{ stdout: 'one!\n', stderr: '' }]);
    expect(TransportError.isInstance(reply.error)).toBe(true);
    expect(reply.error?.details).toMatchObject({ outcome: 'unknown' });
    expect(session.ended).toBe(true);
  });
});

describe('Virsh over sessions with a scripted virsh', () => {
  it('a read whose session dies runs again as a process; a mutation reports the unknown outcome', async () => {
    const execs: string[][] = [];
    const fake = fakeVirsh({ answer: (line) => [`${line}!\n`, ''], dieOn: 'domstate a' });
    const virsh = new Virsh(
      {
        spawn: fake.spawn as never,
        exec: async (argv) => {
          execs.push([...argv]);
          return {
            code: 0,
            signal: null,
            killed: false,
            stdout: Buffer.from('running\n'),
            stderr: Buffer.alloc(0),
          };
        },
      },
      { sessions: 1 },
    );
    expect(await virsh.run(['domstate', 'a'], { idempotent: true })).toBe('running\n');
    expect(execs).toHaveLength(1);
    await expect(virsh.run(['domstate', 'a'])).rejects.toSatisfy(
      (error: unknown) =>
        TransportError.isInstance(error) &&
        (error.details as { outcome?: string }).outcome === 'unknown' &&
        !error.retryable,
    );
    expect(execs).toHaveLength(1);
    // Other commands go through a new session.
    expect(await virsh.run(['domid', 'b'])).toBe('domid b!\n');
    expect(virsh.stats()).toMatchObject({ processes: 1, sessionsOpen: 1 });
    virsh.close();
  });

  it('falls back to processes for good when the handshake shows no readline', async () => {
    let execs = 0;
    let spawns = 0;
    const fake = fakeVirsh({ echo: false });
    const virsh = new Virsh(
      {
        spawn: (async (...args: Parameters<typeof fake.spawn>) => {
          spawns++;
          return fake.spawn(...args);
        }) as never,
        exec: async () => {
          execs++;
          return {
            code: 0,
            signal: null,
            killed: false,
            stdout: Buffer.from('x'),
            stderr: Buffer.alloc(0),
          };
        },
      },
      { sessions: 2 },
    );
    expect(await virsh.run(['nodeinfo'])).toBe('x');
    expect(await virsh.run(['nodeinfo'])).toBe('x');
    expect(await virsh.runMany([['nodeinfo']])).toHaveLength(1);
    expect(spawns).toBe(1);
    expect(execs).toBe(3);
    expect(virsh.stats()).toMatchObject({ sessionRequests: 0, sessionsOpen: 0 });
    virsh.close();
  });
});
