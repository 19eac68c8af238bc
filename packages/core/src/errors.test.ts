import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AuthenticationError,
  ConflictError,
  type ConflictReason,
  deserializeError,
  ERROR_CODES,
  formatIssuePath,
  HvkitError,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  TaskFailedError,
  TimeoutError,
  TransportError,
  UnsupportedCapabilityError,
} from './errors.js';

/** One instance of every class, with the code and default retryability it must carry. */
const SAMPLES: [HvkitError, string, boolean][] = [
  [new AuthenticationError('login refused'), 'AUTHENTICATION', false],
  [new NotFoundError('vm', 'vm-7'), 'NOT_FOUND', false],
  [new ConflictError('invalid-power-state', 'VM is on'), 'CONFLICT', false],
  [
    new InvalidSpecError([{ path: 'cpu.count', message: 'too small', code: 'too_small' }]),
    'INVALID_SPEC',
    false,
  ],
  [
    new UnsupportedCapabilityError('snapshots.memory', 'no memory snapshots'),
    'UNSUPPORTED_CAPABILITY',
    false,
  ],
  [new TaskFailedError('task-1', 'disk full'), 'TASK_FAILED', false],
  [new TimeoutError('too slow', 1000), 'TIMEOUT', true],
  [new TransportError('ECONNRESET'), 'TRANSPORT', true],
  [new ProviderApiError('bad request', { status: 400 }), 'PROVIDER_API', false],
];

const CLASSES = [
  AuthenticationError,
  NotFoundError,
  ConflictError,
  InvalidSpecError,
  UnsupportedCapabilityError,
  TaskFailedError,
  TimeoutError,
  TransportError,
  ProviderApiError,
] as const;

describe('error codes and classes', () => {
  it('cover every stable code exactly once', () => {
    expect(SAMPLES.map(([, code]) => code).sort()).toEqual([...ERROR_CODES].sort());
  });

  it.each(SAMPLES)('%s has its code, name and default retryability', (error, code, retryable) => {
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.name).toBe(error.constructor.name);
    expect(error).toBeInstanceOf(Error);
    expect(HvkitError.isInstance(error)).toBe(true);
    expect(typeof error.stack).toBe('string');
  });

  it('isInstance of each class accepts only its own code', () => {
    for (const [index, Class] of CLASSES.entries()) {
      for (const [otherIndex, [error]] of SAMPLES.entries()) {
        expect(Class.isInstance(error), `${Class.name} vs ${error.name}`).toBe(
          index === otherIndex,
        );
      }
    }
  });

  it('isInstance refuses look-alikes without the marker', () => {
    const plain = Object.assign(new Error('x'), { code: 'NOT_FOUND' });
    for (const value of [plain, { code: 'NOT_FOUND' }, null, undefined, 'NOT_FOUND', 42]) {
      expect(HvkitError.isInstance(value)).toBe(false);
      expect(NotFoundError.isInstance(value)).toBe(false);
    }
    expect(HvkitError.isInstance({ [Symbol('hvkit.error')]: true, code: 'NOT_FOUND' })).toBe(false);
    expect(HvkitError.isInstance({ [Symbol.for('hvkit.error')]: 'yes', code: 'NOT_FOUND' })).toBe(
      false,
    );
  });

  it('isInstance works across two copies of the package', () => {
    // What a second bundled copy of @hvkit/core would produce: another class, the same marker.
    class OtherCopyError extends Error {
      constructor(message: string) {
        super(message);
        Object.defineProperty(this, Symbol.for('hvkit.error'), { value: true });
      }
      readonly code = 'CONFLICT';
      readonly reason = 'locked';
      readonly retryable = true;
    }
    const foreign = new OtherCopyError('locked elsewhere');
    expect(foreign instanceof HvkitError).toBe(false);
    expect(HvkitError.isInstance(foreign)).toBe(true);
    expect(ConflictError.isInstance(foreign)).toBe(true);
    expect(NotFoundError.isInstance(foreign)).toBe(false);
    expect(HvkitError.hasCode(foreign, 'CONFLICT')).toBe(true);
    expect(HvkitError.hasCode(foreign, 'TIMEOUT')).toBe(false);
  });
});

