import { describe, expect, it } from 'vitest';
import { filesOf, readIso } from './iso9660-reader.test-support.js';
import { buildSeedIso, seedFiles, seedVolumeName } from './seed-volume.js';

const text = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString('utf8');

describe('seed volume', () => {
  it('names the seed after the domain UUID, lower case; refuses anything else', () => {
    expect(seedVolumeName('6F1C1A3E-9A53-4D8E-8F0E-0A1B2C3D4E5F')).toBe(
      'hvkit-seed-6f1c1a3e-9a53-4d8e-8f0e-0a1b2c3d4e5f.iso',
    );
    expect(() => seedVolumeName('web/1')).toThrow(TypeError);
    expect(() => seedVolumeName('')).toThrow(TypeError);
  });

  it('writes meta-data and user-data always, network-config and vendor-data when given', () => {
    expect(seedFiles({ metaData: 'm', userData: '' }).map((file) => file.name)).toEqual([
      'meta-data',
      'user-data',
    ]);
    expect(
      seedFiles({ metaData: 'm', userData: 'u', networkConfig: 'n', vendorData: 'v' }).map(
        (file) => file.name,
      ),
    ).toEqual(['meta-data', 'user-data', 'network-config', 'vendor-data']);
  });

  it('builds a cidata image holding the documents under their names, deterministically', () => {
    const documents = {
      metaData: '{"instance-id":"i"}\n',
      userData: '#cloud-config\n',
      networkConfig: 'version: 2\n',
    };
    const image = buildSeedIso(documents);
    expect(Buffer.from(image).equals(Buffer.from(buildSeedIso(documents)))).toBe(true);
    expect(readIso(image).volumeId).toBe('cidata');
    const files = filesOf(image, 'joliet');
    expect(text(files.get('meta-data'))).toBe(documents.metaData);
    expect(text(files.get('user-data'))).toBe(documents.userData);
    expect(text(files.get('network-config'))).toBe(documents.networkConfig);
  });
});
