import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quoteVirshArgument, virshCommandLine } from './virsh-quote.js';

/**
 * A port of virsh's tokenizer (vshCommandStringGetArg in libvirt 9.0 tools/vsh.c) for one line:
 * the words it yields. Used to check the quoting offline; test/virsh.bed.test.ts checks the same
 * against the real virsh.
 */
function virshWords(line: string): string[] {
  const words: string[] = [];
  let at = 0;
  for (;;) {
    while (line[at] === ' ' || line[at] === '\t' || (line[at] === '\\' && line[at + 1] === '\n')) {
      at += line[at] === '\\' ? 2 : 1;
    }
    if (at >= line.length) return words;
    if (line[at] === ';' || line[at] === '\n') throw new Error('command separator');
    if (line[at] === '#') return words;
    let single = false;
    let double = false;
    let word = '';
    while (at < line.length) {
      const ch = line[at] ?? '';
      if (!single && !double && (ch === ' ' || ch === '\t' || ch === ';' || ch === '\n')) break;
      if (!double && ch === "'") {
        single = !single;
        at++;
        continue;
      }
      if (!single && ch === '\\') {
        at++;
        if (at >= line.length) throw new Error('dangling \\');
        if (line[at] === '\n') {
          at++;
          continue;
        }
      } else if (!single && ch === '"') {
        double = !double;
        at++;
        continue;
      }
      word += line[at];
      at++;
    }
    if (single || double) throw new Error('unterminated quote');
    words.push(word);
  }
}

// Any Unicode text without NUL (unit 'binary': every code point, astral ones as whole surrogate
// pairs), with the tokenizer's special characters made frequent.
const anyText = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom(' ', '\t', '\n', '\r', "'", '"', '\\', ';', '#', '$', '`', '\u001b'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    ),
    maxLength: 40,
  })
  .filter((value) => !value.includes('\0'));

describe('quoteVirshArgument', () => {
  it('leaves plain words alone and single-quotes everything else', () => {
    expect(quoteVirshArgument('hvkit-lv1-a.qcow2')).toBe('hvkit-lv1-a.qcow2');
    expect(quoteVirshArgument('--all')).toBe('--all');
    expect(quoteVirshArgument('')).toBe("''");
    expect(quoteVirshArgument('a b')).toBe("'a b'");
    expect(quoteVirshArgument("it's")).toBe("'it'\\''s'");
    expect(quoteVirshArgument('#x')).toBe("'#x'");
    expect(quoteVirshArgument('a;b')).toBe("'a;b'");
    expect(quoteVirshArgument('a\\b"c')).toBe("'a\\b\"c'");
  });

  it('round-trips any text but NUL through virsh’s tokenizer (ported)', () => {
    fc.assert(
      fc.property(fc.array(anyText, { minLength: 1, maxLength: 6 }), (args) => {
        expect(virshWords(virshCommandLine(args))).toEqual(args);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses NUL and lone surrogates, naming the argument', () => {
    for (const bad of ['a\0b', '\0', '\uD800', 'x\uDC00y']) {
      expect(() => virshCommandLine(['echo', bad])).toThrow(InvalidSpecError);
    }
    try {
      virshCommandLine(['echo', 'ok', 'a\0b']);
      expect.unreachable();
    } catch (error) {
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues[0]?.path).toBe('argv[2]');
      expect((error as InvalidSpecError).issues[0]?.code).toBe('nul_in_argument');
    }
    expect(() => virshCommandLine([])).toThrow(InvalidSpecError);
  });
});
