import * as core from '@hvkit/core';
import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { escapeXml, xmlCharacterIssue } from './xml-escape.js';
import { parseXml } from './xml-reader.js';

/*
 * The escaping rules and their properties are tested in @hvkit/core (xml-escape.test.ts). Here:
 * what libvirt adds (the subject of its errors) and the round trips through saxes, an XML parser
 * core does not depend on, and through our own reader.
 */

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
  it('is core escaping, with errors naming libvirt XML, the field and the position', () => {
    expect(escapeXml('Grüße 𝄞 ]]> $(id) `x`', 'name')).toBe(
      core.escapeXml('Grüße 𝄞 ]]> $(id) `x`', 'name'),
    );
    expect(xmlCharacterIssue).toBe(core.xmlCharacterIssue);
    let caught: unknown;
    try {
      escapeXml('ok\u001b', 'tags.env');
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    expect((caught as InvalidSpecError).issues).toEqual([
      {
        path: 'tags.env',
        code: 'invalid_xml_character',
        message: 'character U+001B at index 2 cannot be written in XML',
      },
    ]);
    expect((caught as InvalidSpecError).message).toBe(
      'invalid libvirt XML: tags.env: character U+001B at index 2 cannot be written in XML',
    );
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
});
