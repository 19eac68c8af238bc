import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { assertXmlSafe, escapeXml } from './soap-escape.js';

/** Parses `<a v="…">…</a>` and returns the attribute value and the text as read back. */
function readBack(escaped: string): { attribute: string; text: string } {
  const parser = new SaxesParser();
  let attribute = '';
  let text = '';
  parser.on('opentag', (tag) => {
    attribute = String(tag.attributes.v);
  });
  parser.on('text', (chunk) => {
    text += chunk;
  });
  parser.write(`<a v="${escaped}">${escaped}</a>`).close();
  return { attribute, text };
}

const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

describe('escapeXml', () => {
  it('escapes markup characters and whitespace that parsers would normalise', () => {
    expect(escapeXml(`a<b>&"c"'d'\te\nf\rg`, 'name')).toBe(
      'a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#9;e&#10;f&#13;g',
    );
    expect(escapeXml('Grüße 𝄞 [LocalDS_0] vm@1', 'name')).toBe('Grüße 𝄞 [LocalDS_0] vm@1');
  });

  it.each([
    ['\u0000', 'U+0000'],
    ['\u0001', 'U+0001'],
    ['\u001f', 'U+001F'],
    ['\uFFFE', 'U+FFFE'],
    ['\uFFFF', 'U+FFFF'],
    ['\uD800', 'U+D800'],
    ['\uDC00x', 'U+DC00'],
  ])('refuses %j, naming the field', (character, codePoint) => {
    const run = () => escapeXml(`ok${character}`, 'spec.annotation');
    expect(run).toThrow(InvalidSpecError);
    try {
      run();
    } catch (error) {
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      const issue = (error as InvalidSpecError).issues[0];
      expect(issue?.path).toBe('spec.annotation');
      expect(issue?.message).toContain(codePoint);
    }
  });

  const text = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.constantFrom('<', '&', '"', "'", '>', ';', '#', 'x', '\r', '\n', '\t') }),
    fc.string({ unit: 'grapheme' }),
  );

  it('round-trips every string XML can carry, in text and in attributes', () => {
    fc.assert(
      fc.property(
        text.filter((value) => !FORBIDDEN.test(value)),
        (value) => {
          expect(readBack(escapeXml(value, 'field'))).toEqual({ attribute: value, text: value });
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
  });

  it('accepts markup, quotes, tabs, newlines and astral characters', () => {
    expect(() =>
      assertXmlSafe({ a: ['<x y="1">&amp;\t\n\r😀'], b: { c: "'" } }, 'VM spec'),
    ).not.toThrow();
  });
});
