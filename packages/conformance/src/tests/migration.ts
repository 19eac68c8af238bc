import { HvkitError, type Image } from '@hvkit/core';
import { expect } from 'vitest';
import { explain, type SuiteContext } from '../context.js';
import {
  chunked,
  expectNotFound,
  ONE_MIB_IN_GIB,
  patternBytes,
  readAll,
  rejectionOf,
  sha256,
} from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

const IMPORT_BYTES = 64 * 1024;

async function importRaw(ctx: SuiteContext, bytes: Uint8Array, label: string): Promise<Image> {
  const image = await ctx.run(
    ctx.provider.importDisk(
      {
        name: ctx.name(label),
        format: 'raw',
        sizeBytes: bytes.byteLength,
        sha256: await sha256(bytes),
      },
      chunked(bytes),
    ),
  );
  ctx.trackImage(image);
  return image;
}

/** Asserts the import fails and no image of that name is left. */
async function expectFailedImport(
  ctx: SuiteContext,
  name: string,
  run: () => Promise<unknown>,
): Promise<void> {
  const error = await rejectionOf(run);
  expect(HvkitError.isInstance(error), explain(error)).toBe(true);
  const left = (await ctx.provider.listImages()).filter((image) => image.name === name);
  for (const image of left) ctx.trackImage(image);
  expect(left, 'a failed import leaves no image').toEqual([]);
}

export const migrationRules: readonly ConformanceRule[] = [
  // ---- migration.diskExport -------------------------------------------------------------------
  rule(
    'migration.diskExport',
    'an export yields sizeBytes − offsetBytes bytes and an offset export is the tail of a full one',
    ['core.create', 'storage.diskCreate'],
    async (ctx) => {
      const vm = await ctx.createVm('export', { disks: [{ sizeGiB: ONE_MIB_IN_GIB }] });
      const diskId = vm.disks[0]?.id ?? '';
      const full = await ctx.provider.exportDisk(vm, diskId);
      expect(full.diskId).toBe(diskId);
      expect(full.offsetBytes).toBe(0);
      const whole = await readAll(full.stream);
      expect(whole.byteLength).toBe(full.sizeBytes);
      if (full.format === 'raw') expect(full.sizeBytes).toBe(vm.disks[0]?.sizeBytes);
      const offsetBytes = Math.floor(full.sizeBytes / 3) + 1;
      const part = await ctx.provider.exportDisk(vm, diskId, { offsetBytes });
      expect(part.offsetBytes).toBe(offsetBytes);
      expect(part.sizeBytes).toBe(full.sizeBytes);
      const tail = await readAll(part.stream);
      expect(tail.byteLength).toBe(full.sizeBytes - offsetBytes);
      expect(Buffer.from(tail).equals(Buffer.from(whole.subarray(offsetBytes)))).toBe(true);
    },
  ),
  rule(
    'migration.diskExport',
    'export of an unknown disk is NotFoundError (disk)',
    ['core.create'],
    async (ctx) => {
      const vm = await ctx.createVm('export-missing');
      await expectNotFound(() => ctx.provider.exportDisk(vm, 'hvkit-conformance-missing'), 'disk');
    },
  ),

  // ---- migration.diskImport -------------------------------------------------------------------
  rule(
    'migration.diskImport',
    'importDisk stores the stream as an image with its size and SHA-256',
    [],
    async (ctx) => {
      const bytes = patternBytes(IMPORT_BYTES, 11);
      const image = await importRaw(ctx, bytes, 'import');
      expect(image.source).toEqual({ kind: 'disk' });
      expect(image.format).toBe('raw');
      expect(image.sizeBytes).toBe(bytes.byteLength);
      if (image.sha256 !== undefined) expect(image.sha256).toBe(await sha256(bytes));
      expect((await ctx.provider.listImages()).map((item) => item.id)).toContain(image.id);
    },
  ),
  rule(
    'migration.diskImport',
    'a stream shorter or longer than sizeBytes fails and leaves no image',
    [],
    async (ctx) => {
      const bytes = patternBytes(IMPORT_BYTES, 12);
      for (const sizeBytes of [bytes.byteLength + 512, bytes.byteLength - 512]) {
        const name = ctx.name('import-length');
        await expectFailedImport(ctx, name, () =>
          ctx.run(ctx.provider.importDisk({ name, format: 'raw', sizeBytes }, chunked(bytes))),
        );
      }
    },
  ),
  rule(
    'migration.diskImport',
    'a stream whose SHA-256 differs fails and leaves no image',
    [],
    async (ctx) => {
      const bytes = patternBytes(IMPORT_BYTES, 13);
      const name = ctx.name('import-sha');
      await expectFailedImport(ctx, name, () =>
        ctx.run(
          ctx.provider.importDisk(
            { name, format: 'raw', sizeBytes: bytes.byteLength, sha256: '0'.repeat(64) },
            chunked(bytes),
          ),
        ),
      );
    },
  ),
  rule(
    'migration.diskImport',
    'a VM disk made from an imported image exports the imported bytes as its prefix',
    ['core.create', 'storage.diskCreate', 'migration.diskExport'],
    async (ctx) => {
      const bytes = patternBytes(IMPORT_BYTES, 14);
      const image = await importRaw(ctx, bytes, 'round-trip');
      const vm = await ctx.createVm('from-import', {
        disks: [{ sizeGiB: ONE_MIB_IN_GIB, sourceImageId: image.id, format: 'raw' }],
      });
      expect(vm.disks).toHaveLength(1);
      const exported = await ctx.provider.exportDisk(vm, vm.disks[0]?.id ?? '');
      const disk = await readAll(exported.stream);
      expect(disk.byteLength).toBe(exported.sizeBytes);
      if (exported.format === 'raw') {
        expect(disk.byteLength).toBeGreaterThanOrEqual(bytes.byteLength);
        expect(Buffer.from(disk.subarray(0, bytes.byteLength)).equals(Buffer.from(bytes))).toBe(
          true,
        );
      }
    },
  ),
];
