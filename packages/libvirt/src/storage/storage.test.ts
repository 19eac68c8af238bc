// Storage without the bed: the <volume> document sent to vol-create and the readers of
// pool-dumpxml and vol-dumpxml (texts recorded on the bed, libvirt 9.0).
import { InvalidSpecError, ProviderApiError } from '@hvkit/core';
import { describe, expect, it } from 'vitest';
import { attributeOf, childOf, parseXml } from '../xml/xml-reader.js';
import { parsePoolXml, parseVolumeXml, volumeXml } from './storage.js';

const POOL_XML = `<pool type='dir'>
  <name>default</name>
  <uuid>0be1b579-fd2f-41ab-98bd-a8bae98c017f</uuid>
  <capacity unit='bytes'>270553174016</capacity>
  <allocation unit='bytes'>25535631360</allocation>
  <available unit='bytes'>245017542656</available>
  <source>
  </source>
  <target>
    <path>/var/lib/libvirt/images</path>
  </target>
</pool>
`;

const OVERLAY_XML = `<volume type='file'>
  <name>hvkit-lv4-rec-top.qcow2</name>
  <key>/var/lib/libvirt/images/hvkit-lv4-rec-top.qcow2</key>
  <capacity unit='bytes'>1048576</capacity>
  <allocation unit='bytes'>200704</allocation>
  <physical unit='bytes'>196616</physical>
  <target>
    <path>/var/lib/libvirt/images/hvkit-lv4-rec-top.qcow2</path>
    <format type='qcow2'/>
  </target>
  <backingStore>
    <path>/var/lib/libvirt/images/hvkit-lv4-rec-base.qcow2</path>
    <format type='qcow2'/>
  </backingStore>
</volume>
`;

describe('parsePoolXml', () => {
  it('reads a dir pool with exact byte counts', () => {
    expect(parsePoolXml(POOL_XML)).toEqual({
      id: '0be1b579-fd2f-41ab-98bd-a8bae98c017f',
      name: 'default',
      type: 'dir',
      capacityBytes: 270553174016,
      freeBytes: 245017542656,
      content: ['disk', 'image', 'iso'],
      shared: false,
    });
  });

  it('marks network pools shared and refuses units other than bytes', () => {
    expect(parsePoolXml(POOL_XML.replace("type='dir'", "type='netfs'")).shared).toBe(true);
    expect(() => parsePoolXml(POOL_XML.replace("unit='bytes'", "unit='KiB'"))).toThrow(
      ProviderApiError,
    );
  });
});

describe('parseVolumeXml', () => {
  it('reads an overlay: path, sizes, format and backing store', () => {
    expect(parseVolumeXml(OVERLAY_XML, 'default')).toEqual({
      pool: 'default',
      name: 'hvkit-lv4-rec-top.qcow2',
      path: '/var/lib/libvirt/images/hvkit-lv4-rec-top.qcow2',
      type: 'file',
      capacityBytes: 1048576,
      allocationBytes: 200704,
      physicalBytes: 196616,
      format: 'qcow2',
      backingStore: { path: '/var/lib/libvirt/images/hvkit-lv4-rec-base.qcow2', format: 'qcow2' },
    });
  });

  it('falls back to the capacity without <physical>, and no backing store without a path', () => {
    const plain = OVERLAY_XML.replace(/ {2}<physical[^\n]*\n/, '').replace(
      /<backingStore>[\s\S]*<\/backingStore>/,
      '<backingStore/>',
    );
    const volume = parseVolumeXml(plain, 'default');
    expect(volume.physicalBytes).toBe(1048576);
    expect(volume.backingStore).toBeUndefined();
  });
});

describe('volumeXml', () => {
  it('escapes the name and backing path and sets the allocation by preallocation', () => {
    const xml = volumeXml({
      pool: 'default',
      name: `a<b>&'"`,
      sizeBytes: 5,
      format: 'qcow2',
      backing: { path: '/x/<y>.qcow2', format: 'raw' },
    });
    const root = parseXml(xml);
    expect(childOf(root, 'name')?.text).toBe(`a<b>&'"`);
    expect(childOf(root, 'capacity')?.text).toBe('5');
    expect(childOf(root, 'allocation')?.text).toBe('0');
    expect(attributeOf(childOf(childOf(root, 'target'), 'format'), 'type')).toBe('qcow2');
    expect(childOf(childOf(root, 'backingStore'), 'path')?.text).toBe('/x/<y>.qcow2');
    const full = parseXml(
      volumeXml({ pool: 'p', name: 'n', sizeBytes: 7, format: 'raw', preallocation: 'full' }),
    );
    expect(childOf(full, 'allocation')?.text).toBe('7');
  });

  it('refuses bad sizes, a raw overlay, full overlay and names XML cannot carry', () => {
    const base = { pool: 'p', name: 'n', sizeBytes: 1, format: 'raw' as const };
    for (const sizeBytes of [0, -1, 1.5, Number.NaN, 2 ** 60]) {
      expect(() => volumeXml({ ...base, sizeBytes }), String(sizeBytes)).toThrow(InvalidSpecError);
    }
    expect(() => volumeXml({ ...base, backing: { path: '/b', format: 'raw' } })).toThrow(
      InvalidSpecError,
    );
    expect(() =>
      volumeXml({
        ...base,
        format: 'qcow2',
        preallocation: 'full',
        backing: { path: '/b', format: 'qcow2' },
      }),
    ).toThrow(InvalidSpecError);
    expect(() => volumeXml({ ...base, name: 'a\u0001b' })).toThrow(InvalidSpecError);
  });
});