describe('retryable', () => {
  it('ConflictError is retryable only when locked', () => {
    const reasons: ConflictReason[] = [
      'invalid-power-state',
      'already-exists',
      'locked',
      'in-use',
      'idempotency-mismatch',
      'not-a-template',
      'invalid-state',
    ];
    for (const reason of reasons) {
      expect(new ConflictError(reason, 'x').retryable, reason).toBe(reason === 'locked');
    }
  });

  it('ProviderApiError is retryable for 5xx and 429 only', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), (status) => {
        const error = new ProviderApiError('x', { status });
        expect(error.retryable).toBe(status >= 500 || status === 429);
        expect(error.status).toBe(status);
      }),
    );
    expect(new ProviderApiError('no status').retryable).toBe(false);
  });

  it('an explicit retryable overrides the default', () => {
    expect(new TransportError('certificate verify failed', { retryable: false }).retryable).toBe(
      false,
    );
    expect(new ConflictError('locked', 'x', { retryable: false }).retryable).toBe(false);
    expect(new ProviderApiError('x', { status: 400, retryable: true }).retryable).toBe(true);
    expect(new TimeoutError('x', 5, { retryable: false }).retryable).toBe(false);
  });
});

describe('toJSON', () => {
  it('is plain data without cause or stack', () => {
    const cause = new Error('socket hang up at 10.0.0.1');
    const error = new TransportError('request failed', { provider: 'lab', cause });
    expect(error.cause).toBe(cause);
    const json = error.toJSON();
    expect(json).toEqual({
      name: 'TransportError',
      code: 'TRANSPORT',
      message: 'request failed',
      provider: 'lab',
      retryable: true,
      details: undefined,
    });
    expect(JSON.stringify(error)).not.toContain('socket hang up');
    expect(JSON.stringify(error)).not.toContain('stack');
  });

  it('carries the structured fields in details', () => {
    expect(new NotFoundError('snapshot', 's-1').toJSON().details).toEqual({
      resource: 'snapshot',
      id: 's-1',
    });
    expect(new NotFoundError('snapshot', 's-1').message).toBe('snapshot "s-1" not found');
    expect(new TaskFailedError('t-9', 'boom').message).toBe('task t-9 failed: boom');
    expect(
      new ProviderApiError('x', { status: 503, fault: 'Busy' }).toJSON().details,
    ).toMatchObject({
      status: 503,
      fault: 'Busy',
    });
  });
});

