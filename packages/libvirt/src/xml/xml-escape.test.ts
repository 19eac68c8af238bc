import * as core from '@hvkit/core';
import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeXml, xmlCharacterIssue } from './xml-escape.js';
import { parseXml } from './xml-reader.js';

/*
 * The escaping rules and their properties are tested in @hvkit/core (xml-escape.test.ts). Here
 * only what libvirt adds: the subject of its errors, and that what it escapes reads back exactly
 * through its own reader (saxes, keeping literal CR), in text and in both attribute quotes (the
 * writer uses single quotes; libvirt prints double).
 */

/** Strings XML can carry, biased towards markup, references and whitespace parsers normalise. */
const writable = fc
  .oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.constantFrom(...'<&"\'>;#x\r\n\t ]') }),
    fc.string({ unit: 'grapheme' }),
  )
  .filter((value) => xmlCharacterIssue(value, 'field') === undefined);

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

  it('round-trips through our own reader, in text and in both attribute quotes', () => {
    fc.assert(
      fc.property(writable, (value) => {
        const escaped = escapeXml(value, 'field');
        for (const quote of ["'", '"']) {
          const root = parseXml(`<a v=${quote}${escaped}${quote}>${escaped}</a>`);
          expect({ attribute: root.attributes.v, text: root.text }).toEqual({
            attribute: value,
            text: value,
          });
        }
      }),
      { numRuns: 500 },
    );
  });
});
