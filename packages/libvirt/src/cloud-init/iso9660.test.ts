// The ISO 9660 writer: layout, names in all three trees, determinism, validation — read back by an
// independent test reader, and by real tools as oracles (isoinfo from genisoimage with -R and -J;
// bsdtar from libarchive when installed). The oracle suites run wherever the tools are and fail in
// CI when they are missing (testbeds/libvirt/install.sh installs genisoimage).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { issuesOf } from '../../test/issues-of.js';
import { buildIso9660, ISO_SECTOR_BYTES, type IsoFile } from './iso9660.js';
import { contentOf, filesOf, readIso } from './iso9660-reader.test-support.js';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const SEED: IsoFile[] = [
  { name: 'user-data', content: '#cloud-config\npassword: x\n' },
  { name: 'meta-data', content: 'instance-id: i-1\nlocal-hostname: web\n' },
  { name: 'network-config', content: 'version: 2\n' },
];

describe('buildIso9660', () => {
  it('writes descriptors at 16 (primary), 17 (Joliet %/E), 18 (terminator), label cidata in both', () => {
    const image = buildIso9660({ volumeId: 'cidata', files: SEED });
    const at = (sector: number) => image.subarray(sector * ISO_SECTOR_BYTES);
    expect(image.subarray(0, 16 * ISO_SECTOR_BYTES).every((byte) => byte === 0)).toBe(true);
    expect([at(16)[0], text(at(16).subarray(1, 6))]).toEqual([1, 'CD001']);
    expect([at(17)[0], text(at(17).subarray(88, 91))]).toEqual([2, '%/E']);
    expect([at(18)[0], text(at(18).subarray(1, 6))]).toEqual([255, 'CD001']);
    const volume = readIso(image);
    expect(volume.volumeId).toBe('cidata');
    expect(volume.jolietVolumeId).toBe('cidata');
    expect(volume.volumeSectors * ISO_SECTOR_BYTES).toBe(image.length);
  });

  it('names the files exactly through Rock Ridge and Joliet, and 8.3 in plain ISO 9660', () => {
    const image = buildIso9660({ volumeId: 'cidata', files: SEED });
    const volume = readIso(image);
    const plain = volume.primary.filter((entry) => !entry.directory);
    expect(plain.map((entry) => entry.identifier)).toEqual([
      'META_DAT.;1',
      'NETWORK_.;1',
      'USER_DAT.;1',
    ]);
    expect(plain.map((entry) => entry.rockName)).toEqual([
      'meta-data',
      'network-config',
      'user-data',
    ]);
    expect(plain.map((entry) => entry.mode)).toEqual([0o100444, 0o100444, 0o100444]);
    for (const tree of ['rock', 'joliet'] as const) {
      const files = filesOf(image, tree);
      expect([...files.keys()].sort()).toEqual(['meta-data', 'network-config', 'user-data']);
      for (const file of SEED)
        expect(text(files.get(file.name) ?? new Uint8Array())).toBe(file.content);
    }
  });

  it('marks Rock Ridge in the root: SP first in ".", ER in the continuation area', () => {
    const volume = readIso(buildIso9660({ volumeId: 'cidata', files: SEED }));
    const dot = volume.primary[0];
    expect(dot?.identifier).toBe('.');
    expect(dot?.signatures[0]).toBe('SP');
    expect(dot?.signatures).toContain('CE');
    expect(dot?.signatures).toContain('ER');
    expect(dot?.mode).toBe(0o40555);
  });

  it('is deterministic, and the timestamp option is the only time in it', () => {
    const a = buildIso9660({ volumeId: 'cidata', files: SEED });
    const b = buildIso9660({ volumeId: 'cidata', files: SEED });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const later = buildIso9660({
      volumeId: 'cidata',
      files: SEED,
      timestamp: new Date('2026-11-21T17:58:03.900Z'),
    });
    expect(Buffer.from(later).equals(Buffer.from(a))).toBe(false);
    const pvd = later.subarray(16 * ISO_SECTOR_BYTES);
    expect(text(pvd.subarray(813, 829))).toBe('2026112117580300');
  });

  it('places data on sector starts: 0, 2048 and 2049 bytes; an empty file takes no sector', () => {
    const files: IsoFile[] = [
      { name: 'empty', content: new Uint8Array() },
      { name: 'full', content: new Uint8Array(ISO_SECTOR_BYTES).fill(7) },
      { name: 'over', content: new Uint8Array(ISO_SECTOR_BYTES + 1).fill(9) },
    ];
    const image = buildIso9660({ volumeId: 'v', files });
    const entries = readIso(image).primary.filter((entry) => !entry.directory);
    const byName = new Map(entries.map((entry) => [entry.rockName, entry]));
    expect(byName.get('empty')).toMatchObject({ extent: 0, size: 0 });
    const full = byName.get('full');
    const over = byName.get('over');
    expect(over?.extent).toBe((full?.extent ?? 0) + 1);
    expect(image.length / ISO_SECTOR_BYTES).toBe((over?.extent ?? 0) + 2);
    expect(
      contentOf(
        image,
        over ?? { extent: 0, size: 1, directory: false, identifier: '', signatures: [] },
      ).every((byte) => byte === 9),
    ).toBe(true);
  });

  it('spreads a large directory over sectors without splitting a record', () => {
    const files = Array.from({ length: 80 }, (_, index) => ({
      name: `a-file-with-a-rather-long-name-${String(index).padStart(3, '0')}.yaml`,
      content: `#${index}\n`,
    }));
    const image = buildIso9660({ volumeId: 'cidata', files });
    const volume = readIso(image);
    expect(volume.primary[0]?.size).toBeGreaterThan(ISO_SECTOR_BYTES);
    const rock = filesOf(image, 'rock');
    const joliet = filesOf(image, 'joliet');
    expect(rock.size).toBe(80);
    expect(joliet.size).toBe(80);
    for (const file of files) {
      expect(text(rock.get(file.name) ?? new Uint8Array())).toBe(file.content);
      expect(text(joliet.get(file.name) ?? new Uint8Array())).toBe(file.content);
    }
    // Same 8.3 stem for all: made unique with a counter.
    const plain = new Set(volume.primary.map((entry) => entry.identifier));
    expect(plain.size).toBe(82);
  });

  it('refuses bad names, duplicates (ignoring case), a bad label and timestamp, naming each', () => {
    expect(
      issuesOf(() =>
        buildIso9660({
          volumeId: 'ci data',
          files: [
            { name: 'a/b', content: '' },
            { name: 'User-Data', content: '' },
            { name: 'user-data', content: '' },
            { name: '..', content: '' },
            { name: 'x'.repeat(65), content: '' },
          ],
          timestamp: new Date(Number.NaN),
        }),
      ).map((issue) => issue.path),
    ).toEqual([
      'volumeId',
      'files[0].name',
      'files[2].name',
      'files[3].name',
      'files[4].name',
      'timestamp',
    ]);
  });

  it('property: any contents come back byte for byte through both trees', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 5000 }),
        fc.uint8Array({ maxLength: 5000 }),
        fc.string({ maxLength: 3000 }),
        (userData, metaData, network) => {
          const image = buildIso9660({
            volumeId: 'cidata',
            files: [
              { name: 'user-data', content: userData },
              { name: 'meta-data', content: metaData },
              { name: 'network-config', content: network },
            ],
          });
          for (const tree of ['rock', 'joliet'] as const) {
            const files = filesOf(image, tree);
            expect(Buffer.from(files.get('user-data') ?? []).equals(Buffer.from(userData))).toBe(
              true,
            );
            expect(Buffer.from(files.get('meta-data') ?? []).equals(Buffer.from(metaData))).toBe(
              true,
            );
            expect(text(files.get('network-config') ?? new Uint8Array())).toBe(
              Buffer.from(network, 'utf8').toString('utf8'),
            );
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---- oracles ----------------------------------------------------------------------------------

function hasTool(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

const hasIsoinfo = hasTool('isoinfo', ['-version']);
const hasBsdtar = hasTool('bsdtar', ['--version']);
const hasBlkid = hasTool('blkid', ['-V']);
const work = mkdtempSync(join(tmpdir(), 'hvkit-ci-iso-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

let counter = 0;
function imageFile(image: Uint8Array): string {
  counter += 1;
  const file = join(work, `seed-${counter}.iso`);
  writeFileSync(file, image);
  return file;
}

/** `isoinfo -l` file names (the last column), without `.` and `..`. */
function isoinfoNames(file: string, mode: '-R' | '-J'): string[] {
  return execFileSync('isoinfo', [mode, '-l', '-i', file], { encoding: 'utf8' })
    .split('\n')
    .map((line) => /\]\s+(\S+)\s*$/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== '.' && name !== '..');
}

function isoinfoExtract(file: string, mode: '-R' | '-J', name: string): Buffer {
  return execFileSync('isoinfo', [mode, '-i', file, '-x', `/${name}`], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

describe.skipIf(!hasIsoinfo && !process.env.CI)(
  'buildIso9660 read by isoinfo (genisoimage)',
  () => {
    it('isoinfo -d sees label cidata, Joliet level 3 and Rock Ridge', () => {
      const file = imageFile(buildIso9660({ volumeId: 'cidata', files: SEED }));
      const info = execFileSync('isoinfo', ['-d', '-i', file], { encoding: 'utf8' });
      expect(info).toMatch(/^Volume id: cidata$/m);
      expect(info).toMatch(/Joliet with UCS level 3 found/);
      expect(info).toMatch(/Rock Ridge signatures version 1 found/);
    });

    it.skipIf(!hasBlkid)(
      'util-linux blkid (what cloud-init finds the seed with) sees an iso9660 labelled cidata',
      () => {
        const file = imageFile(buildIso9660({ volumeId: 'cidata', files: SEED }));
        const probe = execFileSync('blkid', ['-p', '-o', 'export', file], { encoding: 'utf8' });
        expect(probe).toMatch(/^TYPE=iso9660$/m);
        expect(probe).toMatch(/^LABEL=cidata$/m);
      },
    );

    it('lists and extracts the exact names and bytes with -R and with -J', () => {
      const file = imageFile(buildIso9660({ volumeId: 'cidata', files: SEED }));
      for (const mode of ['-R', '-J'] as const) {
        expect(isoinfoNames(file, mode)).toEqual(['meta-data', 'network-config', 'user-data']);
        for (const seed of SEED)
          expect(isoinfoExtract(file, mode, seed.name).toString('utf8')).toBe(seed.content);
      }
    });

    it('property: isoinfo extracts arbitrary contents byte for byte', () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ maxLength: 10_000 }),
          fc.uint8Array({ minLength: 1, maxLength: 3000 }),
          (userData, metaData) => {
            const file = imageFile(
              buildIso9660({
                volumeId: 'cidata',
                files: [
                  { name: 'user-data', content: userData },
                  { name: 'meta-data', content: metaData },
                ],
              }),
            );
            for (const mode of ['-R', '-J'] as const) {
              expect(isoinfoExtract(file, mode, 'user-data').equals(Buffer.from(userData))).toBe(
                true,
              );
              expect(isoinfoExtract(file, mode, 'meta-data').equals(Buffer.from(metaData))).toBe(
                true,
              );
            }
          },
        ),
        { numRuns: 15 },
      );
    });
  },
);

describe.skipIf(!hasBsdtar)('buildIso9660 read by bsdtar (libarchive)', () => {
  // libarchive reads Rock Ridge first; `!rockridge` makes it read the Joliet tree, `!joliet` the
  // Rock Ridge one alone. It reads front to back and checks every CE location against that.
  it.each([['iso9660:!rockridge'], ['iso9660:!joliet']])(
    'lists the exact names and extracts the bytes (%s)',
    (options) => {
      const file = imageFile(buildIso9660({ volumeId: 'cidata', files: SEED }));
      const listing = execFileSync('bsdtar', ['--options', options, '-tf', file], {
        encoding: 'utf8',
      })
        .split('\n')
        .filter((line) => line !== '' && line !== '.');
      expect(listing.sort()).toEqual(['meta-data', 'network-config', 'user-data']);
      for (const seed of SEED)
        expect(
          execFileSync('bsdtar', ['--options', options, '-xOf', file, seed.name]).toString('utf8'),
        ).toBe(seed.content);
    },
  );
});
