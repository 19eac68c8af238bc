import { readFileSync } from 'node:fs';
import { ProviderApiError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { attributeOf, childOf, childrenOf, parseXml, pathOf, textOf } from './xml-reader.js';

describe('parseXml', () => {
  it('reads elements, attributes, text and namespaces by URI (whatever the prefix)', () => {
    const root = parseXml(
      `<domain type="qemu"><name>a &amp; b</name><metadata><x:tags xmlns:x="urn:t"><x:tag key='k'>v</x:tag></x:tags></metadata><devices><disk device='disk'/><disk device='cdrom'/></devices></domain>`,
    );
    expect(root.name).toBe('domain');
    expect(attributeOf(root, 'type')).toBe('qemu');
    expect(textOf(root, 'name')).toBe('a & b');
    const tags = childOf(childOf(root, 'metadata'), 'tags', 'urn:t');
    expect(tags?.uri).toBe('urn:t');
    // Namespace declarations are not attributes.
    expect(Object.keys(tags?.attributes ?? {})).toEqual([]);
    expect(childrenOf(tags, 'tag', 'urn:t').map((tag) => [tag.attributes.key, tag.text])).toEqual([
      ['k', 'v'],
    ]);
    // A namespaced element is not found by its local name alone.
    expect(childOf(childOf(root, 'metadata'), 'tags')).toBeUndefined();
    expect(childrenOf(pathOf(root, 'devices'), 'disk').map((d) => d.attributes.device)).toEqual([
      'disk',
      'cdrom',
    ]);
  });

  it('keeps character references and CDATA exactly', () => {
    const root = parseXml('<a v="x&#10;y&#9;z&#13;">1&#13;2<![CDATA[<&>]]></a>');
    expect(root.attributes.v).toBe('x\ny\tz\r');
    expect(root.text).toBe('1\r2<&>');
  });

  it('keeps literal CRs (libvirt prints them unescaped in <description>) unless told not to', () => {
    const xml = '<domain>\n  <description>a\r\nb\rc</description>\n</domain>';
    expect(textOf(parseXml(xml), 'description')).toBe('a\r\nb\rc');
    expect(textOf(parseXml(xml, { preserveCarriageReturns: false }), 'description')).toBe(
      'a\nb\nc',
    );
  });

  it('gives attribute records without a prototype', () => {
    const root = parseXml('<a/>');
    expect(attributeOf(root, 'constructor')).toBeUndefined();
    expect(attributeOf(root, 'toString')).toBeUndefined();
  });

  it.each([
    ['not XML', 'no root'],
    ['<a><b></a>', 'mismatched'],
    ['<a>&foo;</a>', 'undefined entity'],
    ['<a/><b/>', 'two roots'],
    ['<a x="1" x="2"/>', 'duplicate attribute'],
    ['<!DOCTYPE a [<!ENTITY e "eeee">]><a>&e;</a>', 'DTD with an entity'],
    ['<a>\u0001</a>', 'a forbidden character'],
    ['', 'empty'],
  ])('refuses %j (%s) with ProviderApiError fault xml-parse', (xml) => {
    let caught: unknown;
    try {
      parseXml(xml, { what: 'dumpxml of vm1' });
    } catch (error) {
      caught = error;
    }
    expect(ProviderApiError.isInstance(caught)).toBe(true);
    expect((caught as ProviderApiError).fault).toBe('xml-parse');
    expect((caught as ProviderApiError).message).toContain('dumpxml of vm1');
  });

  it('refuses absurd nesting instead of recursing without bound', () => {
    const deep = `${'<a>'.repeat(300)}${'</a>'.repeat(300)}`;
    expect(() => parseXml(deep)).toThrow(/nested deeper/);
    expect(parseXml(`${'<a>'.repeat(100)}${'</a>'.repeat(100)}`).name).toBe('a');
  });
});

describe('parseXml on the other documents libvirt prints (recorded on the bed)', () => {
  const fixture = (name: string) =>
    parseXml(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8'), {
      what: name,
    });

  it('snapshot-dumpxml: escaped name and description, state, disks, the embedded domain', () => {
    const root = fixture('snapshot-dumpxml.xml');
    expect(root.name).toBe('domainsnapshot');
    expect(textOf(root, 'name')).toBe('s1 <&>');
    expect(textOf(root, 'description')).toBe('first & <only>');
    expect(textOf(root, 'state')).toBe('shutoff');
    expect(textOf(root, 'creationTime')).toMatch(/^\d+$/);
    expect(attributeOf(childOf(root, 'memory'), 'snapshot')).toBe('no');
    expect(childrenOf(childOf(root, 'disks'), 'disk').map((disk) => disk.attributes)).toEqual([
      { name: 'vda', snapshot: 'internal' },
    ]);
    expect(textOf(childOf(root, 'domain'), 'name')).toBe('hvkit-lv2-snap');
  });

  it('vol-dumpxml: capacity, allocation in bytes, path and format', () => {
    const root = fixture('vol-dumpxml.xml');
    expect(attributeOf(childOf(root, 'capacity'), 'unit')).toBe('bytes');
    expect(textOf(root, 'capacity')).toBe('16777216');
    expect(Number(textOf(root, 'allocation'))).toBeGreaterThan(0);
    expect(textOf(childOf(root, 'target'), 'path')).toBe(
      '/var/lib/libvirt/images/hvkit-lv2-snap.qcow2',
    );
    expect(attributeOf(pathOf(root, 'target', 'format'), 'type')).toBe('qcow2');
  });

  it('pool-dumpxml and net-dumpxml: type, target path, forward mode, bridge, DHCP range', () => {
    const pool = fixture('pool-dumpxml.xml');
    expect(attributeOf(pool, 'type')).toBe('dir');
    expect(textOf(pool, 'name')).toBe('default');
    expect(textOf(childOf(pool, 'target'), 'path')).toBe('/var/lib/libvirt/images');
    const net = fixture('net-dumpxml.xml');
    expect(attributeOf(childOf(net, 'forward'), 'mode')).toBe('nat');
    expect(attributeOf(childOf(net, 'bridge'), 'name')).toBe('virbr0');
    expect(pathOf(net, 'ip', 'dhcp', 'range')?.attributes).toEqual({
      start: '192.168.122.2',
      end: '192.168.122.254',
    });
  });
});
