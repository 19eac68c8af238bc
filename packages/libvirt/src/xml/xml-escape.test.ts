import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { escapeXml, xmlCharacterIssue } from './xml-escape.js';
import { parseXml } from './xml-reader.js';

/** Reads `<a v='…'>…</a>` back with saxes directly (an oracle independent of our reader). */
function readBack(escaped: string, quote: "'" | '"'): { attribute: string; text: string } {
  const parser = new SaxesParser();
  let attribute = '';
  let text = '';
  parser.on('opentag', (tag) => {
    attribute = String(tag.attributes.v);
  });
  parser.on('text', (chunk) => {
    text += chunk;
  });
  parser.write(`<a v=${quote}${escaped}${quote}>${escaped}</a>`).close();
  return { attribute, text };
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

describe('escapeXml', () => {
  it('escapes markup characters and the whitespace parsers would normalise', () => {
    expect(escapeXml(`a<b>&"c"'d'\te\nf\rg`, 'name')).toBe(
      'a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;&#9;e&#10;f&#13;g',
    );
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
    let caught: unknown;
    try {
      escapeXml(`ok${bad}`, 'tags.env');
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
  });

  it('accepts C1 controls and astral characters, which XML 1.0 can carry', () => {
    expect(escapeXml('\u0085\u009b\u{1F600}', 'description')).toBe('\u0085\u009b\u{1F600}');
    expect(xmlCharacterIssue('\u0085', 'x')).toBeUndefined();
  });

  it('round-trips every string XML can carry, in text and in both attribute quotes (saxes oracle)', () => {
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

  it('round-trips through our own reader too', () => {
    fc.assert(
      fc.property(
        tricky.filter((value) => !FORBIDDEN.test(value)),
        (value) => {
          const escaped = escapeXml(value, 'field');
          const root = parseXml(`<a v='${escaped}'>${escaped}</a>`);
          expect(root.attributes.v).toBe(value);
          expect(root.text).toBe(value);
        },
      ),
      { numRuns: 300 },
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
