// A host for unit tests that answers as a one-shot virsh does, so `Virsh.run` and
// `Virsh.runMany` can be driven without a bed (the real one: test/virsh.bed.test.ts).
import type { ExecResult } from '@hvkit/ssh';
import { Virsh } from '../src/virsh/virsh.js';

// What a one-shot virsh prints for `cd`, the stderr marker runMany puts after each command.
const CD = 'error: cd: command valid only in interactive mode\n';

/**
 * A Virsh (no sessions: its spawn always fails) whose host runs `virsh … '<cmd>; echo <marker>;
 * cd; …'` and `virsh … cmd args` like virsh: `echo` prints its word, `cd` its error, and every
 * other command prints what `answer` returns for its line — on stderr, failing the call, when
 * that starts with `error: `.
 *
 * @param answer Output of one command line (`dominfo -- x`); undefined for a command the test did
 *   not expect, which fails the test.
 * @returns The Virsh; `lines` gets each exec's command lines (markers left out), `execs` the
 *   same with the exec's string stdin.
 */
export function fakeVirshHost(answer: (line: string) => string | undefined) {
  const lines: string[][] = [];
  const execs: { lines: string[]; stdin: string | undefined }[] = [];
  const exec = async (
    argv: readonly string[],
    options: { stdin?: unknown } = {},
  ): Promise<ExecResult> => {
    const args = argv.slice(argv.indexOf('virsh') + 4);
    const parts = args.length === 1 ? (args[0] ?? '').split('; ') : [args.join(' ')];
    const commands = parts.filter((part) => !part.startsWith('echo ') && part !== 'cd');
    lines.push(commands);
    execs.push({
      lines: commands,
      stdin: typeof options.stdin === 'string' ? options.stdin : undefined,
    });
    let stdout = '';
    let stderr = '';
    let code = 0;
    for (const part of parts) {
      if (part.startsWith('echo ')) stdout += part.slice('echo '.length);
      else if (part === 'cd') stderr += CD;
      else {
        const out = answer(part);
        if (out === undefined) throw new Error(`unexpected virsh command: ${part}`);
        if (out.startsWith('error: ')) {
          stderr += out;
          code = 1;
        } else stdout += out;
      }
    }
    return {
      code,
      signal: null,
      killed: false,
      stdout: Buffer.from(stdout),
      stderr: Buffer.from(stderr),
    };
  };
  const virsh = new Virsh({ exec, spawn: () => Promise.reject(new Error('not used')) });
  return { virsh, lines, execs };
}
