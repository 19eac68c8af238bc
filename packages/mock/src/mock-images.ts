/**
 * Synthetic images: the Mock does no network I/O, so an imported URL, OVA or library item gets
 * bytes derived from a hash of its source. The same source always has the same size and bytes.
 */
import type { DiskFormat, ImageImportSource } from '@hvkit/core';
import { hash32, hashBytes } from './mock-random.js';

const MIB = 2 ** 20;

/** Size of the synthetic image behind a source: 8–40 MiB, from a hash of the source. */
export function syntheticImageSize(sourceKey: string): number {
  return (8 + (hash32('image-size', sourceKey) % 33)) * MIB;
}

/**
 * The stored chunks of a synthetic image: 4 KiB starting with `HVKIT-MOCK-IMAGE` and a NUL,
 * then bytes from a hash of the source; everything after them reads as zeros.
 */
export function syntheticImageChunks(sourceKey: string): Map<number, Uint8Array> {
  const header = hashBytes(4096, 'image', sourceKey);
  header.set(new TextEncoder().encode('HVKIT-MOCK-IMAGE\0'), 0);
  return new Map([[0, header]]);
}

/**
 * The format of an imported image: the URL source's `format`, else its extension (`.vmdk`,
 * `.vhd(x)`, `.raw`/`.iso` → raw, anything else — `.img`, `.qcow2` — qcow2); OVA, OVF and
 * content library items are vmdk.
 */
export function formatOfSource(source: ImageImportSource): DiskFormat {
  if (source.kind !== 'url') return 'vmdk';
  if (source.format) return source.format;
  const path = new URL(source.url).pathname.toLowerCase();
  if (path.endsWith('.vmdk')) return 'vmdk';
  if (path.endsWith('.vhdx') || path.endsWith('.vhd')) return 'vhdx';
  if (path.endsWith('.raw') || path.endsWith('.iso')) return 'raw';
  return 'qcow2';
}

/** The source in a few words, for events. */
export function describeSource(source: ImageImportSource): string {
  return source.kind === 'content-library' ? `${source.library}/${source.item}` : source.url;
}

/** A name for an image a VM spec imports implicitly: the URL's file name or the item name. */
export function imageNameOf(source: ImageImportSource): string {
  if (source.kind === 'content-library') return source.item;
  const base = new URL(source.url).pathname.split('/').pop() ?? '';
  return (base === '' ? 'image' : base).slice(0, 80);
}
