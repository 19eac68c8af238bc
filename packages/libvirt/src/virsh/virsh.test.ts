import { ConflictError, NotFoundError, ProviderApiError, TransportError } from '@hvkit/core';
import type { ExecOptions, ExecResult } from '@hvkit/ssh';
import { describe, expect, it } from 'vitest';
import { Virsh, type VirshTransport } from './virsh.js';

interface Call {
  argv: readonly string[];
  options: ExecOptions | undefined;
}

/**
 * A fake host that answers each exec with `reply(commandString)`, where the command string is
 * the one argument virsh gets in runMany. Records the calls.
 */
function fakeHost(
  reply: (argv: readonly string[]) => { stdout: string; stderr: string; code: number },
) {
  const calls: Call[] = [];
  const transport: VirshTransport = {
    exec: async (argv: readonly string[], options?: ExecOptions): Promise<ExecResult> => {
      calls.push({ argv, options });
      const { stdout, stderr, code } = reply(argv);
      return {
        code,
        signal: null,
        killed: false,
        stdout: Buffer.from(stdout),
        stderr: Buffer.from(stderr),
      };
    },
    spawn: async () => {
      throw new Error('not used');
    },
  };
  return { transport, calls };
}

const CD = 'error: cd: command valid only in interactive mode\n';

/** The echo markers of a command string, in order (`echo @@hvkit-…@@`). */
function markers(commandString: string): string[] {
  return [...commandString.matchAll(/echo (@@hvkit-[A-Za-z0-9_-]+-\d+@@)/g)].map(
    (match) => match[1] ?? '',
  );
}

describe('Virsh (fake host)', () => {
  it('run: runs `env LC_ALL=C.UTF-8 virsh -q -c <uri> …` and maps a failure', async () => {
    const { transport, calls } = fakeHost(() => ({
      stdout: '',
      stderr: "error: failed to get domain 'web'\n",
      code: 1,
    }));
    const virsh = new Virsh(transport, { uri: 'qemu+tls://h/system', provider: 'kvm1' });
    const error = await virsh
      .run(['dominfo', '--', 'web'], { idempotent: true })
      .catch((e: unknown) => e);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).provider).toBe('kvm1');
    expect(calls[0]?.argv).toEqual([
      'env',
      'LC_ALL=C.UTF-8',
      'virsh',
      '-q',
      '-c',
      'qemu+tls://h/system',
      'dominfo',
      '--',
      'web',
    ]);
    expect(calls[0]?.options?.idempotent).toBe(true);
  });

  it('runMany: splits stdout and stderr per command with the markers', async () => {
    const { transport, calls } = fakeHost((argv) => {
      const [first, second, third] = markers(argv[argv.length - 1] ?? '');
      return {
        // virsh -q echo prints no newline; a command's own output keeps its newlines.
        stdout: `out one\n${first}${second}three\n${third}`,
        stderr: `${CD}error: Failed to start domain 'b'\nerror: Requested operation is not valid: domain is already running\n${CD}${CD}`,
        code: 1,
      };
    });
    const virsh = new Virsh(transport);
    const results = await virsh.runMany([
      ['dominfo', 'a'],
      ['start', 'b'],
      ['echo', 'c d'],
    ]);
    expect(results[0]).toEqual({ ok: true, stdout: 'out one\n' });
    expect(results[1]?.ok).toBe(false);
    if (results[1] && !results[1].ok) {
      expect(ConflictError.isInstance(results[1].error)).toBe(true);
      expect(results[1].stdout).toBe('');
    }
    expect(results[2]).toEqual({ ok: true, stdout: 'three\n' });
    // One exec, the commands joined with their markers, arguments quoted for virsh.
    expect(calls).toHaveLength(1);
    const commandString = calls[0]?.argv[calls[0].argv.length - 1] ?? '';
    expect(commandString).toMatch(
      /^dominfo a; echo @@hvkit-\S+-0@@; cd; start b; echo @@hvkit-\S+-1@@; cd; echo 'c d'; echo @@hvkit-\S+-2@@; cd$/,
    );
  });

  it('runMany: virsh dying mid-batch fails the rest with an unknown-outcome TransportError', async () => {
    const { transport } = fakeHost((argv) => {
      const [first] = markers(argv[argv.length - 1] ?? '');
      return {
        stdout: `ok\n${first}`,
        stderr: `${CD}error: End of file while reading data: Input/output error\n`,
        code: 1,
      };
    });
    const results = await new Virsh(transport).runMany([['a'], ['b'], ['c']], {
      idempotent: false,
    });
    expect(results[0]).toEqual({ ok: true, stdout: 'ok\n' });
    for (const result of results.slice(1)) {
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(TransportError.isInstance(result.error)).toBe(true);
        expect(result.error.details).toMatchObject({ outcome: 'unknown' });
        expect(result.error.retryable).toBe(false);
      }
    }
  });

  it('runMany: a refused batch stops the batches after it', async () => {
    let execs = 0;
    const { transport } = fakeHost(() => {
      execs++;
      return { stdout: '', stderr: "error: command 'x' doesn't support option --y\n", code: 1 };
    });
    // Two batches: each command is ~60 KB on the command line.
    const big = 'z'.repeat(60_000);
    const results = await new Virsh(transport).runMany([
      ['echo', big],
      ['echo', big],
    ]);
    expect(execs).toBe(1);
    expect(results).toHaveLength(2);
    for (const result of results) {
      expect(result.ok === false && ProviderApiError.isInstance(result.error)).toBe(true);
    }
  });

  it('runMany: no commands, no call', async () => {
    const { transport, calls } = fakeHost(() => ({ stdout: '', stderr: '', code: 0 }));
    expect(await new Virsh(transport).runMany([])).toEqual([]);
    expect(calls).toHaveLength(0);
  });
});