describe('deserializeError', () => {
  it('round-trips class, code, message, retryable, provider and fields', () => {
    const samples: HvkitError[] = [
      ...SAMPLES.map(([error]) => error),
      new NotFoundError('task', 'UPID:pve:1', 'no such task', { provider: 'pve' }),
      new ConflictError('locked', 'VM is locked by backup', {
        provider: 'pve',
        details: { by: 'vzdump' },
      }),
      new InvalidSpecError(
        [
          { path: 'disks[1].sizeGiB', message: 'must be positive', code: 'too_small' },
          { path: 'nics[0].mac', message: 'must be unicast', code: 'custom' },
        ],
        { subject: 'VM spec', provider: 'lab' },
      ),
      new TaskFailedError('task-3', 'storage offline', { provider: 'lab' }),
      new ProviderApiError('server busy', { status: 503, fault: 'SystemError', provider: 'vc' }),
      new TimeoutError('waited', 30_000, { retryable: false }),
    ];
    for (const original of samples) {
      const copy = deserializeError(JSON.parse(JSON.stringify(original)));
      const label = `${original.name}: ${original.message}`;
      expect(copy.name, label).toBe(original.name);
      expect(copy.code, label).toBe(original.code);
      expect(copy.message, label).toBe(original.message);
      expect(copy.retryable, label).toBe(original.retryable);
      expect(copy.provider, label).toBe(original.provider);
      expect(copy.details, label).toEqual(original.details);
      expect(copy.toJSON(), label).toEqual(original.toJSON());
      expect(copy.constructor, label).toBe(original.constructor);
      if (NotFoundError.isInstance(original)) {
        expect((copy as NotFoundError).resource).toBe(original.resource);
        expect((copy as NotFoundError).id).toBe(original.id);
      }
      if (ConflictError.isInstance(original)) {
        expect((copy as ConflictError).reason).toBe(original.reason);
      }
      if (TaskFailedError.isInstance(original)) {
        expect((copy as TaskFailedError).taskId).toBe(original.taskId);
        expect((copy as TaskFailedError).backendMessage).toBe(original.backendMessage);
      }
      if (InvalidSpecError.isInstance(original)) {
        expect((copy as InvalidSpecError).issues).toEqual(original.issues);
      }
      if (ProviderApiError.isInstance(original)) {
        expect((copy as ProviderApiError).status).toBe(original.status);
        expect((copy as ProviderApiError).fault).toBe(original.fault);
      }
      if (TimeoutError.isInstance(original)) {
        expect((copy as TimeoutError).timeoutMs).toBe(original.timeoutMs);
      }
    }
  });

  it('round-trips arbitrary messages and issues', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.array(fc.record({ path: fc.string(), message: fc.string(), code: fc.string() }), {
          maxLength: 8,
        }),
        (message, issues) => {
          const original = new InvalidSpecError(issues);
          const copy = deserializeError(original.toJSON());
          expect(InvalidSpecError.isInstance(copy)).toBe(true);
          expect((copy as InvalidSpecError).issues).toEqual(original.issues);
          expect(copy.message).toBe(original.message);
          const auth = deserializeError(new AuthenticationError(message).toJSON());
          expect(auth.message).toBe(new AuthenticationError(message).message);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('formatIssuePath', () => {
  it('formats keys with dots and indices with brackets', () => {
    expect(formatIssuePath([])).toBe('(root)');
    expect(formatIssuePath(['disks', 2, 'sizeGiB'])).toBe('disks[2].sizeGiB');
    expect(formatIssuePath(['nics', 0, 'mac'])).toBe('nics[0].mac');
    expect(formatIssuePath(['cpu', 'coresPerSocket'])).toBe('cpu.coresPerSocket');
    expect(formatIssuePath([0, 'a'])).toBe('[0].a');
    expect(formatIssuePath(['m', 1, 2])).toBe('m[1][2]');
  });

  it('keeps every segment, in order', () => {
    const segment = fc.oneof(fc.nat({ max: 99 }), fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,7}$/));
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (path) => {
        const text = formatIssuePath(path);
        const parsed = [...text.matchAll(/\[(\d+)\]|\.?([^.[\]]+)/g)].map((match) =>
          match[1] !== undefined ? Number(match[1]) : match[2],
        );
        expect(parsed).toEqual(path);
      }),
      { numRuns: 200 },
    );
  });

  it('InvalidSpecError.fromZod names nested and unknown-key paths, with a prefix', () => {
    const schema = z
      .object({
        disks: z.array(z.object({ sizeGiB: z.number().positive() }).strict()),
      })
      .strict();
    const result = schema.safeParse({
      disks: [{ sizeGiB: 1 }, { sizeGiB: -1, extra: 1 }],
      more: 2,
    });
    expect(result.success).toBe(false);
    if (result.success) return;
    const error = InvalidSpecError.fromZod(result.error, {
      subject: 'thing',
      pathPrefix: ['input'],
    });
    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      'input.disks[1].extra',
      'input.disks[1].sizeGiB',
      'input.more',
    ]);
    expect(error.message).toMatch(/^invalid thing: /);
  });

  it('InvalidSpecError summarises at most five issues', () => {
    const issues = Array.from({ length: 7 }, (_, index) => ({
      path: `p${index}`,
      message: 'bad',
      code: 'custom',
    }));
    const error = new InvalidSpecError(issues);
    expect(error.message).toContain('p4: bad');
    expect(error.message).not.toContain('p5');
    expect(error.message).toContain('(and 2 more)');
    expect(error.issues).toHaveLength(7);
  });
});
