import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import {
  AuthenticationError,
  ConflictError,
  type HvkitError,
  InvalidSpecError,
  NotFoundError,
  ProviderApiError,
  TaskFailedError,
  TimeoutError,
  TransportError,
  UnsupportedCapabilityError,
} from './errors.js';
import { type Logger, redactingLogger } from './logger.js';
import { isSecretKey, REDACTED, redact, redactString } from './redact.js';
import { Task, type TaskSnapshot, type TaskSource } from './task.js';

const RUNS = { numRuns: 200 };

// ---- secrets and the texts that carry them --------------------------------------------------

const chars = (text: string) => [...text];
const ALNUM = chars('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789');
const BASE64 = [...ALNUM, '+', '/', '='];
const TOKEN68 = [...ALNUM, '-', '.', '_', '~', '+', '/', '='];
/** Characters a password may hold once form- or query-encoded, plus anything non-ASCII. */
const FORM_VALUE = [...ALNUM, ...chars('!$()*+-./:<=>?@[\\]^_`{|~%#'), 'é', 'ß', '密', '🔑'];
/** RFC 3986 userinfo characters (unreserved, sub-delims, `:`, percent-encoded). */
const USERINFO = [...ALNUM, ...chars("-._~!$&'()*+,;=:"), '%40', '%2F'];
/** Anything JSON can carry in a string. */
const JSON_STRING = fc.string({ unit: 'binary', minLength: 8, maxLength: 40 });

const secretFrom = (alphabet: string[]) =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength: 8, maxLength: 40 });

/** The fixed text around a secret: a secret that is part of it cannot be told apart. */
const FIXED_TEXT = [
  'login failed for root@pam with password= and retry',
  '{"username":"root","token": , "x":1}',
  'GET /api2/json Authorization: Bearer  Accept: */*',
  'Authorization: PVEAPIToken=automation@pve!ci= refused',
  'POST /oauth?grant=x&access_token=&scope=all config apiToken: client_id=hvkit client_secret=',
  '{"apiToken":,"user":"ci"} {"token_type":"bearer","access_token" : }',
  'Proxy-Authorization: Token \r\nAccept: */* {"headers":{"Authorization":"Basic "}}',
  'Cookie: PVEAuthCookie=; path=/',
  'Cookie: vmware_soap_session=""; Path=/; HttpOnly',
  'fetch https://admin:@vcenter.example/sdk failed',
  'key: -----BEGIN OPENSSH PRIVATE KEY-----\n\n-----END OPENSSH PRIVATE KEY----- loaded',
  REDACTED,
].join('\n');

interface Carrier {
  label: string;
  secret: string;
  text: string;
  /** The same text around another secret. */
  embed: (secret: string) => string;
}

/** A secret no carrier's fixed text contains, made of characters every alphabet allows. */
const SENTINEL = 'Zq9Zq9Zq9Zq9';

const carrier = (
  label: string,
  secret: fc.Arbitrary<string>,
  embed: (secret: string) => string,
): fc.Arbitrary<Carrier> =>
  secret
    .filter((value) => !FIXED_TEXT.includes(value) && value.trim().length >= 8)
    .map((value) => ({ label, secret: value, text: embed(value), embed }));

