// Offline tests of the header checks, record layout and naming of the libvirt image catalog.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidSpecError } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { diskSourceOf } from '../transfer/disk-export.js';
import {
  checkImageHeader,
  detectDiskFormat,
  inspectHeader,
  qcow2BackingOffset,
} from './disk-format.js';
import { recordVolumesIn } from './image-catalog.js';
import { importCacheKey } from './image-import.js';
import {
  decodeRecord,
  encodeRecord,
  type ImageRecord,
  imageIdOf,
  imageVolumeOfRecord,
  parseImageId,
  RECORD_VERSION,
  recordedUrl,
  recordVolumeName,
  volumeNameFor,
} from './image-record.js';

const work = mkdtempSync(join(tmpdir(), 'hvkit-img-unit-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function qemuImg(...args: string[]): Buffer {
  const file = join(work, `f${Math.random().toString(36).slice(2)}`);
  execFileSync('qemu-img', ['create', '-q', ...args.map((a) => a.replace('$F', file))]);
  return readFileSync(file);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

describe('disk format detection', () => {
  it('tells the formats qemu-img writes apart by their magic', () => {
    expect(detectDiskFormat(qemuImg('-f', 'qcow2', '$F', '1M'))).toBe('qcow2');
    expect(detectDiskFormat(qemuImg('-f', 'vmdk', '$F', '1M'))).toBe('vmdk');
    expect(detectDiskFormat(qemuImg('-f', 'vhdx', '$F', '1M'))).toBe('vhdx');
    expect(detectDiskFormat(qemuImg('-f', 'raw', '$F', '1M'))).toBe('raw');
    expect(detectDiskFormat(new Uint8Array())).toBe('raw');
  });

  it('reads the backing file offset of a qcow2 header', () => {
    expect(qcow2BackingOffset(qemuImg('-f', 'qcow2', '$F', '1M'))).toBe(0n);
    const backed = qemuImg('-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', '$F', '1M');
    expect(qcow2BackingOffset(backed)).toBeGreaterThan(0n);
    expect(qcow2BackingOffset(Buffer.from('QFI\xfb', 'latin1'))).toBeUndefined();
  });

  it('refuses a backing file, a declared format the bytes lack and a truncated qcow2', () => {
    const backed = qemuImg('-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', '$F', '1M');
    const refuse = (header: Uint8Array, declared?: 'qcow2' | 'raw' | 'vmdk') => {
      try {
        checkImageHeader(header, declared, 'source.format');
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidSpecError);
        return (error as InvalidSpecError).issues[0];
      }
      throw new Error('accepted');
    };
    expect(refuse(backed)).toMatchObject({ path: 'source.format', code: 'backing_file' });
    expect(refuse(backed, 'qcow2')).toMatchObject({ code: 'backing_file' });
    expect(refuse(Buffer.alloc(64), 'qcow2')).toMatchObject({ code: 'format_mismatch' });
    expect(refuse(qemuImg('-f', 'qcow2', '$F', '1M'), 'vmdk')).toMatchObject({
      code: 'format_mismatch',
    });
    expect(refuse(Buffer.from('QFI\xfb', 'latin1'))).toMatchObject({ code: 'backing_file' });
    // Declared raw stays raw: nothing in the bytes is interpreted.
    expect(checkImageHeader(backed, 'raw', 'format')).toBe('raw');
    expect(checkImageHeader(qemuImg('-f', 'qcow2', '$F', '1M'), undefined, 'format')).toBe('qcow2');
  });

  it('inspects the header before yielding, whatever the chunking', async () => {
    const bytes = Buffer.from('0123456789abcdefghij');
    for (const sizes of [[1, 1, 1, 17], [20], [3, 17], [16, 4]]) {
      const seen: string[] = [];
      async function* source() {
        let at = 0;
        for (const size of sizes) {
          yield bytes.subarray(at, at + size);
          at += size;
        }
      }
      const out = await collect(
        inspectHeader(source(), (header) => seen.push(Buffer.from(header).toString())),
      );
      expect(out.equals(bytes)).toBe(true);
      expect(seen).toEqual(['0123456789abcdef']);
    }
    const short: string[] = [];
    async function* tiny() {
      yield Buffer.from('abc');
    }
    expect(
      (
        await collect(inspectHeader(tiny(), (h) => short.push(Buffer.from(h).toString())))
      ).toString(),
    ).toBe('abc');
    expect(short).toEqual(['abc']);
    let yielded = false;
    async function* bad() {
      yield Buffer.alloc(32);
    }
    const stream = inspectHeader(bad(), () => {
      throw new Error('refused');
    });
    await expect(
      (async () => {
        for await (const _ of stream) yielded = true;
      })(),
    ).rejects.toThrow('refused');
    expect(yielded).toBe(false);
  });
});

describe('image records and names', () => {
  const record: ImageRecord = {
    hvkit: RECORD_VERSION,
    name: 'Ubuntu 24.04 <LTS> ☃',
    volume: 'Ubuntu_24.04__LTS___.qcow2',
    format: 'qcow2',
    source: { kind: 'url', url: 'https://example.com/img.qcow2' },
    sha256: 'a'.repeat(64),
    createdAt: '2026-11-21T18:00:00.000Z',
    cacheKey: 'b'.repeat(64),
    sourceSha256: 'c'.repeat(64),
    http: { etag: '"x"' },
  };

  it('round-trips a record and refuses what is not one', () => {
    expect(decodeRecord(Buffer.from(encodeRecord(record)).toString('utf8'))).toEqual(record);
    expect(decodeRecord('')).toBeUndefined();
    expect(decodeRecord('{"hvkit":"other"}')).toBeUndefined();
    expect(decodeRecord(JSON.stringify({ ...record, sha256: 'nothex' }))).toBeUndefined();
    expect(decodeRecord(`${JSON.stringify(record)}${' '.repeat(70_000)}`)).toBeUndefined();
  });

  it('makes file-safe volume names and ids that split back', () => {
    expect(volumeNameFor(record.name, 'qcow2')).toBe('Ubuntu_24.04__LTS___.qcow2');
    expect(volumeNameFor('../etc/passwd', 'raw')).toBe('_.._etc_passwd.raw');
    expect(volumeNameFor('-rf', 'raw')).toBe('_-rf.raw');
    expect(volumeNameFor('a b', 'vmdk')).toBe('a_b.vmdk');
    expect(recordVolumeName('x.qcow2')).toBe('x.qcow2.hvkit-image.json');
    expect(imageVolumeOfRecord('x.qcow2.hvkit-image.json')).toBe('x.qcow2');
    expect(imageVolumeOfRecord('x.qcow2')).toBeUndefined();
    expect(imageVolumeOfRecord('.hvkit-image.json')).toBeUndefined();
    const id = imageIdOf({ pool: 'default', volume: 'x.qcow2' });
    expect(id).toBe('default/x.qcow2');
    expect(parseImageId(id)).toEqual({ pool: 'default', volume: 'x.qcow2' });
    for (const bad of ['x', '/x', 'p/', 'p/a/b', 'p/x.qcow2.hvkit-image.json']) {
      expect(parseImageId(bad), bad).toBeUndefined();
    }
  });

  it('keeps no credentials of a URL in the record, but keys the cache on the whole URL', () => {
    expect(recordedUrl('https://u:p@example.com/a/img.qcow2?X-Amz-Signature=s#f')).toBe(
      'https://example.com/a/img.qcow2',
    );
    const a = importCacheKey({ kind: 'url', url: 'https://h/i?token=1' }, undefined);
    const b = importCacheKey({ kind: 'url', url: 'https://h/i?token=2' }, undefined);
    const c = importCacheKey({ kind: 'url', url: 'https://h/i?token=1' }, 'raw');
    const d = importCacheKey(
      { kind: 'url', url: 'https://h/i?token=1', format: 'qcow2' },
      undefined,
    );
    expect(new Set([a, b, c, d]).size).toBe(4);
    expect(importCacheKey({ kind: 'url', url: 'https://h/i?token=1' }, undefined)).toBe(a);
  });

  it('finds record volumes in vol-list output', () => {
    const text = [
      ' a.qcow2                          /var/lib/libvirt/images/a.qcow2',
      ' a.qcow2.hvkit-image.json         /var/lib/libvirt/images/a.qcow2.hvkit-image.json',
      ' with space.hvkit-image.json      /var/lib/libvirt/images/with space.hvkit-image.json',
      '',
    ].join('\n');
    expect(recordVolumesIn(text)).toEqual(['a.qcow2.hvkit-image.json']);
  });
});

describe('domain disk sources', () => {
  const xml = `<domain type='qemu'><name>d</name><devices>
    <disk type='file' device='disk'><source file='/p/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='volume' device='disk'><source pool='default' volume='b.raw'/><target dev='vdb'/></disk>
    <disk type='file' device='cdrom'><source file='/p/seed.iso'/><target dev='sda'/></disk>
    <disk type='network' device='disk'><source protocol='nbd' name='x'/><target dev='vdc'/></disk>
  </devices></domain>`;

  it('maps a target dev to its file or pool volume; cdroms are no disks', () => {
    expect(diskSourceOf(xml, 'vda')).toEqual({ kind: 'file', path: '/p/a.qcow2' });
    expect(diskSourceOf(xml, 'vdb')).toEqual({ kind: 'volume', pool: 'default', volume: 'b.raw' });
    expect(diskSourceOf(xml, 'sda')).toBeUndefined();
    expect(diskSourceOf(xml, 'vdc')).toBeNull();
    expect(diskSourceOf(xml, 'vdz')).toBeUndefined();
  });
});
