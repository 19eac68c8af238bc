import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quoteShellArgument, shellCommand } from './shell-quote.js';

// The real-shell proof is test/quoting.property.test.ts (over SSH); these pin the form.
describe('quoteShellArgument', () => {
  it.each([
    ['', "''"],
    ['plain', 'plain'],
    ['/var/lib/libvirt/images/a.qcow2', '/var/lib/libvirt/images/a.qcow2'],
    ['--pool', '--pool'],
    ['a=b', "'a=b'"],
    ['~', "'~'"],
    ["it's", "'it'\\''s'"],
    ["'", "''\\'''"],
    ['$(reboot)', "'$(reboot)'"],
    ['a b', "'a b'"],
    ['line\nbreak', "'line\nbreak'"],
    ['é', "'é'"],
  ])('%j → %s', (value, quoted) => {
    expect(quoteShellArgument(value)).toBe(quoted);
  });

  it('refuses NUL, naming the argument', () => {
    expect(() => quoteShellArgument('a\0b', 'domain.name')).toThrow(InvalidSpecError);
    try {
      shellCommand(['virsh', 'x', 'a\0b']);
    } catch (error) {
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues[0]?.path).toBe('argv[2]');
    }
    expect.assertions(3);
  });

  it('refuses a lone surrogate and accepts a pair', () => {
    expect(() => quoteShellArgument('\uD800')).toThrow(/surrogate/);
    expect(quoteShellArgument('🙂')).toBe("'🙂'");
  });

  it('refuses an empty argv', () => {
    expect(() => shellCommand([])).toThrow(/argv/);
  });

  it("always yields one word: safe characters bare, else single-quoted with only '\\'' inside", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }).filter((value) => !value.includes('\0')),
        (value) => {
          const quoted = quoteShellArgument(value);
          if (quoted === value) {
            expect(value).toMatch(/^[A-Za-z0-9_@%+,./:-]+$/);
          } else {
            expect(quoted.startsWith("'") && quoted.endsWith("'")).toBe(true);
            // Undo the quoting the way a shell would: the result is the input.
            const inner = quoted.slice(1, -1).split("'\\''");
            expect(inner.join("'")).toBe(value);
            expect(inner.every((part) => !part.includes("'"))).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
