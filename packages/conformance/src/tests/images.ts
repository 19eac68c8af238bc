import type { DiskFormat, Image, ImageImportSource } from '@hvkit/core';
import { expect } from 'vitest';
import { missingFixture, type SuiteContext } from '../context.js';
import { expectNotFound, isIsoTime } from '../helpers.js';
import { type ConformanceRule, rule } from '../rule.js';

/** A source this provider can import, from the first usable image capability with a fixture. */
function importableSource(ctx: SuiteContext, capability: string): ImageImportSource {
  if (ctx.usable('images.cloudImageDownload') && ctx.fixtures.imageUrl) {
    return { kind: 'url', url: ctx.fixtures.imageUrl };
  }
  if (ctx.usable('images.contentLibrary') && ctx.fixtures.contentLibrary) {
    return { kind: 'content-library', ...ctx.fixtures.contentLibrary };
  }
  if (ctx.usable('images.ovaImport') && ctx.fixtures.ovaUrl) {
    return { kind: 'ova', url: ctx.fixtures.ovaUrl };
  }
  throw missingFixture(
    'imageUrl',
    `${capability} needs an image to import: declare images.cloudImageDownload, images.contentLibrary or images.ovaImport and give fixtures.imageUrl, contentLibrary or ovaUrl`,
  );
}

async function importImage(
  ctx: SuiteContext,
  source: ImageImportSource,
  label: string,
  convertTo?: DiskFormat,
): Promise<Image> {
  const image = await ctx.run(
    ctx.provider.importImage(source, { name: ctx.name(label), convertTo }),
  );
  ctx.trackImage(image);
  return image;
}

function expectImage(image: Image, kind: ImageImportSource['kind']): void {
  expect(image.id.length).toBeGreaterThan(0);
  expect(image.sizeBytes).toBeGreaterThan(0);
  expect(image.source.kind).toBe(kind);
  expect(isIsoTime(image.createdAt)).toBe(true);
}

export const imageRules: readonly ConformanceRule[] = [
  // ---- images.cloudImageDownload --------------------------------------------------------------
  rule(
    'images.cloudImageDownload',
    'importImage of a URL stores an image that listImages shows and create uses',
    [],
    async (ctx) => {
      const url = ctx.require('imageUrl', 'images.cloudImageDownload is declared');
      const image = await importImage(ctx, { kind: 'url', url }, 'url-image');
      expectImage(image, 'url');
      expect(image.source).toMatchObject({ kind: 'url', url });
      expect((await ctx.provider.listImages()).map((item) => item.id)).toContain(image.id);
      if (ctx.usable('core.create')) {
        const vm = await ctx.createVm('from-image', {
          image: { kind: 'image', imageId: image.id },
        });
        expect(vm.ref.id.length).toBeGreaterThan(0);
        const direct = await ctx.createVm('from-url', { image: { kind: 'url', url } });
        expect(direct.ref.id.length).toBeGreaterThan(0);
        await expectNotFound(
          () =>
            ctx.run(
              ctx.provider.create(
                ctx.spec('missing-image', {
                  image: { kind: 'image', imageId: 'hvkit-conformance-missing' },
                }),
              ),
            ),
          'image',
        );
      }
    },
  ),
  rule(
    'images.cloudImageDownload',
    'deleteImage removes an image; deleting it again is NotFoundError (image)',
    [],
    async (ctx) => {
      const url = ctx.require('imageUrl', 'images.cloudImageDownload is declared');
      const image = await importImage(ctx, { kind: 'url', url }, 'delete-image');
      await ctx.provider.deleteImage(image.id);
      expect((await ctx.provider.listImages()).map((item) => item.id)).not.toContain(image.id);
      await expectNotFound(() => ctx.provider.deleteImage(image.id), 'image');
    },
  ),

  // ---- images.caching -------------------------------------------------------------------------
  rule(
    'images.caching',
    'importing the same source again returns the stored image with cached: true',
    [],
    async (ctx) => {
      const source = importableSource(ctx, 'images.caching');
      const first = await importImage(ctx, source, 'cache-a');
      const second = await importImage(ctx, source, 'cache-b');
      expect(second.cached).toBe(true);
      expect(second.id).toBe(first.id);
    },
  ),

  // ---- images.ovaImport -----------------------------------------------------------------------
  rule(
    'images.ovaImport',
    'importImage of an OVA stores an image a VM can be created from',
    [],
    async (ctx) => {
      const url = ctx.require('ovaUrl', 'images.ovaImport is declared');
      const image = await importImage(ctx, { kind: 'ova', url }, 'ova');
      expectImage(image, 'ova');
      if (ctx.usable('core.create')) {
        const vm = await ctx.createVm('from-ova', { image: { kind: 'image', imageId: image.id } });
        expect(vm.ref.id.length).toBeGreaterThan(0);
      }
    },
  ),

  // ---- images.contentLibrary ------------------------------------------------------------------
  rule(
    'images.contentLibrary',
    'a content library item imports as an image and deploys as a VM',
    [],
    async (ctx) => {
      const item = ctx.require('contentLibrary', 'images.contentLibrary is declared');
      const image = await importImage(ctx, { kind: 'content-library', ...item }, 'library');
      expectImage(image, 'content-library');
      expect(image.source).toMatchObject({ kind: 'content-library', ...item });
      if (ctx.usable('core.create')) {
        const vm = await ctx.createVm('from-library', {
          image: { kind: 'content-library', ...item },
        });
        expect(vm.ref.id.length).toBeGreaterThan(0);
      }
    },
  ),

  // ---- images.conversion ----------------------------------------------------------------------
  rule(
    'images.conversion',
    'convertTo stores the image in the format asked for',
    [],
    async (ctx) => {
      const source = importableSource(ctx, 'images.conversion');
      const plain = await importImage(ctx, source, 'plain');
      const target: DiskFormat = plain.format === 'qcow2' ? 'raw' : 'qcow2';
      const converted = await importImage(ctx, source, 'converted', target);
      expect(converted.format).toBe(target);
      expect(converted.id).not.toBe(plain.id);
    },
  ),
];
