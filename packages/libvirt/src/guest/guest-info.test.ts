// Guest info offline: `guestinfo` output and its failures as recorded on the bed (__fixtures__),
// through a fake SSH host that answers like virsh does.
import { readFileSync } from 'node:fs';
import { NotFoundError } from '@hvkit/core';
import type { ExecResult } from '@hvkit/ssh';
import { describe, expect, it } from 'vitest';
import { mapVirshError } from '../libvirt-errors.js';
import { Virsh } from '../virsh/virsh.js';
import {
  agentStateOfError,
  getGuestInfo,
  guestInfoCommands,
  parseGuestInfo,
} from './guest-info.js';

const fixture = (name: string) =>
  readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');

const CD = 'error: cd: command valid only in interactive mode\n';

/**
 * A Virsh whose host runs `virsh … '<cmd>; echo <marker>; cd; …'` like virsh does: the
 * `guest-agent-timeout` commands succeed, `guestinfo` prints `stdout` or fails with `stderr`.
 */
function virshAnswering(answer: { stdout?: string; stderr?: string }) {
  const calls: string[][] = [];
  const exec = async (argv: readonly string[]): Promise<ExecResult> => {
    const parts = (argv[argv.length - 1] ?? '').split('; ');
    calls.push(parts.filter((part) => !part.startsWith('echo ') && part !== 'cd'));
    let stdout = '';
    let stderr = '';
    for (const part of parts) {
      if (part.startsWith('echo ')) stdout += part.slice('echo '.length);
      else if (part === 'cd') stderr += CD;
      else if (part.startsWith('guestinfo ')) {
        stdout += answer.stdout ?? '';
        stderr += answer.stderr ?? '';
      }
    }
    return {
      code: 1,
      signal: null,
      killed: false,
      stdout: Buffer.from(stdout),
      stderr: Buffer.from(stderr),
    };
  };
  const virsh = new Virsh({ exec, spawn: () => Promise.reject(new Error('no spawn')) });
  return { virsh, calls };
}

describe('parseGuestInfo', () => {
  it('maps what the bed guest’s qemu-ga answers: host name, OS, eth0 by MAC, no loopback', () => {
    expect(parseGuestInfo(fixture('guestinfo-busybox.txt'))).toEqual({
      toolsState: 'running',
      hostname: 'gm-explore',
      osName: 'hvkit test guest (busybox initramfs)',
      ipAddresses: ['192.168.122.160', 'fe80::5054:ff:fe67:6d01'],
      interfaces: [
        {
          mac: '52:54:00:67:6d:01',
          name: 'eth0',
          ipAddresses: ['192.168.122.160', 'fe80::5054:ff:fe67:6d01'],
        },
      ],
    });
  });

  it('maps file systems when the agent lists them (key names of libvirt 9.0 guestinfo)', () => {
    // Not recorded: the bed guest mounts no block file system. Keys as libvirt documents them
    // for virDomainGetGuestInfo (fs.<n>.mountpoint/name/fstype/total-bytes/used-bytes).
    const text = [
      'hostname            : db1',
      'fs.count            : 3',
      'fs.0.name          : vda1',
      'fs.0.mountpoint    : /',
      'fs.0.fstype        : ext4',
      'fs.0.total-bytes   : 10434699264',
      'fs.0.used-bytes    : 2061414400',
      'fs.1.name          : vdb',
      'fs.1.mountpoint    : /data',
      'fs.1.fstype        : xfs',
      'fs.2.name          : vdc',
      'fs.2.mountpoint    : /full',
      'fs.2.total-bytes   : 100',
      'fs.2.used-bytes    : 100',
      '',
    ].join('\n');
    expect(parseGuestInfo(text).filesystems).toEqual([
      { mountPoint: '/', capacityBytes: 10434699264, freeBytes: 10434699264 - 2061414400 },
      { mountPoint: '/full', capacityBytes: 100, freeBytes: 0 },
    ]);
  });

  it('leaves out what the agent did not say', () => {
    expect(parseGuestInfo('')).toEqual({ toolsState: 'running', ipAddresses: [], interfaces: [] });
    expect(parseGuestInfo('os.name : Debian GNU/Linux\nos.version : 12 (bookworm)\n').osName).toBe(
      'Debian GNU/Linux 12 (bookworm)',
    );
  });
});

describe('getGuestInfo', () => {
  it('sets the agent timeout, then asks one guestinfo, in one virsh process', async () => {
    const { virsh, calls } = virshAnswering({ stdout: fixture('guestinfo-busybox.txt') });
    const info = await getGuestInfo(virsh, 'uuid-1');
    expect(info.hostname).toBe('gm-explore');
    expect(calls).toEqual([
      [
        'guest-agent-timeout --timeout 5 -- uuid-1',
        'guestinfo --os --hostname --interface --filesystem -- uuid-1',
      ],
    ]);
    expect(guestInfoCommands('uuid-1', 3)[0]).toEqual([
      'guest-agent-timeout',
      '--timeout',
      '3',
      '--',
      'uuid-1',
    ]);
  });

  it('refuses a timeout that is not a whole number of seconds, before any call', async () => {
    const { virsh, calls } = virshAnswering({});
    await expect(getGuestInfo(virsh, 'web', { agentTimeoutSeconds: 0.5 })).rejects.toMatchObject({
      code: 'INVALID_SPEC',
      issues: [expect.objectContaining({ path: 'agentTimeoutSeconds' })],
    });
    expect(calls).toEqual([]);
  });

  it.each([
    ['err-guestinfo-not-running.stderr.txt', 'not-running'],
    ['err-guestinfo-agent-not-connected.stderr.txt', 'not-running'],
    ['err-guestinfo-no-agent-channel.stderr.txt', 'not-installed'],
    ['err-guestinfo-agent-stuck.stderr.txt', 'unknown'],
  ] as const)('%s → toolsState %s, no addresses', async (file, state) => {
    const { virsh } = virshAnswering({ stderr: fixture(file) });
    expect(await getGuestInfo(virsh, 'web')).toEqual({ toolsState: state, ipAddresses: [] });
  });

  it('a missing domain is NotFoundError (vm)', async () => {
    const { virsh } = virshAnswering({
      stderr: fixture('err-guestinfo-missing-domain.stderr.txt'),
    });
    const error = await getGuestInfo(virsh, 'no-such-domain-gm').catch((caught: unknown) => caught);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).resource).toBe('vm');
  });

  it('other failures are thrown, not taken for an agent state', async () => {
    const { virsh } = virshAnswering({ stderr: 'error: internal error: something else\n' });
    await expect(getGuestInfo(virsh, 'web')).rejects.toThrow(/something else/);
  });
});

describe('agentStateOfError', () => {
  const mapped = (text: string) => mapVirshError(text, { command: ['guestinfo'] });
  it('tells a stuck agent (unknown) from a stopped one', () => {
    expect(
      agentStateOfError(
        mapped('error: Guest agent is not responding: Guest agent not available for now\n'),
      ),
    ).toBe('unknown');
    expect(agentStateOfError(mapped(fixture('err-guestinfo-not-running.stderr.txt')))).toBe(
      'not-running',
    );
    expect(agentStateOfError(new Error('plain'))).toBeUndefined();
  });
});
