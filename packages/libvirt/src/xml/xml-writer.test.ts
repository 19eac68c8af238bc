import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseXml } from './xml-reader.js';
import { element, field, renderXml, text } from './xml-writer.js';

describe('element / renderXml', () => {
  it('writes attributes in order, skips undefined ones and self-closes empty elements', () => {
    const xml = renderXml(
      element(
        'domain',
        { type: 'qemu', id: undefined, n: 3 },
        element('name', {}, 'vm'),
        element('features', {}, element('acpi')),
      ),
    );
    expect(xml).toBe(
      [
        "<domain type='qemu' n='3'>",
        '  <name>vm</name>',
        '  <features>',
        '    <acpi/>',
        '  </features>',
        '</domain>',
        '',
      ].join('\n'),
    );
  });

  it('skips false, null and undefined children and flattens arrays', () => {
    const xml = renderXml(
      element(
        'a',
        {},
        false,
        null,
        undefined,
        [element('b'), [element('c')]],
        false && element('d'),
      ),
      { indent: false },
    );
    expect(xml).toBe('<a><b/><c/></a>');
  });

  it('escapes every text and attribute value', () => {
    const xml = renderXml(element('a', { v: `'"<&>` }, field(`x</a><evil/>`, 'description')), {
      indent: false,
    });
    expect(xml).toBe(`<a v='&apos;&quot;&lt;&amp;&gt;'>x&lt;/a&gt;&lt;evil/&gt;</a>`);
  });

  it('refuses names that are not plain XML names (they come from code, so TypeError)', () => {
    expect(() => element('a b')).toThrow(TypeError);
    expect(() => element('a><b')).toThrow(TypeError);
    expect(() => element('a', { 'x y': '1' })).toThrow(TypeError);
    expect(() => element('a', { "v='1' w": '1' })).toThrow(TypeError);
    expect(() => element('1a')).toThrow(TypeError);
    expect(element('hvkit:tags', { 'xmlns:hvkit': 'u' }).name).toBe('hvkit:tags');
  });

  it('refuses non-finite numbers and mixed content', () => {
    expect(() => element('a', { n: Number.NaN })).toThrow(TypeError);
    expect(() => element('a', { n: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => element('a', {}, 'text', element('b'))).toThrow(/mixes text and elements/);
  });

  it('reports every unwritable value at once, by input path or document position', () => {
    let caught: unknown;
    try {
      renderXml(
        element(
          'domain',
          {},
          element('name', {}, field('a\u0000', 'name')),
          element('devices', {}, element('disk'), element('disk', { file: 'b\u0001' })),
          element('description', {}, text('c\uFFFF', 'description')),
          element('title', {}, 'd\u0002'),
        ),
      );
    } catch (error) {
      caught = error;
    }
    expect(InvalidSpecError.isInstance(caught)).toBe(true);
    expect((caught as InvalidSpecError).issues.map((issue) => issue.path)).toEqual([
      'name',
      'domain/devices[0]/disk[1]@file',
      'description',
      'domain/title[0]',
    ]);
  });

  it('whatever the values, the document parses back to the same values', () => {
    const value = fc
      .string({ unit: 'binary' })
      .filter((item) => !/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(item));
    fc.assert(
      fc.property(fc.array(fc.tuple(value, value), { maxLength: 5 }), (pairs) => {
        const xml = renderXml(
          element(
            'root',
            {},
            pairs.map(([key, entry]) => element('item', { key }, entry)),
          ),
        );
        const root = parseXml(xml);
        expect(root.children.map((child) => [child.attributes.key, child.text])).toEqual(pairs);
      }),
      { numRuns: 200 },
    );
  });
});
