/**
 * The one place that turns an argument vector into text for a remote POSIX shell. OpenSSH hands an
 * exec request's command line to the user's login shell (`$SHELL -c '<line>'`), so every argument
 * that reaches a host goes through {@link quoteShellArgument}; nothing else in hvkit builds a
 * remote command line by hand.
 */
import { InvalidSpecError } from '@hvkit/core';

// Characters no POSIX shell treats specially anywhere in a word. `=` is left out on purpose: an
// unquoted `a=b` in command position is an assignment, not a program. `~` (tilde expansion at the
// start of a word) and everything else outside this set is quoted.
const SAFE_WORD = /^[A-Za-z0-9_@%+,./:-]+$/;
// In a `u` regular expression a surrogate pair is one code point, so this matches only lone ones.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Quotes one argument for a POSIX shell (sh, dash, bash, ksh, zsh — not csh or fish) so that the
 * shell passes it to the program byte for byte and expands nothing in it: no `$()`, backticks,
 * variables, globs (`*?[`), tilde, history (`!` is inert in a non-interactive shell), `;|&<>`,
 * newlines or spaces.
 *
 * The form is POSIX single quoting: `'…'` with each `'` written as `'\''`. A word made only of
 * characters no shell treats specially (`A-Z a-z 0-9 _ @ % + , . / : -`) is returned as it is, so
 * logged commands stay readable. The empty string becomes `''`, an argument of its own.
 *
 * A leading `-` is left alone: whether `-x` is an option is the program's business, so a caller
 * passing a user value where an option could be parsed puts `--` before it.
 *
 * @param value The argument, as a JavaScript string; it reaches the remote side UTF-8 encoded.
 * @param name Names the argument in the error (`argv[2]`, `domain.name`). Default `argument`.
 * @returns The quoted word.
 * @throws InvalidSpecError when `value` contains NUL (no C program can receive it: the argument
 *   would be cut there) or a lone UTF-16 surrogate (it has no UTF-8 form, so it could not arrive
 *   unchanged).
 */
export function quoteShellArgument(value: string, name = 'argument'): string {
  if (value.includes('\0')) {
    throw new InvalidSpecError(
      [
        {
          path: name,
          message: 'contains a NUL character, which no program can receive as an argument',
          code: 'nul_in_argument',
        },
      ],
      { subject: 'remote command' },
    );
  }
  if (LONE_SURROGATE.test(value)) {
    throw new InvalidSpecError(
      [
        {
          path: name,
          message: 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding',
          code: 'invalid_unicode',
        },
      ],
      { subject: 'remote command' },
    );
  }
  if (SAFE_WORD.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Builds a remote command line from an argument vector: each element quoted by
 * {@link quoteShellArgument}, joined by single spaces. `argv[0]` is the program (looked up on the
 * remote `PATH`); the rest are its arguments. No element is ever interpreted by the shell, so
 * pipes, redirections and `;` are not available here — run `sh -c <script>` explicitly when a
 * pipeline is meant, passing values to the script as further arguments (`"$1"`), never inside it.
 *
 * @throws InvalidSpecError when `argv` is empty, or an element contains NUL or a lone surrogate
 *   (the issue's path names it, e.g. `argv[3]`).
 */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new InvalidSpecError(
      [{ path: 'argv', message: 'needs at least the program', code: 'empty_argv' }],
      { subject: 'remote command' },
    );
  }
  return argv.map((value, index) => quoteShellArgument(value, `argv[${index}]`)).join(' ');
}
