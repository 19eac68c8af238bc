/**
 * The one place that turns an argument vector into a command line for virsh's own parser: the
 * lines one virsh process reads on stdin (`Virsh.runMany`). The remote shell never sees these
 * lines: they travel as stdin bytes of one `virsh` process started through `@hvkit/ssh`, whose
 * own arguments are quoted for the shell there. A single command (`Virsh.run`) needs none of
 * this: its arguments reach virsh as a real argv.
 */
import { InvalidSpecError } from '@hvkit/core';

// Words virsh's tokenizer (vshCommandStringGetArg in libvirt's tools/vsh.c) passes through as they
// are: no blank, quote, backslash, `;` (command separator) or `#` (a word starting with it is a
// comment). Anything else is quoted, so logged command lines stay readable.
const SAFE_WORD = /^[A-Za-z0-9_@%+,./:=-]+$/;
// In a `u` regular expression a surrogate pair is one code point, so this matches only lone ones.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
// virsh reads stdin through GNU readline even when it is not a terminal, and readline acts on
// control characters (measured on the bed: a tab triggers completion and vanishes, ^A/^U edit the
// line, a newline ends it). None of them can reach virsh as data on this path.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(name: string, message: string, code: string): InvalidSpecError {
  return new InvalidSpecError([{ path: name, message, code }], { subject: 'virsh command' });
}

/**
 * Quotes one argument for virsh's command-line grammar (the one of `virsh 'cmd a b; cmd2'` and of
 * commands read on stdin), so virsh receives it byte for byte.
 *
 * virsh tokenizes like a small shell (tools/vsh.c): blanks and `;` split words and commands, `#`
 * at the start of a word comments out the rest of the line, `'…'` is literal, `"…"` and a bare
 * `\` escape the next character, and `\` before a newline is removed (even inside `"…"`). Single
 * quotes are the only form with no exception, so the value is written in `'…'` with each `'` as
 * `'\''` — the same form as the POSIX shell's.
 *
 * Only printable text can travel this way: virsh reads stdin with GNU readline, which treats
 * control characters as editing keys (tab completes, ^U kills the line) even on a pipe.
 *
 * @param value The argument.
 * @param name Names the argument in the error. Default `argument`.
 * @throws InvalidSpecError when `value` contains NUL or another control character (U+0000–U+001F,
 *   U+007F: tab, newline, escape…; pass such a value with `Virsh.run`, whose argv no parser
 *   reads), or a lone UTF-16 surrogate (no UTF-8 form).
 */
export function quoteVirshArgument(value: string, name = 'argument'): string {
  if (value.includes('\0')) {
    throw invalid(name, 'contains a NUL character, which virsh cannot receive', 'nul_in_argument');
  }
  if (CONTROL.test(value)) {
    throw invalid(
      name,
      'contains a control character, which virsh cannot receive on its command input',
      'control_in_argument',
    );
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
 * Builds one virsh command line from an argument vector: `argv[0]` is the virsh command
 * (`dominfo`), every element quoted by {@link quoteVirshArgument}, joined by single spaces.
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
