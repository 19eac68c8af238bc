// quoteShellArgument proven against REAL remote shells over the real SSH connection: arbitrary
// arguments come back byte for byte through `printf '%s\0'` (parsed by the login shell, dash,
// and again nested inside `bash -c`), and no argument ever runs anything (a marker file the
// payloads try to create never appears). Each run sends all its arguments in ONE exec.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createSshTransport, shellCommand } from '../src/index.js';
import { type SshdBed, startSshdBed } from './sshd-bed.js';

const bed = await startSshdBed();

/** What printf '%s\0' prints for these arguments. */
function expectedBytes(args: readonly string[]): Buffer {
  return Buffer.concat(args.flatMap((arg) => [Buffer.from(arg, 'utf8'), Buffer.from([0])]));
}

// Pieces shells care about, glued into strings: quotes of both kinds and their escapes,
// substitutions, separators, redirections, globs, tilde, history, whitespace, comments,
// assignments, option-like dashes, printf directives and non-ASCII.
const SHELL_PIECES = [
  "'",
  '"',
  "\\'",
  '\\',
  '$',
  '$(',
  ')',
  '`',
  '${',
  '}',
  ';',
  '|',
  '&',
  '&&',
  '||',
  '<',
  '>',
  '>>',
  '\n',
  '\r',
  '\t',
  ' ',
  '  ',
  '*',
  '?',
  '[',
  ']',
  '[a-z]',
  '~',
  '~root',
  '!',
  '!!',
  '#',
  '=',
  'a=b',
  '-',
  '--',
  '-n',
  '%s',
  '%b',
  '\\0',
  '\\n',
  '{a,b}',
  '$HOME',
  '$IFS',
  '$$',
  '$?',
  '$0',
  'é',
  '日本語',
  '🙂',
  '\u00a0',
  '\u2028',
  '\u007f',
  '\u0001',
  'x',
  'hvkit',
];
const noNul = (value: string): boolean => !value.includes('\0');
const argument = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }).filter(noNul) },
  { weight: 3, arbitrary: fc.string({ unit: fc.constantFrom(...SHELL_PIECES), maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 16 }).filter(noNul) },
  { weight: 1, arbitrary: fc.constantFrom('', "'", "''", '\n', ' ', '-', '~', '*') },
);

describe.skipIf(!bed)('quoteShellArgument against real shells over SSH', () => {
  const target = bed as SshdBed;
  const ssh = createSshTransport({
    host: target.host,
    port: target.port,
    username: target.username,
    privateKey: target.privateKey,
    hostKey: { fingerprint256: target.hostKeyFingerprint256 },
  });
  const marker = `/tmp/hvkit-quote-marker-${randomUUID()}`;
  afterAll(async () => {
    await ssh.exec(['rm', '-f', marker]).catch(() => undefined);
    await ssh.close();
    await target.stop();
  });

  it('the login shell is a POSIX sh (dash), so the property speaks for the strictest one', async () => {
    const shell = await ssh.exec(['sh', '-c', 'readlink -f /proc/$PPID/exe']);
    expect(shell.stdout.toString().trim()).toMatch(/dash$/);
  });

  it('arbitrary arguments round-trip exactly through printf (dash, and bash nested)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(argument, { minLength: 1, maxLength: 24 }), async (args) => {
        runs++;
        const expected = expectedBytes(args);
        const direct = await ssh.exec(['printf', '%s\\0', ...args]);
        expect(direct.stderr.toString()).toBe('');
        expect(direct.code).toBe(0);
        expect(direct.stdout.equals(expected)).toBe(true);
        // The same command line parsed a second time, by bash.
        const nested = await ssh.exec(['bash', '-c', shellCommand(['printf', '%s\\0', ...args])]);
        expect(nested.code).toBe(0);
        expect(nested.stdout.equals(expected)).toBe(true);
      }),
      { numRuns: 100 },
    );
    expect(runs).toBeGreaterThanOrEqual(100);
  });

  it('no argument ever executes anything: injection payloads never create the marker', async () => {
    const payloads = [
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `; touch ${marker}`,
      `| touch ${marker}`,
      `&& touch ${marker}`,
      `|| touch ${marker}`,
      `\ntouch ${marker}\n`,
      `'; touch ${marker}; '`,
      `"; touch ${marker}; "`,
      `'$(touch ${marker})'`,
      `\\'; touch ${marker} #`,
      `$(touch\${IFS}${marker})`,
      `> ${marker}`,
      `'>${marker}'`,
      `\${x:-$(touch ${marker})}`,
      `$(( $(touch ${marker}) ))`,
    ];
    const hostile = fc
      .tuple(argument, fc.constantFrom(...payloads), argument)
      .map(([before, payload, after]) => `${before}${payload}${after}`);
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 16 }), async (args) => {
        // As arguments to a program, and as the program itself (which then does not exist).
        const asArguments = await ssh.exec(['printf', '%s\\0', ...args]);
        expect(asArguments.stdout.equals(expectedBytes(args))).toBe(true);
        const asProgram = await ssh.exec(args);
        expect(asProgram.code).toBe(127);
      }),
      { numRuns: 60 },
    );
    const check = await ssh.exec(['test', '-e', marker]);
    expect(check.code).toBe(1);
    // The check itself can see a marker: create it on purpose, through a real shell.
    await ssh.exec(['sh', '-c', `touch ${marker}`]);
    expect((await ssh.exec(['test', '-e', marker])).code).toBe(0);
  });
});
