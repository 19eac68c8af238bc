import { InvalidSpecError } from '@hvkit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from './client.js';
import { encodeParams, encodePathSegment, expandPath } from './request-encoding.js';
import {
  createSelfSignedCertificate,
  replyJson,
  startTestHttpsServer,
  type TestHttpsServer,
} from './test-https-server.js';

/** Text that must stay inside one segment: separators, dots, escapes, Unicode. */
const hostile = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom(
      '/',
      '?',
      '#',
      '.',
      '%',
      '&',
      '=',
      '+',
      ' ',
      '\\',
      ';',
      ':',
      '@',
      'a',
      'é',
      '😀',
      '\n',
    ),
    maxLength: 12,
  }),
);
const segmentText = hostile.filter((text) => text !== '' && text !== '.' && text !== '..');

describe('encodePathSegment', () => {
  it('keeps separators inside the segment', () => {
    expect(encodePathSegment('a/b?c#d')).toBe('a%2Fb%3Fc%23d');
    expect(encodePathSegment('50%')).toBe('50%25');
    expect(encodePathSegment(100)).toBe('100');
    expect(encodePathSegment('..a')).toBe('..a');
  });

  it.each(['', '.', '..'])('refuses %j, which URL parsers would resolve', (text) => {
    expect(() => encodePathSegment(text)).toThrow(InvalidSpecError);
  });

  it('refuses a lone surrogate', () => {
    expect(() => encodePathSegment('a\uD800')).toThrow(InvalidSpecError);
  });
});

describe('expandPath', () => {
  it('fills placeholders and leaves the other parameters', () => {
    expect(
      expandPath('/nodes/{node}/qemu/{vmid}/snapshot/{snapname}', {
        node: 'pve',
        vmid: 100,
        snapname: 'a/b',
        description: 'x',
      }),
    ).toEqual({
      path: '/nodes/pve/qemu/100/snapshot/a%2Fb',
      rest: { description: 'x' },
    });
  });

  it('refuses a missing placeholder value and a malformed template', () => {
    expect(() => expandPath('/nodes/{node}/qemu')).toThrow(InvalidSpecError);
    expect(() => expandPath('/nodes/{node}', { node: true })).toThrow(InvalidSpecError);
    expect(() => expandPath('nodes')).toThrow(InvalidSpecError);
    expect(() => expandPath('/nodes?x=1')).toThrow(InvalidSpecError);
    expect(() => expandPath('/nodes/../access')).toThrow(InvalidSpecError);
  });
});

describe('encodeParams', () => {
  it('encodes booleans as 0/1, arrays as repeated keys, and drops undefined and null', () => {
    expect(
      encodeParams({
        full: true,
        force: false,
        delete: ['net1', 'scsi0'],
        vmid: 100,
        a: undefined,
        b: null,
        name: 'a b+c',
      }),
    ).toBe('full=1&force=0&delete=net1&delete=scsi0&vmid=100&name=a%20b%2Bc');
    expect(encodeParams({})).toBe('');
  });

  it('refuses numbers that are not finite', () => {
    expect(() => encodeParams({ cores: Number.NaN })).toThrow(InvalidSpecError);
    expect(() => encodeParams({ memory: Number.POSITIVE_INFINITY })).toThrow(InvalidSpecError);
  });

  it('round-trips through URLSearchParams', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          hostile.filter((key) => key !== ''),
          hostile,
        ),
        (params) => {
          expect([...new URLSearchParams(encodeParams(params))]).toEqual(Object.entries(params));
        },
      ),
    );
  });
});

describe('through a real HTTPS server', () => {
  let server: TestHttpsServer;
  let client: ProxmoxClient;

  beforeAll(async () => {
    const certificate = await createSelfSignedCertificate();
    server = await startTestHttpsServer(certificate, (request, response) => {
      // What a server's URL parser makes of the request: segments and parameters.
      const url = new URL(request.url, 'https://server.invalid');
      replyJson(response, 200, {
        data: {
          segments: url.pathname.split('/').slice(1).map(decodeURIComponent),
          query: [...url.searchParams],
          body: [...new URLSearchParams(request.body)],
        },
      });
    });
    client = new ProxmoxClient({
      host: '127.0.0.1',
      port: server.port,
      credentials: { type: 'token', tokenId: 'root@pam!t', secret: 'token-secret-1234' },
      tls: { fingerprint256: certificate.fingerprint256 },
    });
  });

  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it('every path value arrives as exactly one segment, and every parameter intact', async () => {
    await fc.assert(
      fc.asyncProperty(segmentText, segmentText, hostile, async (node, snapshot, value) => {
        const path = '/nodes/{node}/qemu/{vmid}/snapshot/{snapname}';
        const get = (await client.request('GET', path, {
          node,
          vmid: 100,
          snapname: snapshot,
          description: value,
        })) as {
          segments: string[];
          query: [string, string][];
        };
        expect(get.segments).toEqual([
          'api2',
          'json',
          'nodes',
          node,
          'qemu',
          '100',
          'snapshot',
          snapshot,
        ]);
        expect(get.query).toEqual([['description', value]]);
        const post = (await client.request('POST', path, {
          node,
          vmid: 100,
          snapname: snapshot,
          description: value,
        })) as {
          segments: string[];
          query: [string, string][];
          body: [string, string][];
        };
        expect(post.segments).toEqual(get.segments);
        expect(post.query).toEqual([]);
        expect(post.body).toEqual([['description', value]]);
      }),
      { numRuns: 60 },
    );
  });
});
