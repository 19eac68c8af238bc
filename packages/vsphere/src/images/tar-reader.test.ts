import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readTar } from './tar-reader.js';
import { tarArchive } from './tar-writer.test-support.js';

async function* inChunks(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let offset = 0;
  let index = 0;
  while (offset < data.byteLength) {
    const size = Math.max(1, sizes[index % sizes.length] ?? 1);
    yield data.subarray(offset, offset + size);
    offset += size;
    index += 1;
  }
}

async function readAllEntries(source: AsyncIterable<Uint8Array>) {
  const entries: { name: string; type: string; data: Uint8Array }[] = [];
  for await (const entry of readTar(source)) {
    const chunks: Uint8Array[] = [];
    for await (const chunk of entry.body) chunks.push(new Uint8Array(chunk));
    entries.push({
      name: entry.name,
      type: entry.type,
      data: new Uint8Array(Buffer.concat(chunks)),
    });
  }
  return entries;
}

const fileName = fc
  .array(fc.constantFrom(...'abcXYZ019-_. é'.split('')), { minLength: 1, maxLength: 150 })
  .map((chars) => chars.join('').replace(/^[. ]+/, 'f'));
const files = fc.uniqueArray(
  fc.record({ name: fileName, data: fc.uint8Array({ maxLength: 3000 }) }),
  { selector: (file) => file.name, maxLength: 5 },
);

describe('readTar', () => {
  it('gives back every file, whatever the chunking of the source (long names via pax)', async () => {
    await fc.assert(
      fc.asyncProperty(
        files,
        fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1 }),
        async (input, sizes) => {
          const archive = tarArchive(input);
          const entries = await readAllEntries(inChunks(archive, sizes));
          expect(entries.map((entry) => entry.name)).toEqual(input.map((file) => file.name));
          entries.forEach((entry, index) => {
            expect(entry.type).toBe('file');
            expect(Buffer.from(entry.data).equals(Buffer.from(input[index]?.data ?? []))).toBe(
              true,
            );
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('skips bodies the consumer leaves unread or half read', async () => {
    const archive = tarArchive([
      { name: 'a.ovf', data: new Uint8Array(1500).fill(1) },
      { name: 'b.vmdk', data: new Uint8Array(5000).fill(2) },
      { name: 'c.mf', data: new Uint8Array(10).fill(3) },
    ]);
    const seen: string[] = [];
    for await (const entry of readTar(inChunks(archive, [700]))) {
      seen.push(entry.name);
      if (entry.name === 'b.vmdk') {
        for await (const chunk of entry.body) {
          expect(chunk[0]).toBe(2);
          break;
        }
      }
      if (entry.name === 'c.mf') {
        const chunks: Uint8Array[] = [];
        for await (const chunk of entry.body) chunks.push(chunk);
        expect(Buffer.concat(chunks)).toEqual(Buffer.alloc(10, 3));
      }
    }
    expect(seen).toEqual(['a.ovf', 'b.vmdk', 'c.mf']);
  });

  it('refuses a corrupted header and a truncated archive', async () => {
    const archive = tarArchive([{ name: 'a', data: new Uint8Array(600) }]);
    const corrupted = archive.slice();
    corrupted[0] = 0x41;
    await expect(readAllEntries(inChunks(corrupted, [512]))).rejects.toBeInstanceOf(
      InvalidSpecError,
    );
    await expect(readAllEntries(inChunks(archive.subarray(0, 900), [512]))).rejects.toThrow(
      /ends inside/,
    );
  });

  it('reads what the system tar writes (GNU long names, directories)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h6-tar-'));
    try {
      const long = `${'n'.repeat(120)}.vmdk`;
      writeFileSync(join(dir, 'x.ovf'), 'descriptor');
      writeFileSync(join(dir, long), Buffer.alloc(70_000, 7));
      const result = spawnSync('tar', ['--format=gnu', '-cf', '-', '-C', dir, 'x.ovf', long], {
        maxBuffer: 1 << 24,
      });
      expect(result.status).toBe(0);
      const entries = await readAllEntries(inChunks(new Uint8Array(result.stdout), [4096]));
      expect(entries.map((entry) => entry.name)).toEqual(['x.ovf', long]);
      expect(entries[1]?.data.byteLength).toBe(70_000);
      expect(new TextDecoder().decode(entries[0]?.data)).toBe('descriptor');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
