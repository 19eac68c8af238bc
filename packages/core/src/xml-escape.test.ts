import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from './errors.js';
import { assertXmlSafe, escapeXml, xmlCharacterIssue } from './xml-escape.js';

const NAMED: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
};

/**
 * Reads `escaped` back as a parser must (XML 1.0): line ends normalised first (§2.11), references
 * expanded, and in an attribute value a literal tab or line end read as a space (§3.3.3). Throws
 * where `escaped` would not be well-formed in that place. `quote` is the attribute's quote, or
 * undefined for a text node. A model written from the spec: core has no XML parser, so the
 * providers' escape tests check the same round trip against saxes.
 */
function read(escaped: string, quote: "'" | '"' | undefined): string {
  const input = escaped.replace(/\r\n?/g, '\n');
  let output = '';
  let index = 0;
  while (index < input.length) {
    const character = input[index] ?? '';
    if (character === '<') throw new Error(`literal < at ${index}`);
    if (character === quote) throw new Error(`literal ${quote} ends the attribute at ${index}`);
    if (quote === undefined && input.startsWith(']]>', index)) {
      throw new Error(`]]> in text at ${index}`);
    }
    if (character === '&') {
      const reference = /^&(?:(amp|lt|gt|quot|apos)|#([0-9]+)|#x([0-9A-Fa-f]+));/.exec(
        input.slice(index),
      );
      if (reference === null) throw new Error(`bare & at ${index}`);
      const [whole, name, decimal, hex] = reference;
      output +=
        name !== undefined
          ? (NAMED[name] ?? '')
          : String.fromCodePoint(
              decimal !== undefined ? Number.parseInt(decimal, 10) : Number.parseInt(hex ?? '', 16),
            );
      index += whole.length;
      continue;
    }
    output += quote !== undefined && (character === '\t' || character === '\n') ? ' ' : character;
    index += 1;
  }
  return output;
}

/** Reads `<a v=QescapedQ>escaped</a>` back: the attribute value and the text. */
function readBack(escaped: string, quote: "'" | '"'): { attribute: string; text: string } {
  return { attribute: read(escaped, quote), text: read(escaped, undefined) };
}

const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Strings biased towards markup, references and whitespace parsers normalise. */
const tricky = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({
    unit: fc.constantFrom('<', '&', '"', "'", '>', ';', '#', 'x', '\r', '\n', '\t', ' ', ']'),
  }),
  fc.string({ unit: 'grapheme' }),
);

describe('the reading model the round trips use', () => {
  it('normalises what a parser normalises and refuses what is not well-formed', () => {
    expect(readBack('a\r\nb\rc\td', '"')).toEqual({ attribute: 'a b c d', text: 'a\nb\nc\td' });
    expect(readBack('&lt;&#38;&#x3E;&apos;', '"')).toEqual({ attribute: "<&>'", text: "<&>'" });
    expect(() => read('a<b', undefined)).toThrow();
    expect(() => read('a & b', undefined)).toThrow();
    expect(() => read(']]>', undefined)).toThrow();
    expect(() => read('"', '"')).toThrow();
    expect(read('"', "'")).toBe('"');
  });
});

