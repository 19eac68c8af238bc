// fast-check arbitraries for domain round-trip properties, shared by the offline and bed tests.
import { VmSpecSchema } from '@hvkit/core';
import fc from 'fast-check';

/** Characters XML 1.0 cannot carry. */
export const XML_UNSAFE = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** Pieces that break naive XML, shell or virsh handling. */
const nasty = fc.constantFrom('<', '>', '&', '"', "'", ']]>', '&amp;', '$(id)', '`', 'ü', '𝄞', ' ');
/** Valid core VM names full of XML and shell metacharacters, prefixed `hvkit-lv2-`. */
export const nameArb = fc
  .array(fc.oneof(nasty, fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 3 })), {
    minLength: 1,
    maxLength: 8,
  })
  .map((parts) => `hvkit-lv2-${parts.join('')}`.slice(0, 80).trim())
  .filter(
    (name) =>
      !name.includes('/') &&
      !XML_UNSAFE.test(name) &&
      VmSpecSchema.shape.name.safeParse(name).success,
  );
/** Descriptions with markup, tabs, CR/LF and non-ASCII. */
export const descriptionArb = fc
  .array(fc.oneof(nasty, fc.constantFrom('\n', '\t', '\r'), fc.string({ unit: 'grapheme' })), {
    maxLength: 10,
  })
  .map((parts) => parts.join(''))
  .filter((text) => !XML_UNSAFE.test(text) && text.length <= 4096);
/** Tag keys as core allows them. */
export const tagKeyArb = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,12}$/);
/** Tag values: no control characters, anything else (spaces at either end included). */
export const tagValueArb = fc
  .array(fc.oneof(nasty, fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 5 })
  .map((parts) => parts.join(''))
  .filter(
    (value) =>
      VmSpecSchema.shape.name.safeParse(`x${value}x`).success &&
      !XML_UNSAFE.test(value) &&
      value.length <= 256,
  );