const CARRIERS = fc.oneof(
  carrier(
    'password=',
    secretFrom(FORM_VALUE),
    (secret) => `login failed for root@pam with password=${secret} and retry`,
  ),
  carrier('passwd=&', secretFrom(FORM_VALUE), (secret) => `user=root&passwd=${secret}&realm=pam`),
  carrier(
    '"token": JSON',
    JSON_STRING,
    (secret) => `{"username":"root","token": ${JSON.stringify(secret)}, "x":1}`,
  ),
  carrier('"password": JSON', JSON_STRING, (secret) => `{"password":${JSON.stringify(secret)}}`),
  carrier(
    '"ticket": JSON',
    JSON_STRING,
    (secret) => `{"data":{"ticket":${JSON.stringify(secret)},"CSRFPreventionToken":"x"}}`,
  ),
  carrier(
    'access_token=',
    secretFrom(FORM_VALUE),
    (secret) => `POST /oauth?grant=x&access_token=${secret}&scope=all`,
  ),
  carrier('apiToken: ', secretFrom(FORM_VALUE), (secret) => `config apiToken: ${secret}`),
  carrier(
    'client_secret=',
    secretFrom(FORM_VALUE),
    (secret) => `client_id=hvkit client_secret=${secret}`,
  ),
  carrier(
    '"apiToken": JSON',
    JSON_STRING,
    (secret) => `{"apiToken":${JSON.stringify(secret)},"user":"ci"}`,
  ),
  carrier(
    '"access_token": JSON',
    JSON_STRING,
    (secret) => `{"token_type":"bearer","access_token" : ${JSON.stringify(secret)}}`,
  ),
  carrier(
    'Authorization: <any scheme>',
    secretFrom(TOKEN68),
    (secret) => `Proxy-Authorization: Token ${secret}\r\nAccept: */*`,
  ),
  carrier(
    '"Authorization": JSON header',
    secretFrom(BASE64),
    (secret) => `{"headers":{"Authorization":"Basic ${secret}"}}`,
  ),
  carrier(
    'Authorization: Bearer',
    secretFrom(TOKEN68),
    (secret) => `GET /api2/json Authorization: Bearer ${secret} Accept: */*`,
  ),
  carrier(
    'Authorization: Basic',
    secretFrom(BASE64),
    (secret) => `Authorization: Basic ${secret}\r\nHost: x`,
  ),
  carrier(
    'PVEAPIToken',
    secretFrom([...ALNUM, '-']),
    (secret) => `Authorization: PVEAPIToken=automation@pve!ci=${secret} refused`,
  ),
  carrier(
    'PVEAuthCookie',
    secretFrom([...BASE64, ':', '@', '%']),
    (secret) => `Cookie: PVEAuthCookie=${secret}; path=/`,
  ),
  carrier(
    'PVE ticket',
    secretFrom(BASE64),
    (secret) => `ticket PVE:root@pam:65A1B2C3::${secret} issued`,
  ),
  carrier(
    'vmware_soap_session',
    secretFrom([...ALNUM, '-', ' ', ':']),
    (secret) => `Cookie: vmware_soap_session="${secret}"; Path=/; HttpOnly`,
  ),
  carrier(
    'vmware_soap_session unquoted',
    secretFrom([...ALNUM, '-']),
    (secret) => `vmware_soap_session=${secret}`,
  ),
  carrier(
    'URL userinfo',
    secretFrom(USERINFO),
    (secret) => `fetch https://admin:${secret}@vcenter.example/sdk failed`,
  ),
  carrier(
    'URL token as the whole userinfo',
    fc.string({ unit: fc.constantFrom(...ALNUM, '_', '-'), minLength: 20, maxLength: 60 }),
    (secret) => `git clone https://${secret}@git.example/ops/infra.git failed`,
  ),
  carrier(
    'OpenSSH private key',
    fc.array(secretFrom(BASE64), { minLength: 1, maxLength: 4 }).map((lines) => lines.join('\n')),
    (secret) =>
      `key: -----BEGIN OPENSSH PRIVATE KEY-----\n${secret}\n-----END OPENSSH PRIVATE KEY----- loaded`,
  ),
  carrier(
    'RSA private key, truncated',
    secretFrom(BASE64),
    (secret) => `key: -----BEGIN RSA PRIVATE KEY-----\nMIIE${secret}`,
  ),
);

/** Every form a secret might take once copied into a string or JSON. */
function leaks(output: string, secret: string): boolean {
  const escaped = JSON.stringify(secret).slice(1, -1);
  return output.includes(secret) || output.includes(escaped);
}

/**
 * Fails when `produce` lets the secret through. A secret that the output for another secret
 * also contains (it is part of the surrounding text or of `[REDACTED]`) proves nothing: skipped.
 */
function expectClean(
  item: Carrier,
  where: string,
  produce: (secret: string, text: string) => string,
): void {
  const baseline = produce(SENTINEL, item.embed(SENTINEL));
  if (leaks(baseline, item.secret)) return;
  const output = produce(item.secret, item.text);
  if (leaks(output, item.secret)) {
    throw new Error(
      `${item.label}: secret ${JSON.stringify(item.secret)} leaked into ${where}: ${output}`,
    );
  }
}

/** Every error class, built around a text that carries a secret, in message and details. */
function errorsCarrying(text: string, secret: string): HvkitError[] {
  const details = {
    note: text,
    password: secret,
    apiToken: secret,
    ticket: secret,
    privateKey: secret,
    nested: { list: [text, { csrfToken: secret }], sessionId: secret },
  };
  return [
    new AuthenticationError(text),
    new NotFoundError('image', text),
    new NotFoundError('vm', 'vm-1', text),
    new ConflictError('locked', text, { details }),
    new InvalidSpecError([{ path: 'cloudInit.userData', message: text, code: 'custom' }]),
    new UnsupportedCapabilityError('core.create', text, { details }),
    new TaskFailedError('task-1', text, { details }),
    new TimeoutError(text, 10),
    new TransportError(text, { details }),
    new ProviderApiError(text, { status: 500, fault: text, body: details, details }),
  ];
}

