import { HvkitError, ProviderApiError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ObjectContent,
  parseSoapResponse,
  type SoapBody,
  streamRetrieveResult,
} from './soap-parser.js';
import { dig, oneByteChunks, readFixture, splitBytes } from './test-fixtures.js';

/** Every recorded or hand-written response these tests parse. */
const RESPONSES = [
  'RetrieveServiceContent.res.xml',
  'Login.res.xml',
  'CreateContainerView.res.xml',
  'RetrievePropertiesEx-ContainerView-maxObjects2.res.xml',
  'ContinueRetrievePropertiesEx.res.xml',
  'PowerOnVM_Task.res.xml',
  'PowerOnVM_Task.TaskInfo.res.xml',
  'PowerOnVM_Task-already-on.TaskInfo.res.xml',
  'VirtualMachine-props-after-create.res.xml',
  'synthetic-vcenter-RetrievePropertiesEx-token.res.xml',
  'synthetic-vcenter-fault-NoPermission.res.xml',
  'PowerOnVM_Task-template.res.xml',
  'MarkAsTemplate-already-template.res.xml',
  'WaitForUpdatesEx-cancelled.res.xml',
  'fault-InvalidArgument-CreateImportSpec.res.xml',
  'fault-InvalidArgument-TerminateSession-self.res.xml',
  'fault-InvalidLogin.res.xml',
  'fault-InvalidPowerState-ShutdownGuest.res.xml',
  'fault-InvalidRequest-malformed-xml.res.xml',
  'fault-ManagedObjectNotFound-PowerOn-destroyed.res.xml',
  'fault-ManagedObjectNotFound-RetrievePropertiesEx.res.xml',
  'fault-MethodNotFound-RebootGuest.res.xml',
  'fault-NotAuthenticated-expired-session.res.xml',
  'fault-NotFound-RevertToCurrentSnapshot.res.xml',
  'fault-unknown-method.res.xml',
];

/** Property collector results, for the streaming path. */
const RETRIEVE_RESULTS = [
  'RetrievePropertiesEx-ContainerView-maxObjects2.res.xml',
  'PowerOnVM_Task.TaskInfo.res.xml',
  'PowerOnVM_Task-already-on.TaskInfo.res.xml',
  'VirtualMachine-props-after-create.res.xml',
  'synthetic-vcenter-RetrievePropertiesEx-token.res.xml',
];

async function result(name: string): Promise<unknown[]> {
  const parsed = await parseSoapResponse(readFixture(name).body);
  if (parsed.kind !== 'result') throw new Error(`${name} is a fault`);
  return parsed.returnval;
}

async function collect(body: SoapBody): Promise<{ objects: ObjectContent[]; token?: string }> {
  const stream = streamRetrieveResult(body);
  const objects: ObjectContent[] = [];
  for await (const content of stream) objects.push(content);
  return stream.token === undefined ? { objects } : { objects, token: stream.token };
}

