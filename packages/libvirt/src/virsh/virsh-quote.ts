/**
 * The one place that turns an argument vector into a command line for virsh's own parser: the
 * command string one virsh process runs (`virsh 'dominfo a; dominfo b'`, see `Virsh.runMany`).
 * That string then reaches the host as one argument, quoted again for the remote shell by
 * `@hvkit/ssh`. A single command (`Virsh.run`) needs none of this: its arguments reach virsh as
 * a real argv.
 */
import { InvalidSpecError } from '@hvkit/core';

// Words virsh's tokenizer (vshCommandStringGetArg in libvirt's tools/vsh.c) passes through as they
// are: no blank, quote, backslash, `;` (command separator) or `#` (a word starting with it is a
// comment). Anything else is quoted, so logged command lines stay readable.
const SAFE_WORD = /^[A-Za-z0-9_@%+,./:=-]+$/;
// In a `u` regular expression a surrogate pair is one code point, so this matches only lone ones.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

function invalid(name: string, message: string, code: string): InvalidSpecError {
  return new InvalidSpecError([{ path: name, message, code }], { subject: 'virsh command' });
}

/**
 * Quotes one argument for virsh's command-string grammar so that virsh receives it byte for byte.
 *
 * virsh tokenizes like a small shell (tools/vsh.c, vshCommandStringGetArg): blanks (space, tab,
 * newline) and `;` split words and commands, `#` at the start of a word comments out the rest of
 * the line, `'…'` is literal (newlines included), `"…"` and a bare `\\` escape the next character,
 * and `\\` before a newline is removed even inside `"…"`. Single quotes are the only form with no
 * exception, so the value is written in `'…'` with each `'` as `'\\''` (close, escaped quote,
 * reopen) — the same form as the POSIX shell's. Plain words are left as they are.
 *
 * @param value The argument: any text without NUL.
 * @param name Names the argument in the error. Default `argument`.
 * @throws InvalidSpecError when `value` contains NUL (no C program can receive it) or a lone
 *   UTF-16 surrogate (no UTF-8 form).
 */
export function quoteVirshArgument(value: string, name = 'argument'): string {
  if (value.includes('\0')) {
    throw invalid(name, 'contains a NUL character, which virsh cannot receive', 'nul_in_argument');
  }
  if (LONE_SURROGATE.test(value)) {
    throw invalid(
      name,
      'contains a lone UTF-16 surrogate, which has no UTF-8 encoding',
      'invalid_unicode',
    );
  }
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Builds one virsh command from an argument vector: `argv[0]` is the virsh command (`dominfo`),
 * every element quoted by {@link quoteVirshArgument}, joined by single spaces. Commands are
 * joined with `; ` into a command string.
 *
 * @throws InvalidSpecError when `argv` is empty or an element cannot be quoted (the issue's path
 *   names it, e.g. `argv[2]`).
 */
export function virshCommandLine(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw invalid('argv', 'needs at least the virsh command', 'empty_argv');
  }
  return argv.map((arg, index) => quoteVirshArgument(arg, `argv[${index}]`)).join(' ');
}