describe('redaction of secret-shaped text', () => {
  it('removes the secret from redactString output', () => {
    fc.assert(
      fc.property(CARRIERS, (item) => {
        expectClean(item, 'redactString', (_secret, text) => redactString(text));
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps error messages, toJSON() and JSON.stringify(error) free of it, for every class', () => {
    const views: [string, (error: HvkitError) => string][] = [
      ['message', (error) => error.message],
      ['toJSON()', (error) => JSON.stringify(error.toJSON())],
      ['JSON.stringify', (error) => JSON.stringify(error)],
      ['stack', (error) => String(error.stack)],
      // Loggers such as pino copy an error's enumerable fields.
      ['fields', (error) => JSON.stringify({ ...error })],
    ];
    fc.assert(
      fc.property(CARRIERS, (item) => {
        const baseline = errorsCarrying(item.embed(SENTINEL), SENTINEL);
        const errors = errorsCarrying(item.text, item.secret);
        for (const [index, error] of errors.entries()) {
          for (const [view, render] of views) {
            expectClean(item, `${error.name} #${index} ${view}`, (secret) =>
              render((secret === SENTINEL ? baseline[index] : error) as HvkitError),
            );
          }
        }
      }),
      RUNS,
    );
  });

  it('keeps everything a redactingLogger passes on free of it', () => {
    const levels = ['debug', 'info', 'warn', 'error'] as const;
    fc.assert(
      fc.property(CARRIERS, fc.constantFrom(...levels), (item, level) => {
        expectClean(item, `logger.${level}`, (secret, text) => {
          const records: unknown[] = [];
          const sink: Logger = {
            debug: (...args) => records.push(['debug', ...args]),
            info: (...args) => records.push(['info', ...args]),
            warn: (...args) => records.push(['warn', ...args]),
            error: (...args) => records.push(['error', ...args]),
          };
          const logger = redactingLogger(sink);
          logger[level](`request failed: ${text}`, {
            url: text,
            password: secret,
            headers: { Authorization: secret, cookie: secret },
            attempt: 2,
            error: new TransportError(text),
            cause: new Error(text),
            body: [{ apiToken: secret, privateKey: secret }],
          });
          logger[level](text);
          expect(records).toHaveLength(2);
          expect(records.map((record) => (record as unknown[])[0])).toEqual([level, level]);
          return JSON.stringify(records);
        });
      }),
      RUNS,
    );
  });

  it('keeps a task’s toJSON() free of it', async () => {
    const serialise = async (text: string) => {
      const snapshot: TaskSnapshot = {
        id: 'task-1',
        provider: 'lab',
        kind: 'image.import',
        state: 'running',
        progress: { percent: 10, message: `downloading ${text}` },
        cancelable: true,
        createdAt: new Date(0).toISOString(),
      };
      const source: TaskSource = { name: 'lab', getTask: async () => snapshot };
      const task = Task.start(source, 'image.import', async () => 'task-1', {
        decode: (raw) => raw,
        settings: { clock: new ManualClock() },
      });
      await task.refresh();
      expect(task.snapshot?.progress.message).toContain('downloading');
      return `${JSON.stringify(task)}\n${JSON.stringify(task.toJSON())}`;
    };
    await fc.assert(
      fc.asyncProperty(CARRIERS, async (item) => {
        const baseline = await serialise(item.embed(SENTINEL));
        const output = await serialise(item.text);
        expectClean(item, 'task JSON', (secret) => (secret === SENTINEL ? baseline : output));
      }),
      { numRuns: 100 },
    );
  });

  it('leaves ordinary text alone', () => {
    const ordinary = [
      'lab (mock) declares network.basic unsupported (needed by nics)',
      'Basic networking is supported',
      'task UPID:pve1:0000:vzcreate:101:root@pam: failed',
      'https://vcenter.example/sdk returned 503',
      'disk scsi0 grew to 20 GiB',
      'the token bucket is empty',
    ];
    for (const text of ordinary) expect(redactString(text)).toBe(text);
  });
});

describe('redaction by key', () => {
  it('recognises secret-named keys', () => {
    for (const key of [
      'password',
      'Password',
      'passwd',
      'passphrase',
      'apiToken',
      'api_key',
      'apiKey',
      'ticket',
      'privateKey',
      'private_key',
      'Authorization',
      'cookie',
      'csrfToken',
      'CSRFPreventionToken',
      'sessionId',
      'vmware_soap_session',
      'client_secret',
      'credentials',
      'pwd',
    ]) {
      expect(isSecretKey(key), key).toBe(true);
    }
    for (const key of [
      'name',
      'id',
      'provider',
      'kind',
      'path',
      'message',
      'keyboard',
      'sessions',
    ]) {
      expect(isSecretKey(key), key).toBe(false);
    }
  });

  it('replaces any value under a secret key, at any depth', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('password', 'apiToken', 'ticket', 'privateKey', 'secret', 'cookie'),
        fc.jsonValue().filter((value) => value !== null && value !== '' && value !== undefined),
        fc.nat({ max: 5 }),
        (key, value, depth) => {
          let input: unknown = { [key]: value, keep: 'visible' };
          for (let level = 0; level < depth; level++) input = { level, child: [input] };
          let output = redact(input) as Record<string, unknown>;
          for (let level = 0; level < depth; level++)
            output = (output.child as Record<string, unknown>[])[0] as Record<string, unknown>;
          expect(output[key]).toBe(REDACTED);
          expect(output.keep).toBe('visible');
        },
      ),
      RUNS,
    );
  });

  it('copies instead of mutating, and handles cycles, buffers, dates and errors', () => {
    const input: Record<string, unknown> = {
      password: 'hunter2hunter2',
      when: new Date(0),
      bytes: new Uint8Array(1024),
      buffer: new ArrayBuffer(16),
      error: new Error('token=abcdef123456'),
      list: [1, 'two', null, undefined],
    };
    input.self = input;
    input.list = [...(input.list as unknown[]), input];
    const output = redact(input) as Record<string, unknown>;
    expect(input.password).toBe('hunter2hunter2');
    expect(output.password).toBe(REDACTED);
    expect(output.self).toBe('[Circular]');
    expect((output.list as unknown[])[4]).toBe('[Circular]');
    expect(output.bytes).toBe('[1024 bytes]');
    expect(output.buffer).toBe('[16 bytes]');
    expect(output.when).toEqual(new Date(0));
    expect(output.when).not.toBe(input.when);
    expect(output.error).toEqual({ name: 'Error', message: `token=${REDACTED}` });
    expect(() => JSON.stringify(output)).not.toThrow();
  });

  it('truncates very deep structures instead of overflowing', () => {
    let deep: unknown = 'bottom';
    for (let level = 0; level < 100; level++) deep = { child: deep };
    expect(JSON.stringify(redact(deep))).toContain('[Truncated]');
  });

  it('keeps empty and absent secret values visible as such', () => {
    expect(redact({ password: '', token: undefined, ticket: null })).toEqual({
      password: '',
      token: undefined,
      ticket: null,
    });
  });
});