describe('parseSoapResponse on recorded vcsim responses', () => {
  it('RetrieveServiceContent: morefs and nested data', async () => {
    const [content] = await result('RetrieveServiceContent.res.xml');
    expect(dig(content, 'rootFolder')).toEqual({ type: 'Folder', value: 'group-d1' });
    expect(dig(content, 'propertyCollector')).toEqual({
      type: 'PropertyCollector',
      value: 'propertyCollector',
    });
    expect(dig(content, 'about')).toMatchObject({
      apiType: 'VirtualCenter',
      apiVersion: '6.5',
      fullName: 'VMware vCenter Server 6.5.0 build-5973321',
    });
  });

  it('Login: untyped scalars from the field table, dateTime kept as text', async () => {
    const [session] = await result('Login.res.xml');
    expect(session).toMatchObject({
      key: '2912301b-5ff9-4184-9c82-77aa793037a9',
      userName: 'admin',
      loginTime: '2026-11-21T12:16:33.534149683Z',
      extensionSession: false,
      callCount: 1,
    });
  });

  it('CreateContainerView: a session-scoped moref kept verbatim', async () => {
    expect(await result('CreateContainerView.res.xml')).toEqual([
      {
        type: 'ContainerView',
        value: 'session[61275bea-bdd8-4796-ae26-c6688f09167f]d5967cf3-7301-49e9-9c50-e70201998b7c',
      },
    ]);
  });

  it("RetrievePropertiesEx: vcsim's XMLSchema-instance:type resolved by namespace", async () => {
    const [retrieveResult] = (await result(
      'RetrievePropertiesEx-ContainerView-maxObjects2.res.xml',
    )) as { objects: { obj: unknown; propSet: { name: string; val: unknown }[] }[] }[];
    expect(retrieveResult?.objects).toHaveLength(4);
    expect(retrieveResult?.objects[0]).toEqual({
      obj: { type: 'VirtualMachine', value: 'vm-57' },
      propSet: [
        { name: 'name', val: 'DC0_H0_VM0' },
        { name: 'runtime.powerState', val: 'poweredOn' },
        { name: 'config.hardware.numCPU', val: 1 },
        { name: 'config.uuid', val: '265104de-1472-547c-b873-6dc7883fb6cb' },
      ],
    });
  });

  it('TaskInfo: polymorphic values carry $type, task errors keep the fault type', async () => {
    const [success] = await result('PowerOnVM_Task.TaskInfo.res.xml');
    expect(dig(success, 'objects', 0, 'propSet', 0, 'val')).toMatchObject({
      $type: 'TaskInfo',
      key: 'task-76',
      task: { type: 'Task', value: 'task-76' },
      state: 'success',
      cancelled: false,
      cancelable: false,
      eventChainId: 0,
      reason: { $type: 'TaskReasonUser', userName: 'vcsim' },
      completeTime: '2026-11-21T12:16:34.086336681Z',
    });
    const [failure] = await result('PowerOnVM_Task-already-on.TaskInfo.res.xml');
    expect(dig(failure, 'objects', 0, 'propSet', 0, 'val', 'error')).toEqual({
      fault: {
        $type: 'InvalidPowerState',
        requestedState: 'poweredOn',
        existingState: 'poweredOn',
      },
      localizedMessage: '*types.InvalidPowerState',
    });
  });

  it('a created VM: ArrayOf wrappers, repeated devices, anyType option values', async () => {
    const { objects } = await collect(
      readFixture('VirtualMachine-props-after-create.res.xml').body,
    );
    const properties = objects[0]?.properties ?? {};
    expect((properties['config.extraConfig'] as unknown[]).slice(0, 2)).toEqual([
      { $type: 'OptionValue', key: 'govcsim', value: 'TRUE' },
      {
        $type: 'OptionValue',
        key: 'guestinfo.userdata',
        value: 'I2Nsb3VkLWNvbmZpZwpob3N0bmFtZTogc2RrLXZtMQo=',
      },
    ]);
    expect(properties['config.memoryHotAddEnabled']).toBe(true);
    expect(properties.datastore).toEqual([
      { type: 'Datastore', value: 'TMPDIR/govcsim-DC0-LocalDS_0-3781675419@folder-5' },
    ]);
    expect(properties.network).toEqual([
      { type: 'Network', value: 'network-7' },
      { type: 'DistributedVirtualPortgroup', value: 'dvportgroup-13' },
    ]);
    expect(properties.resourcePool).toEqual({ type: 'ResourcePool', value: 'resgroup-26' });
    const hardware = properties['config.hardware'];
    expect(hardware).toMatchObject({
      $type: 'VirtualHardware',
      numCPU: 2,
      numCoresPerSocket: 1,
      memoryMB: 2048,
    });
    expect((dig(hardware, 'device') as unknown[]).map((device) => dig(device, '$type'))).toContain(
      'VirtualDisk',
    );
  });

  it("vCenter's xsi:type, xsd numbers, ArrayOf items by element name, one-element arrays", async () => {
    const [retrieveResult] = await result('synthetic-vcenter-RetrievePropertiesEx-token.res.xml');
    expect(dig(retrieveResult, 'token')).toBe('4b1c3f0e-1');
    expect(dig(retrieveResult, 'objects')).toHaveLength(2);
    expect(dig(retrieveResult, 'objects', 1, 'propSet')).toEqual([{ name: 'name', val: 'db' }]);
  });

  it.each([
    [
      'ContinueRetrievePropertiesEx.res.xml',
      'MethodNotFound',
      {
        receiver: { type: 'PropertyCollector', value: 'propertyCollector' },
        method: 'ContinueRetrievePropertiesEx',
      },
    ],
    ['fault-InvalidLogin.res.xml', 'InvalidLogin', {}],
    [
      'fault-ManagedObjectNotFound-PowerOn-destroyed.res.xml',
      'ManagedObjectNotFound',
      { obj: { type: 'VirtualMachine', value: 'vm-127' } },
    ],
    ['fault-NotFound-RevertToCurrentSnapshot.res.xml', 'NotFound', {}],
  ])('%s is a fault of type %s', async (name, type, detail) => {
    const parsed = await parseSoapResponse(readFixture(name).body);
    expect(parsed.kind).toBe('fault');
    if (parsed.kind === 'fault') {
      expect(parsed.fault.type).toBe(type);
      expect(parsed.fault.faultcode).toBe('ServerFaultCode');
      expect(parsed.fault.detail).toEqual(detail);
    }
  });

  it('decodes the character references Go writes in fault strings', async () => {
    const parsed = await parseSoapResponse(readFixture('fault-unknown-method.res.xml').body);
    expect(parsed.kind === 'fault' && parsed.fault.faultstring).toBe(
      "no vmomi type defined for 'NoSuchMethod'",
    );
  });

  it('refuses malformed or truncated XML with a ProviderApiError', async () => {
    const body = readFixture('Login.res.xml').body;
    for (const broken of [body.slice(0, body.length / 2), '<a><b></a>', 'not xml', '']) {
      const error = await parseSoapResponse(broken).catch((caught: unknown) => caught);
      expect(ProviderApiError.isInstance(error)).toBe(true);
    }
    const invalidUtf8 = await parseSoapResponse([Uint8Array.of(0x3c, 0xff, 0x3e)]).catch(
      (caught: unknown) => caught,
    );
    expect(HvkitError.isInstance(invalidUtf8)).toBe(true);
  });

  it('decodes byte chunks as a fatal TextDecoder does: a BOM dropped, bad or cut UTF-8 refused', async () => {
    const body = readFixture('Login.res.xml').body;
    const bytes = new TextEncoder().encode(body);
    const expected = await parseSoapResponse(body);
    const withBom = Uint8Array.of(0xef, 0xbb, 0xbf, ...bytes);
    for (const at of [1, 2, 3, 4, 100]) {
      const chunks = [withBom.subarray(0, at), withBom.subarray(at)];
      expect(await parseSoapResponse(chunks)).toStrictEqual(expected);
    }
    // The same answer with a comment of 2- and 4-byte characters before its end, cut anywhere.
    const close = body.lastIndexOf('</');
    const wide = new TextEncoder().encode(
      `${body.slice(0, close)}<!-- \u00e9\u{1f600} -->${body.slice(close)}`,
    );
    const start = new TextEncoder().encode(body.slice(0, close)).length + 5;
    for (let at = start; at < start + 7; at++) {
      expect(await parseSoapResponse([wide.subarray(0, at), wide.subarray(at)])).toStrictEqual(
        expected,
      );
    }
    const cut = start + 3; // inside the 4-byte character
    const broken = [
      [wide.subarray(0, start), Uint8Array.of(0xff), wide.subarray(start)], // never UTF-8
      [wide.subarray(0, cut)], // a character cut at the end of the body
      [wide.subarray(0, cut), Uint8Array.of(0x41), wide.subarray(cut)], // cut by another one
      [
        wide.subarray(0, start),
        Uint8Array.of(0xed, 0xa0),
        Uint8Array.of(0x80),
        wide.subarray(start),
      ], // a surrogate
    ];
    for (const chunks of broken) {
      const error = await parseSoapResponse(chunks).catch((caught: unknown) => caught);
      expect(ProviderApiError.isInstance(error)).toBe(true);
    }
  });
});

