import { InvalidSpecError } from '@hvkit/core';

/**
 * Characters XML 1.0 can carry (production `Char`): tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD and
 * the astral planes. Anything else (NUL and other C0 controls, lone surrogates, U+FFFE/U+FFFF)
 * cannot be written at all, not even as a character reference.
 */
const FORBIDDEN = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Everything that must become a reference, in text and in attribute values alike. */
const SPECIAL = /[&<>"'\t\n\r]/g;

const REFERENCES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // Parsers normalise a literal CR to LF, and whitespace in attributes to spaces; references
  // survive both, so the value reads back exactly (Go's encoding/xml EscapeText does the same).
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/**
 * Escapes `value` for an XML text node or a quoted attribute value: the one function every value
 * in a vim25 envelope goes through. `field` names the value in the error.
 *
 * @throws InvalidSpecError when `value` holds a character XML 1.0 cannot carry (NUL, other C0
 *   controls except tab/LF/CR, lone surrogates, U+FFFE, U+FFFF).
 */
export function escapeXml(value: string, field: string): string {
  const forbidden = FORBIDDEN.exec(value);
  if (forbidden !== null) {
    const codePoint = forbidden[0].codePointAt(0) ?? 0;
    throw new InvalidSpecError(
      [
        {
          path: field,
          message: `character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')} at index ${forbidden.index} cannot be sent in XML`,
          code: 'invalid_xml_character',
        },
      ],
      { subject: 'vSphere request' },
    );
  }
  return value.replace(SPECIAL, (character) => REFERENCES[character] ?? character);
}

/**
 * Checks every string in `value` (object keys included) before anything is sent, so input XML
 * cannot carry fails with one InvalidSpecError naming every offending field (`tags.env`,
 * `nics[0].network`) — not after lookups were made, and not under the envelope's own names.
 *
 * @throws InvalidSpecError listing each field that holds a character XML 1.0 cannot carry.
 */
export function assertXmlSafe(value: unknown, subject: string): void {
  const issues: { path: string; message: string; code: string }[] = [];
  const visit = (item: unknown, path: string): void => {
    if (typeof item === 'string') {
      const forbidden = FORBIDDEN.exec(item);
      if (forbidden !== null) {
        const codePoint = forbidden[0].codePointAt(0) ?? 0;
        issues.push({
          path: path === '' ? '(root)' : path,
          message: `character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')} at index ${forbidden.index} cannot be sent in XML`,
          code: 'invalid_xml_character',
        });
      }
      return;
    }
    if (Array.isArray(item)) {
      item.forEach((entry, index) => {
        visit(entry, `${path}[${index}]`);
      });
      return;
    }
    if (typeof item === 'object' && item !== null) {
      for (const [key, entry] of Object.entries(item)) {
        const at = path === '' ? key : `${path}.${key}`;
        visit(key, at);
        visit(entry, at);
      }
    }
  };
  visit(value, '');
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject });
}
