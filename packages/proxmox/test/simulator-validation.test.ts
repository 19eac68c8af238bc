import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProxmoxSimulator, startProxmoxSimulator } from '../src/simulator/index.js';
import { checkReturns } from '../src/simulator/returns-check.js';
import { type Exchange, SimulatorTestClient } from '../src/simulator/testing/client.js';
import { validateParameters } from '../src/simulator/validate.js';

function errorsOf(exchange: Exchange): Record<string, string> {
  expect(exchange.status).toBe(400);
  expect(exchange.reason).toBe('Parameter verification failed.');
  expect(exchange.contentType).toBe('application/json;charset=UTF-8');
  const body = exchange.body as { data: null; message: string; errors: Record<string, string> };
  expect(body.data).toBeNull();
  expect(body.message).toBe('Parameter verification failed.\n');
  return body.errors;
}

describe.each(['8.4', '9.1'] as const)('schema validation (PVE %s)', (version) => {
  let simulator: ProxmoxSimulator;
  let client: SimulatorTestClient;

  beforeAll(async () => {
    simulator = await startProxmoxSimulator({ version, taskDurationMs: 1, verifyReturns: true });
    client = new SimulatorTestClient(simulator);
    await client.login();
    await client.run('POST', '/nodes/pve1/qemu', { vmid: 100, scsi0: 'local-lvm:1' });
  });
  afterAll(async () => {
    await client.close();
    await simulator.close();
  });

  it('unknown parameter', async () => {
    const errors = errorsOf(
      await client.request('POST', '/nodes/pve1/qemu/100/status/start', { colour: 'red' }),
    );
    expect(errors).toEqual({
      colour:
        'property is not defined in schema and the schema does not allow additional properties',
    });
  });

  it('missing parameter', async () => {
    expect(errorsOf(await client.request('POST', '/nodes/pve1/qemu', { name: 'x' }))).toEqual({
      vmid: 'property is missing and it is not optional',
    });
  });

  it('booleans are 0/1 in form bodies: "true" is a type error', async () => {
    expect(
      errorsOf(await client.request('POST', '/nodes/pve1/qemu', { vmid: 101, start: 'true' })),
    ).toEqual({
      start: "type check ('boolean') failed - got 'true'",
    });
  });

  it('JSON bodies may carry real booleans and numbers', async () => {
    const exchange = await client.request(
      'POST',
      '/nodes/pve1/qemu/100/snapshot',
      {},
      {
        body: JSON.stringify({ snapname: 'json1', vmstate: false }),
        headers: { 'content-type': 'application/json' },
      },
    );
    expect(exchange.status).toBe(200);
    await client.waitTask((exchange.body as { data: string }).data);
  });

  it('integer and number type checks', async () => {
    expect(
      errorsOf(
        await client.request('PUT', '/nodes/pve1/qemu/100/config', {
          cores: 'two',
          cpulimit: 'fast',
        }),
      ),
    ).toEqual({
      cores: "type check ('integer') failed - got 'two'",
      cpulimit: "type check ('number') failed - got 'fast'",
    });
  });

  it('enum', async () => {
    expect(
      errorsOf(await client.request('GET', '/cluster/resources', { type: 'invalid_value' })),
    ).toEqual({
      type: "value 'invalid_value' does not have a value in the enumeration 'vm, storage, node, sdn'",
    });
  });

  it('pattern (anchored, as Perl checks it)', async () => {
    expect(
      errorsOf(
        await client.request('PUT', '/nodes/pve1/qemu/100/resize', { disk: 'scsi0', size: '1G2' }),
      ),
    ).toEqual({
      size: 'value does not match the regex pattern',
    });
  });

  it('minimum and maximum', async () => {
    expect(
      errorsOf(
        await client.request('PUT', '/nodes/pve1/qemu/100/config', { cores: 0, cpulimit: 500 }),
      ),
    ).toEqual({
      cores: 'value must have a minimum value of 1',
      cpulimit: 'value must have a maximum value of 128',
    });
  });

  it('maxLength', async () => {
    const name = `s${'x'.repeat(40)}`;
    expect(
      errorsOf(await client.request('POST', '/nodes/pve1/qemu/100/snapshot', { snapname: name })),
    ).toEqual({
      snapname: 'value may only be 40 characters long',
    });
  });

  it('formats: pve-vmid, pve-node, pve-configid, pve-storage-id', async () => {
    expect(errorsOf(await client.request('GET', '/cluster/nextid', { vmid: 99 }))).toEqual({
      vmid: 'invalid format - value does not look like a valid VM ID\n',
    });
    expect(errorsOf(await client.request('GET', '/nodes/bad_node/qemu'))).toEqual({
      node: 'invalid format - value does not look like a valid node name\n',
    });
    expect(
      errorsOf(await client.request('POST', '/nodes/pve1/qemu/100/snapshot', { snapname: '1abc' })),
    ).toEqual({
      snapname: "invalid format - invalid configuration ID '1abc'\n",
    });
    expect(errorsOf(await client.request('GET', '/nodes/pve1/storage/local_/content'))).toEqual({
      storage: "invalid format - storage ID 'local_' contains illegal characters\n",
    });
  });

  it('property strings: keys and values are checked against the nested format', async () => {
    expect(
      errorsOf(
        await client.request('POST', '/nodes/pve1/qemu', {
          vmid: 102,
          net0: 'virtio,bridge=vmbr0,colour=red',
          net1: 'virtio,bridge=vmbr0,tag=5000',
          scsi0: 'local-lvm:1,cache=sometimes',
          ipconfig0: 'ip=10.0.0.5/24,gw=10.0.0.300',
          net2: 'virtio=01:00:00:00:00:01,bridge=vmbr0',
        }),
      ),
    ).toEqual({
      net0: 'invalid format - invalid key in comma-separated list property: colour\n',
      net1: 'invalid format - format error\nnet1.tag: value must have a maximum value of 4094\n\n',
      scsi0:
        "invalid format - format error\nscsi0.cache: value 'sometimes' does not have a value in the enumeration 'none, writethrough, writeback, unsafe, directsync'\n\n",
      ipconfig0:
        'invalid format - format error\nipconfig0.gw: invalid format - value does not look like a valid IPv4 address\n\n',
      net2: 'invalid format - format error\nnet2.macaddr: invalid format - value does not look like a valid unicast MAC address\n\n',
    });
  });

  it('indexed keys stop at the schema maximum (net0..net31)', async () => {
    expect(
      errorsOf(
        await client.request('PUT', '/nodes/pve1/qemu/100/config', {
          net32: 'virtio,bridge=vmbr0',
        }),
      ),
    ).toEqual({
      net32:
        'property is not defined in schema and the schema does not allow additional properties',
    });
  });

  it('"requires": a parameter that needs another', async () => {
    expect(
      errorsOf(
        await client.request('POST', '/nodes/pve1/storage/local/download-url', {
          content: 'iso',
          filename: 'x.iso',
          url: 'https://example.invalid/x.iso',
          checksum: 'abc',
        }),
      ),
    ).toEqual({ 'checksum-algorithm': "missing property - 'checksum' requires this property" });
  });

  it('parameters follow the version: nets-host-mtu on start exists only in PVE 9.1', async () => {
    const exchange = await client.request('POST', '/nodes/pve1/qemu/100/status/start', {
      'nets-host-mtu': 'net0=1500',
    });
    if (version === '8.4') {
      expect(errorsOf(exchange)).toEqual({
        'nets-host-mtu':
          'property is not defined in schema and the schema does not allow additional properties',
      });
    } else {
      expect(exchange.status).toBe(200);
      await client.waitTask((exchange.body as { data: string }).data);
      await client.run('POST', '/nodes/pve1/qemu/100/status/stop');
    }
  });

  it('unknown paths and methods answer 501 "Method ... not implemented"', async () => {
    const exchange = await client.request('GET', '/nodes/pve1/lxc');
    expect(exchange.status).toBe(501);
    expect(exchange.reason).toBe("Method 'GET /nodes/pve1/lxc' not implemented");
    expect(exchange.body).toEqual({
      data: null,
      message: "Method 'GET /nodes/pve1/lxc' not implemented\n",
    });
    expect((await client.request('PATCH', '/version')).status).toBe(501);
  });

  it('a body on GET or DELETE is refused with 501 before the handler', async () => {
    const exchange = await client.request(
      'DELETE',
      '/nodes/pve1/qemu/100',
      {},
      { body: 'purge=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
    );
    expect(exchange.status).toBe(501);
    expect(exchange.reason).toBe("Unexpected content for method 'DELETE'");
    expect(exchange.contentType).toBeNull();
  });

  it('successful answers use the exact content type and server headers', async () => {
    const exchange = await client.request('GET', '/version');
    expect(exchange.contentType).toBe('application/json;charset=UTF-8');
    expect(exchange.headers).toMatchObject({
      server: 'pve-api-daemon/3.0',
      'cache-control': 'max-age=0',
      pragma: 'no-cache',
    });
    expect(exchange.headers.expires).toBe(exchange.headers.date);
  });
});

describe('legacy error bodies (libpve-http-server-perl < 5.2)', () => {
  it('omit "message" and leave pre-handler bodies empty', async () => {
    const simulator = await startProxmoxSimulator({ legacyErrorBodies: true });
    const client = new SimulatorTestClient(simulator);
    try {
      const unauthenticated = await client.request('GET', '/version');
      expect([unauthenticated.status, unauthenticated.text]).toEqual([401, '']);
      await client.login();
      const invalid = await client.request('GET', '/cluster/nextid', { vmid: 99 });
      expect(invalid.body).toEqual({
        data: null,
        errors: { vmid: 'invalid format - value does not look like a valid VM ID\n' },
      });
    } finally {
      await client.close();
      await simulator.close();
    }
  });
});

describe('gzip', () => {
  it('compresses bodies over 1024 bytes when the client accepts gzip', async () => {
    const simulator = await startProxmoxSimulator();
    const client = new SimulatorTestClient(simulator);
    try {
      await client.login();
      const exchange = await client.request(
        'GET',
        '/cluster/resources',
        {},
        { headers: { 'accept-encoding': 'gzip' } },
      );
      expect(exchange.status).toBe(200);
      expect(exchange.headers['content-encoding']).toBe('gzip');
      expect((exchange.body as { data: unknown[] }).data.length).toBeGreaterThan(3);
    } finally {
      await client.close();
      await simulator.close();
    }
  });
});

describe('the returns self-check', () => {
  it('accepts Perl-loose integers and flags missing required keys and wrong structure', () => {
    expect(checkReturns({ type: 'integer' }, '100')).toEqual([]);
    expect(checkReturns({ type: 'string' }, null)).toEqual(['data is null, schema says string']);
    expect(checkReturns({ type: 'string', optional: 1 }, null)).toEqual([]);
    expect(
      checkReturns(
        {
          type: 'array',
          items: {
            type: 'object',
            properties: { vmid: { type: 'integer' }, name: { type: 'string', optional: 1 } },
          },
        },
        [{ name: 'x' }],
      ),
    ).toEqual(['data[0].vmid missing']);
    expect(
      checkReturns({ type: 'object', properties: { ha: { type: 'object' } } }, { ha: 'x' }),
    ).toEqual(['data.ha is string, schema says object']);
  });
});

describe('validator rules without a served endpoint', () => {
  it('minLength uses the recorded wording', () => {
    const result = validateParameters(
      { properties: { password: { type: 'string', minLength: 5 } } },
      { password: 'abc' },
    );
    expect(result.errors).toEqual({ password: 'value must be at least 5 characters long' });
  });

  it('types booleans and integers, keeps strings', () => {
    const result = validateParameters(
      {
        properties: {
          flag: { type: 'boolean' },
          count: { type: 'integer' },
          name: { type: 'string', optional: 1 },
        },
      },
      { flag: '1', count: '42', name: 'web' },
    );
    expect(result).toEqual({ values: { flag: 1, count: 42, name: 'web' }, errors: {} });
  });
});