describe('streamRetrieveResult', () => {
  it('yields ObjectContent with propSet folded into properties', async () => {
    const { objects, token } = await collect(
      readFixture('RetrievePropertiesEx-ContainerView-maxObjects2.res.xml').body,
    );
    expect(token).toBeUndefined();
    expect(objects.map((content) => content.obj.value)).toEqual([
      'vm-57',
      'vm-60',
      'vm-63',
      'vm-66',
    ]);
    expect(objects[2]).toEqual({
      obj: { type: 'VirtualMachine', value: 'vm-63' },
      properties: {
        name: 'DC0_C0_RP0_VM0',
        'runtime.powerState': 'poweredOn',
        'config.hardware.numCPU': 1,
        'config.uuid': 'cd0681bf-2f18-5c00-9b9b-8197c0095348',
      },
      missing: [],
    });
  });

  it('reads the paging token, typed scalars, ArrayOf values and missingSet', async () => {
    const { objects, token } = await collect(
      readFixture('synthetic-vcenter-RetrievePropertiesEx-token.res.xml').body,
    );
    expect(token).toBe('4b1c3f0e-1');
    expect(objects[0]).toEqual({
      obj: { type: 'VirtualMachine', value: 'vm-1001' },
      properties: {
        name: 'web <01> & "prod" — Grüße 𝄞',
        'config.hardware.memoryMB': 4096,
        'summary.storage.committed': 10737418240,
        'config.template': false,
        'config.createDate': '2026-11-20T08:00:00.123Z',
        datastore: [{ type: 'Datastore', value: 'datastore-11' }],
        'guest.net': [
          {
            network: 'VM Network',
            ipAddress: ['10.0.0.5'],
            macAddress: '00:50:56:aa:bb:cc',
            connected: 'true',
            deviceConfigId: '4000',
          },
        ],
        'config.cpuAllocation.reservation': 0,
        tag: ['a', 'b'],
        effectiveRole: [7],
      },
      missing: [
        {
          path: 'guest.ipAddress',
          fault: {
            fault: {
              $type: 'NoPermission',
              object: { type: 'VirtualMachine', value: 'vm-1001' },
              privilegeId: 'System.Read',
            },
            localizedMessage: 'Permission to perform this operation was denied.',
          },
        },
      ],
    });
  });

  it('throws the mapped core error for a fault response', async () => {
    const error = await collect(readFixture('ContinueRetrievePropertiesEx.res.xml').body).catch(
      (caught: unknown) => caught,
    );
    expect(ProviderApiError.isInstance(error)).toBe(true);
    expect((error as ProviderApiError).fault).toBe('MethodNotFound');
  });

  it('hands out objects before the body has been read to the end (5,000 objects)', async () => {
    const objectXml = (index: number) =>
      `<objects><obj type="VirtualMachine">vm-${index}</obj><propSet><name>name</name><val xsi:type="xsd:string">vm ${index}</val></propSet></objects>`;
    const total = 5000;
    let chunksRead = 0;
    async function* body(): AsyncGenerator<Uint8Array> {
      const encoder = new TextEncoder();
      yield encoder.encode(
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soapenv:Body><RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>',
      );
      for (let index = 0; index < total; index += 100) {
        chunksRead += 1;
        let chunk = '';
        for (let offset = index; offset < index + 100; offset += 1) chunk += objectXml(offset);
        yield encoder.encode(chunk);
      }
      yield encoder.encode(
        '</returnval></RetrievePropertiesExResponse></soapenv:Body></soapenv:Envelope>',
      );
    }
    let count = 0;
    let chunksWhenFirstSeen = 0;
    for await (const content of streamRetrieveResult(body())) {
      if (count === 0) chunksWhenFirstSeen = chunksRead;
      expect(content.properties.name).toBe(`vm ${count}`);
      count += 1;
    }
    expect(count).toBe(total);
    expect(chunksWhenFirstSeen).toBe(1);
  });
});