describe('escapeXml', () => {
  it('escapes markup characters and the whitespace parsers would normalise', () => {
    expect(escapeXml(`a<b>&"c"'d'\te\nf\rg`, 'name')).toBe(
      'a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#9;e&#10;f&#13;g',
    );
    expect(escapeXml('Grüße 𝄞 [LocalDS_0] vm@1', 'name')).toBe('Grüße 𝄞 [LocalDS_0] vm@1');
    expect(escapeXml('Grüße 𝄞 ]]> $(id) `x`', 'name')).toBe('Grüße 𝄞 ]]&gt; $(id) `x`');
    expect(escapeXml('', 'name')).toBe('');
  });

  it.each([
    ['\u0000', 'U+0000', 2],
    ['\u0001', 'U+0001', 2],
    ['\u001b', 'U+001B', 2],
    ['\u001f', 'U+001F', 2],
    ['\uFFFE', 'U+FFFE', 2],
    ['\uFFFF', 'U+FFFF', 2],
    ['\uD800', 'U+D800', 2],
    ['\uDC00x', 'U+DC00', 2],
  ])('refuses %j with InvalidSpecError naming the field and the position', (bad, code, index) => {
    const run = () => escapeXml(`ok${bad}`, 'tags.env');
    expect(run).toThrow(InvalidSpecError);
    let caught: unknown;
    try {
      run();
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    const issue = (caught as InvalidSpecError).issues[0];
    expect(issue).toEqual({
      path: 'tags.env',
      code: 'invalid_xml_character',
      message: `character ${code} at index ${index} cannot be written in XML`,
    });
    expect(issue?.message).toContain(code);
  });

  it('names the document in the error: the subject given, else "XML document"', () => {
    expect(() => escapeXml('a\u0000', 'name')).toThrow(
      'invalid XML document: name: character U+0000 at index 1 cannot be written in XML',
    );
    expect(() => escapeXml('a\u0000', 'name', 'libvirt XML')).toThrow(
      'invalid libvirt XML: name: character U+0000 at index 1 cannot be written in XML',
    );
  });

  it('accepts C1 controls and astral characters, which XML 1.0 can carry', () => {
    expect(escapeXml('\u0085\u009b\u{1F600}', 'description')).toBe('\u0085\u009b\u{1F600}');
    expect(xmlCharacterIssue('\u0085', 'x')).toBeUndefined();
  });

  it('round-trips every string XML can carry, in text and in both attribute quotes', () => {
    fc.assert(
      fc.property(
        tricky.filter((value) => !FORBIDDEN.test(value)),
        (value) => {
          const escaped = escapeXml(value, 'field');
          expect(readBack(escaped, "'")).toEqual({ attribute: value, text: value });
          expect(readBack(escaped, '"')).toEqual({ attribute: value, text: value });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses every string XML cannot carry', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.integer({ min: 0, max: 0x1f }).filter((code) => ![9, 10, 13].includes(code)),
        (value, code) => {
          expect(() => escapeXml(value + String.fromCharCode(code), 'field')).toThrow(
            InvalidSpecError,
          );
        },
      ),
    );
  });

  it('refuses every string holding a character XML cannot carry, wherever it is', () => {
    const bad = fc.oneof(
      fc.integer({ min: 0, max: 0x1f }).filter((code) => ![9, 10, 13].includes(code)),
      fc.constantFrom(0xfffe, 0xffff),
      fc.integer({ min: 0xd800, max: 0xdfff }),
    );
    fc.assert(
      fc.property(fc.string(), bad, fc.string(), (before, code, after) => {
        const value = before + String.fromCharCode(code) + after;
        // A high surrogate right before a low one would form a valid pair: not a bad input.
        fc.pre(FORBIDDEN.test(value));
        expect(() => escapeXml(value, 'name')).toThrow(InvalidSpecError);
        expect(xmlCharacterIssue(value, 'name')?.path).toBe('name');
      }),
      { numRuns: 300 },
    );
  });

  it('never lets markup through: the output holds no < > or quote, and & only in references', () => {
    fc.assert(
      fc.property(
        tricky.filter((value) => !FORBIDDEN.test(value)),
        (value) => {
          const escaped = escapeXml(value, 'field');
          expect(escaped).not.toMatch(/[<>"'\t\n\r]/);
          expect(escaped.replace(/&(amp|lt|gt|quot|apos|#9|#10|#13);/g, '')).not.toContain('&');
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('xmlCharacterIssue', () => {
  it('is undefined exactly for the strings escapeXml accepts', () => {
    fc.assert(
      fc.property(tricky, (value) => {
        const issue = xmlCharacterIssue(value, 'field');
        expect(issue === undefined).toBe(!FORBIDDEN.test(value));
        if (issue === undefined) expect(() => escapeXml(value, 'field')).not.toThrow();
        else expect(() => escapeXml(value, 'field')).toThrow(InvalidSpecError);
      }),
      { numRuns: 300 },
    );
  });
});

describe('assertXmlSafe', () => {
  it('names every field (keys included) that holds a character XML cannot carry', () => {
    let caught: unknown;
    try {
      assertXmlSafe(
        {
          name: 'ok <&> é',
          description: 'bell \u0007',
          tags: { env: 'x\uFFFE', 'k\uFFFF': 'v' },
          nics: [{ network: 'a' }, { network: '\uD800' }],
        },
        'VM spec',
      );
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    expect((caught as InvalidSpecError).issues.map((issue) => issue.path)).toEqual([
      'description',
      'tags.env',
      'tags.k\uFFFF',
      'nics[1].network',
    ]);
    expect((caught as InvalidSpecError).issues[0]).toEqual({
      path: 'description',
      code: 'invalid_xml_character',
      message: 'character U+0007 at index 5 cannot be written in XML',
    });
    expect((caught as InvalidSpecError).message).toMatch(/^invalid VM spec: description: /);
  });

  it('names a bare string (root)', () => {
    expect(() => assertXmlSafe('\u0000', 'clone options')).toThrow(
      'invalid clone options: (root): character U+0000 at index 0 cannot be written in XML',
    );
  });

  it('accepts markup, quotes, tabs, newlines and astral characters', () => {
    expect(() =>
      assertXmlSafe({ a: ['<x y="1">&amp;\t\n\r😀'], b: { c: "'" } }, 'VM spec'),
    ).not.toThrow();
  });
});
