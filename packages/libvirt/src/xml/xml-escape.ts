import { InvalidSpecError, type SpecIssue } from '@hvkit/core';

/**
 * Characters XML 1.0 can carry (production `Char`): tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD and
 * the astral planes. Anything else (NUL and other C0 controls, lone surrogates, U+FFFE/U+FFFF)
 * cannot be written at all, not even as a character reference, so it is refused rather than
 * dropped or replaced: a silently altered name would not match later lookups.
 */
const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Everything that becomes a reference, in text and in attribute values alike. */
const SPECIAL = /[&<>"'\t\n\r]/g;

const REFERENCES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // A parser turns a literal CR (and CRLF) into LF, and tab/LF in an attribute into a space;
  // character references survive both, so the value reads back exactly. libvirt re-serialises
  // through libxml2, which writes them back as references too.
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/**
 * The issue for `value` when it holds a character XML 1.0 cannot carry, else undefined. `field`
 * is the input path the issue names (`description`, `tags.env`, `nics[0].network`).
 */
export function xmlCharacterIssue(value: string, field: string): SpecIssue | undefined {
  const forbidden = FORBIDDEN.exec(value);
  if (forbidden === null) return undefined;
  const codePoint = forbidden[0].codePointAt(0) ?? 0;
  return {
    path: field,
    message: `character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')} at index ${forbidden.index} cannot be written in XML`,
    code: 'invalid_xml_character',
  };
}

/**
 * Escapes `value` for an XML text node or a quoted attribute value (either quote): the one
 * function every value in a libvirt document goes through. Markup characters and the whitespace
 * a parser would normalise (tab, LF, CR) become references; everything else is written as it is
 * (the document is UTF-8).
 *
 * @throws InvalidSpecError naming `field` when `value` holds a character XML 1.0 cannot carry
 *   (NUL, other C0 controls except tab/LF/CR, lone surrogates, U+FFFE, U+FFFF).
 */
export function escapeXml(value: string, field: string): string {
  const issue = xmlCharacterIssue(value, field);
  if (issue !== undefined) throw new InvalidSpecError([issue], { subject: 'libvirt XML' });
  return value.replace(SPECIAL, (character) => REFERENCES[character] ?? character);
}
