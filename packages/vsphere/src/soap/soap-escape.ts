import { assertXmlSafe, escapeXml as escapeXmlFor } from '@hvkit/core';

/**
 * XML escaping for vim25 envelopes. The rules live in @hvkit/core (`escapeXml`, `assertXmlSafe`,
 * `xmlCharacterIssue`): this module only names the document in the errors.
 */
export { assertXmlSafe };

/**
 * Escapes `value` for an XML text node or a quoted attribute value: the one function every value
 * in a vim25 envelope goes through. `field` names the value in the error.
 *
 * @throws InvalidSpecError (subject `vSphere request`) when `value` holds a character XML 1.0
 *   cannot carry (NUL, other C0 controls except tab/LF/CR, lone surrogates, U+FFFE, U+FFFF).
 */
export function escapeXml(value: string, field: string): string {
  return escapeXmlFor(value, field, 'vSphere request');
}
