import { describe, expect, it } from 'vitest';
import { NotFoundError } from './errors.js';
import { decodeTaskRef, encodeTaskRef, hasTaskKind, taskIdCodec } from './task-id.js';

interface Ref {
  k: string;
  v?: number | undefined;
}

const decoding = {
  prefix: 'x.',
  backend: 'Example',
  provider: 'ex',
  isRef: (value: unknown): value is Ref => hasTaskKind(value),
};

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('task id codec', () => {
  it('round-trips a reference through a URL-safe id with the prefix', () => {
    const ref: Ref = { k: 'vm.create', v: 101 };
    const id = encodeTaskRef('x.', ref);
    expect(id).toMatch(/^x\.[A-Za-z0-9_-]+$/);
    expect(decodeTaskRef(id, decoding)).toEqual(ref);
  });

  it('answers NotFoundError (task) for ids it did not mint', () => {
    const foreign = [
      'task-42',
      encodeTaskRef('y.', { k: 'vm.create' }),
      'x.%%%',
      encodeTaskRef('x.', { kind: 'vm.create' }),
      `x.${Buffer.from('not json').toString('base64url')}`,
    ];
    for (const id of foreign) {
      const error = caught(() => decodeTaskRef(id, decoding));
      expect(NotFoundError.isInstance(error)).toBe(true);
      expect((error as NotFoundError).resource).toBe('task');
      expect((error as NotFoundError).message).toBe(`no Example task ${JSON.stringify(id)}`);
      expect((error as NotFoundError).provider).toBe('ex');
    }
  });

  it('redacts a secret passed as the id before quoting it', () => {
    const secret = 'pw"with\\quotes';
    const error = caught(() =>
      decodeTaskRef(secret, { ...decoding, redact: { secrets: [secret] } }),
    ) as NotFoundError;
    expect(error.message).not.toContain('pw');
    expect(error.id).not.toContain('pw');
  });
});

describe('taskIdCodec', () => {
  const codec = taskIdCodec<Ref>(decoding);

  it('binds the prefix and backend, and takes the provider and redaction per call', () => {
    const id = codec.encode({ k: 'vm.delete', v: 7 });
    expect(id.startsWith('x.')).toBe(true);
    expect(codec.decode(id, 'ex')).toEqual({ k: 'vm.delete', v: 7 });
    const error = caught(() =>
      codec.decode('secret-ticket', 'other', { secrets: ['secret-ticket'] }),
    );
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).provider).toBe('other');
    expect((error as NotFoundError).message).toMatch(/^no Example task /);
    expect((error as NotFoundError).message).not.toContain('secret-ticket');
  });
});