describe('chunked input gives identical results', () => {
  it.each(RESPONSES)('%s, whole and in 1-byte chunks', async (name) => {
    const body = readFixture(name).body;
    expect(await parseSoapResponse(oneByteChunks(body))).toEqual(await parseSoapResponse(body));
  });

  it.each(RETRIEVE_RESULTS)('%s streamed, whole and in 1-byte chunks', async (name) => {
    const body = readFixture(name).body;
    expect(await collect(oneByteChunks(body))).toEqual(await collect(body));
  });

  it('every response, split at random byte offsets', async () => {
    const expected = new Map<string, unknown>();
    for (const name of RESPONSES) {
      expected.set(name, await parseSoapResponse(readFixture(name).body));
    }
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...RESPONSES),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (name, cuts) => {
          const chunks = splitBytes(readFixture(name).body, cuts);
          expect(await parseSoapResponse(chunks)).toEqual(expected.get(name));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every property collector result streamed, split at random byte offsets', async () => {
    const expected = new Map<string, unknown>();
    for (const name of RETRIEVE_RESULTS) expected.set(name, await collect(readFixture(name).body));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...RETRIEVE_RESULTS),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (name, cuts) => {
          expect(await collect(splitBytes(readFixture(name).body, cuts))).toEqual(
            expected.get(name),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
