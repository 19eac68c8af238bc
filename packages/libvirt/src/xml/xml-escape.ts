import { escapeXml as escapeXmlFor } from '@hvkit/core';

/**
 * XML escaping for libvirt documents. The rules live in @hvkit/core (`escapeXml`,
 * `xmlCharacterIssue`): this module only names the document in the errors.
 */
export { xmlCharacterIssue } from '@hvkit/core';

/**
 * Escapes `value` for an XML text node or a quoted attribute value (either quote): the one
 * function every value in a libvirt document goes through.
 *
 * @throws InvalidSpecError (subject `libvirt XML`) naming `field` when `value` holds a character
 *   XML 1.0 cannot carry (NUL, other C0 controls except tab/LF/CR, lone surrogates, U+FFFE,
 *   U+FFFF).
 */
export function escapeXml(value: string, field: string): string {
  return escapeXmlFor(value, field, 'libvirt XML');
}