describe('redaction of known secret values', () => {
  const anySecret = fc
    .string({ unit: 'binary', minLength: 4, maxLength: 30 })
    .filter((value) => !REDACTED.includes(value));

  it('scrubs every occurrence of the given values, whatever they contain', () => {
    fc.assert(
      fc.property(anySecret, fc.string(), fc.string(), (secret, before, after) => {
        const text = `${before}${secret}${after}${secret}`;
        const output = redactString(text, { secrets: [secret] });
        expect(output.includes(secret)).toBe(false);
        expect(output).toContain(REDACTED);
      }),
      RUNS,
    );
  });

  it('scrubs values in messages, details, logs and errors', () => {
    const produce = (secret: string): string => {
      const options = { secrets: [secret] };
      const error = new AuthenticationError(`login as root with ${secret} refused`, {
        redact: options,
      });
      const conflict = new ConflictError('locked', 'x', {
        redact: options,
        details: { holder: `backup using ${secret}` },
      });
      const records: unknown[] = [];
      const sink: Logger = {
        debug: (...args) => records.push(args),
        info: (...args) => records.push(args),
        warn: (...args) => records.push(args),
        error: (...args) => records.push(args),
      };
      redactingLogger(sink, options).info(`connected with ${secret}`, {
        text: `again ${secret}`,
        list: [secret],
      });
      return [error.message, JSON.stringify(conflict), JSON.stringify(records)].join('\n');
    };
    const baseline = produce('\u0007sentinel\u0007');
    fc.assert(
      fc.property(anySecret, (secret) => {
        // A secret that is part of the surrounding words ("name", "locked") proves nothing.
        fc.pre(!leaks(baseline, secret));
        expect(leaks(produce(secret), secret)).toBe(false);
      }),
      RUNS,
    );
  });

  it('ignores values shorter than four characters', () => {
    expect(redactString('a b c abc', { secrets: ['abc', 'b'] })).toBe('a b c abc');
  });

  it('scrubs the longer of two overlapping secrets completely', () => {
    const output = redactString('key=xxABCDEFGHyy', { secrets: ['CDEF', 'ABCDEFGH'] });
    expect(output).toBe(`key=xx${REDACTED}yy`);
  });
});
