import * as core from '@hvkit/core';
import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { assertXmlSafe, escapeXml } from './soap-escape.js';

/*
 * The escaping rules and their properties are tested in @hvkit/core (xml-escape.test.ts). Here:
 * what vSphere adds (the subject of its errors) and the round trip through saxes, an XML parser
 * core does not depend on.
 */

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
  it('is core escaping, with errors naming the vSphere request and the field', () => {
    expect(escapeXml(`a<b>&"c"'d'\te\nf\rg`, 'name')).toBe(
      core.escapeXml(`a<b>&"c"'d'\te\nf\rg`, 'name'),
    );
    let caught: unknown;
    try {
      escapeXml('ok\u0000', 'spec.annotation');
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    expect((caught as InvalidSpecError).issues[0]).toEqual(
      core.xmlCharacterIssue('ok\u0000', 'spec.annotation'),
    );
    expect((caught as InvalidSpecError).message).toBe(
      'invalid vSphere request: spec.annotation: character U+0000 at index 2 cannot be written in XML',
    );
  });

  const text = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.constantFrom('<', '&', '"', "'", '>', ';', '#', 'x', '\r', '\n', '\t') }),
    fc.string({ unit: 'grapheme' }),
  );

  it('round-trips every string XML can carry, in text and in attributes (saxes oracle)', () => {
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
});

describe('assertXmlSafe', () => {
  it('is core assertXmlSafe, naming the subject the driver passes', () => {
    expect(assertXmlSafe).toBe(core.assertXmlSafe);
    expect(() => assertXmlSafe({ name: 'a\u0007' }, 'VM change')).toThrow(
      'invalid VM change: name: character U+0007 at index 1 cannot be written in XML',
    );
  });
});
