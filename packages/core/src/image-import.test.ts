import { describe, expect, it } from 'vitest';
import { InvalidSpecError } from './errors.js';
import { parseImageImport } from './image-import.js';

const URL_SOURCE = { kind: 'url', url: 'https://images.example/noble.qcow2', format: 'qcow2' };

function failure(run: () => unknown): InvalidSpecError {
  try {
    run();
  } catch (error) {
    if (InvalidSpecError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected an InvalidSpecError');
}

describe('parseImageImport', () => {
  it('returns the validated source and options', () => {
    expect(
      parseImageImport(URL_SOURCE, { name: 'noble', storage: 'default', convertTo: 'raw' }),
    ).toEqual({
      source: URL_SOURCE,
      options: { name: 'noble', storage: 'default', convertTo: 'raw' },
    });
    expect(
      parseImageImport({ kind: 'content-library', library: 'lib', item: 'item' }, { name: 'x' }),
    ).toEqual({
      source: { kind: 'content-library', library: 'lib', item: 'item' },
      options: { name: 'x' },
    });
  });

  it('names source issues under `source.`, subject `image source`', () => {
    const error = failure(() => parseImageImport({ kind: 'url', url: 'ftp://x/y' }, { name: 'x' }));
    expect(error.message).toBe('invalid image source: source.url: must be an http(s) URL');
    expect(error.issues.map((issue) => issue.path)).toEqual(['source.url']);
    const unknownKey = failure(() => parseImageImport({ ...URL_SOURCE, extra: 1 }, { name: 'x' }));
    expect(unknownKey.issues).toEqual([
      { path: 'source.extra', message: 'unknown key "extra"', code: 'unrecognized_keys' },
    ]);
  });

  it('names option issues at the top, subject `image options`', () => {
    const error = failure(() => parseImageImport(URL_SOURCE, { name: '', convertTo: 'iso' }));
    expect(error.message).toMatch(/^invalid image options: /);
    expect(error.issues.map((issue) => issue.path)).toEqual(['name', 'convertTo']);
  });

  it('checks the source before the options', () => {
    const error = failure(() => parseImageImport({ kind: 'disk' }, { name: '' }));
    expect(error.message).toMatch(/^invalid image source: /);
  });
});
