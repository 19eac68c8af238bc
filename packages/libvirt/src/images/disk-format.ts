/**
 * Disk image formats told from their first bytes, and the one check that makes a downloaded
 * qcow2 safe to hand to qemu-img or libvirt: it must not name a backing file. A qcow2 header can
 * point at any path on the host (`/etc/shadow`, another tenant's disk); `qemu-img convert` would
 * read it and a VM booted from the image would see it. Such images are refused before any byte
 * reaches the host.
 */
import type { DiskFormat } from '@hvkit/core';
import { InvalidSpecError } from '@hvkit/core';

/** Bytes needed by {@link detectDiskFormat} and {@link checkImageHeader}. */
export const HEADER_BYTES = 16;

/**
 * The format whose magic starts `header`: qcow2 (`QFI\xfb`), vmdk (`KDMV`, a sparse extent),
 * vhdx (`vhdxfile`); anything else is raw (an ISO, a partitioned disk, a VMDK descriptor text).
 */
export function detectDiskFormat(header: Uint8Array): DiskFormat {
  const starts = (magic: number[]) => magic.every((byte, index) => header[index] === byte);
  if (starts([0x51, 0x46, 0x49, 0xfb])) return 'qcow2';
  if (starts([0x4b, 0x44, 0x4d, 0x56])) return 'vmdk';
  if (starts([...Buffer.from('vhdxfile', 'latin1')])) return 'vhdx';
  return 'raw';
}

/**
 * The qcow2 header's `backing_file_offset` (bytes 8–15, big endian): 0 when the image stands
 * alone. Undefined when `header` is not a qcow2 header or too short.
 */
export function qcow2BackingOffset(header: Uint8Array): bigint | undefined {
  if (header.byteLength < HEADER_BYTES || detectDiskFormat(header) !== 'qcow2') return undefined;
  return Buffer.from(header.buffer, header.byteOffset, header.byteLength).readBigUInt64BE(8);
}

/**
 * Decides the format of image bytes from their header and an optional declared format, and
 * refuses what must not be stored:
 * - a declared qcow2/vmdk/vhdx whose magic is missing (the bytes are something else);
 * - a qcow2 with a backing file (see the module comment);
 * - `raw` declared for bytes that carry a qcow2/vmdk/vhdx magic is kept raw: the caller said so,
 *   and raw is the safe reading (nothing in the bytes is interpreted).
 *
 * @param path Where the issue is reported (`source.format`, `format`).
 * @throws InvalidSpecError naming `path`.
 */
export function checkImageHeader(
  header: Uint8Array,
  declared: DiskFormat | undefined,
  path: string,
): DiskFormat {
  const detected = detectDiskFormat(header);
  const format = declared ?? detected;
  if (declared !== undefined && declared !== 'raw' && detected !== declared) {
    throw new InvalidSpecError(
      [
        {
          path,
          message: `the bytes are not ${declared} (no ${declared} magic; they look ${detected})`,
          code: 'format_mismatch',
        },
      ],
      { subject: 'disk image' },
    );
  }
  if (format === 'qcow2') {
    const backing = qcow2BackingOffset(header);
    if (backing === undefined || backing !== 0n) {
      throw new InvalidSpecError(
        [
          {
            path,
            message:
              backing === undefined
                ? 'the qcow2 header is truncated'
                : 'the qcow2 image names a backing file; only standalone images are accepted',
            code: 'backing_file',
          },
        ],
        { subject: 'disk image' },
      );
    }
  }
  return format;
}

/**
 * Passes `source` through unchanged, but first collects its first {@link HEADER_BYTES} bytes and
 * calls `inspect` with them (or with all there is, for a shorter stream) before any byte is
 * yielded: a throw from `inspect` stops the stream before anything was sent.
 */
export async function* inspectHeader(
  source: AsyncIterable<Uint8Array>,
  inspect: (header: Uint8Array) => void,
): AsyncGenerator<Uint8Array> {
  const held: Uint8Array[] = [];
  let heldBytes = 0;
  let inspected = false;
  for await (const chunk of source) {
    if (inspected) {
      yield chunk;
      continue;
    }
    held.push(chunk);
    heldBytes += chunk.byteLength;
    if (heldBytes < HEADER_BYTES) continue;
    const joined = Buffer.concat(held);
    inspect(joined.subarray(0, HEADER_BYTES));
    inspected = true;
    held.length = 0;
    yield joined;
  }
  if (!inspected) {
    const joined = Buffer.concat(held);
    inspect(joined);
    if (joined.byteLength > 0) yield joined;
  }
}
