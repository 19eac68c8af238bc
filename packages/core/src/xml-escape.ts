import { InvalidSpecError, type SpecIssue } from './errors.js';

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
  // character references survive both, so the value reads back exactly (Go's encoding/xml
  // EscapeText does the same, and libxml2 writes them back as references when it re-serialises).
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

/**
 * The issue for `value` when it holds a character XML 1.0 cannot carry (NUL, other C0 controls
 * except tab/LF/CR, lone surrogates, U+FFFE, U+FFFF), else undefined. `field` is the input path
 * the issue names (`description`, `tags.env`, `nics[0].network`); the message gives the first
 * offending code point and its index.
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
 * function every value written into an XML document goes through. Markup characters and the
 * whitespace a parser would normalise (tab, LF, CR) become references; everything else is written
 * as it is (the document is UTF-8). `field` names the value in the error, `subject` the document
 * (`invalid <subject>: …`).
 *
 * @throws InvalidSpecError naming `field` when `value` holds a character XML 1.0 cannot carry
 *   (see {@link xmlCharacterIssue}).
 */
export function escapeXml(value: string, field: string, subject = 'XML document'): string {
  const issue = xmlCharacterIssue(value, field);
  if (issue !== undefined) throw new InvalidSpecError([issue], { subject });
  return value.replace(SPECIAL, (character) => REFERENCES[character] ?? character);
}

/**
 * Checks every string in `value` (object keys included) before anything is sent, so input XML
 * cannot carry fails with one InvalidSpecError naming every offending field (`tags.env`,
 * `nics[0].network`; `(root)` for a bare string) — not after lookups were made, and not under
 * the names of the document the value ends up in.
 *
 * @throws InvalidSpecError listing each field that holds a character XML 1.0 cannot carry.
 */
export function assertXmlSafe(value: unknown, subject: string): void {
  const issues: SpecIssue[] = [];
  const visit = (item: unknown, path: string): void => {
    if (typeof item === 'string') {
      const issue = xmlCharacterIssue(item, path === '' ? '(root)' : path);
      if (issue !== undefined) issues.push(issue);
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
