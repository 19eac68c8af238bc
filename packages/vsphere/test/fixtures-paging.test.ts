/**
 * Paging tokens, session re-login and vCenter's quoted cookie, through the real VimClient and the
 * real provider against the local fake vim25 server (vcsim ignores maxObjects and never pages).
 */
import { type Logger, systemClock } from '@hvkit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createVsphereDispatcher } from '../src/client/tls.js';
import { VimClient } from '../src/client/vim-client.js';
import { escapeXml } from '../src/soap/soap-escape.js';
import type { ObjectContent } from '../src/soap/soap-parser.js';
import { createVsphereProvider } from '../src/vsphere-provider.js';
import {
  elementText,
  type FakeRequest,
  FakeVimServer,
  loadFixture,
  sessionHandlers,
  soapResponse,
  VCENTER_COOKIE,
} from './fake-vim-server.js';

const PASSWORD = 'S3cret!pass<&>';
const TOKEN_1 = '52f0c1d2-0001 <page> & "2"';
const TOKEN_2 = '52f0c1d2-0002';
const ALL_VMS = ['vm-101', 'vm-102', 'vm-103', 'vm-104', 'vm-105'];

const PAGE_1 = loadFixture('synthetic-vcenter-RetrievePropertiesEx-page1.res.xml');
const PAGE_2 = loadFixture('synthetic-vcenter-ContinueRetrievePropertiesEx-page2.res.xml');
const PAGE_3 = loadFixture('synthetic-vcenter-ContinueRetrievePropertiesEx-page3.res.xml');
const CANCELED = loadFixture('synthetic-vcenter-CancelRetrievePropertiesEx.res.xml');

let server: FakeVimServer | undefined;
let client: VimClient | undefined;

afterEach(async () => {
  await client?.close();
  client = undefined;
  await server?.close();
  server = undefined;
});

/** vCenter's ContinueRetrievePropertiesEx: the page that follows the token sent, else a fault. */
function continueByToken(request: FakeRequest) {
  const token = elementText(request.body, 'token');
  if (token === escapeXml(TOKEN_1, 'test')) return PAGE_2;
  if (token === escapeXml(TOKEN_2, 'test')) return PAGE_3;
  return loadFixture('fault-InvalidArgument-CreateImportSpec.res.xml', 'soap');
}

async function pagingServer() {
  server = await FakeVimServer.start({
    ...sessionHandlers(),
    RetrievePropertiesEx: PAGE_1,
    ContinueRetrievePropertiesEx: continueByToken,
    CancelRetrievePropertiesEx: CANCELED,
    CreateContainerView: loadFixture('CreateContainerView.res.xml', 'soap'),
    DestroyView: loadFixture('DestroyView.res.xml'),
    Logout: soapResponse('Logout'),
  });
  return server;
}

function capturingLogger(lines: string[]): Logger {
  const log = (level: keyof Logger) => (message: string, fields?: Record<string, unknown>) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

function newClient(url: string, logger?: Logger): VimClient {
  client = new VimClient({
    url,
    username: 'administrator@vsphere.local',
    password: PASSWORD,
    dispatcher: createVsphereDispatcher(),
    provider: 'vc',
    logger,
    redact: { secrets: [PASSWORD] },
  });
  return client;
}

const VM_SPEC = {
  $type: 'PropertyFilterSpec',
  propSet: [{ $type: 'PropertySpec', type: 'VirtualMachine', pathSet: ['name'] }],
  objectSet: [
    {
      $type: 'ObjectSpec',
      obj: { type: 'ContainerView', value: 'view-1' },
      skip: true,
      selectSet: [{ $type: 'TraversalSpec', type: 'ContainerView', path: 'view', skip: false }],
    },
  ],
};

describe('VimClient.retrieve with vCenter paging tokens', () => {
  it('follows two tokens over three pages, yielding every object in order', async () => {
    const fake = await pagingServer();
    const vim = newClient(fake.url);
    const seen: ObjectContent[] = [];
    for await (const object of vim.retrieve([VM_SPEC], { maxObjects: 2 })) seen.push(object);

    expect(seen.map((object) => object.obj.value)).toEqual(ALL_VMS);
    expect(seen.map((object) => object.properties.name)).toEqual([
      'app-01',
      'app-02',
      'app-03',
      'db-01',
      'db-02',
    ]);
    expect(fake.methods()).toEqual([
      'RetrieveServiceContent',
      'Login',
      'RetrievePropertiesEx',
      'ContinueRetrievePropertiesEx',
      'ContinueRetrievePropertiesEx',
    ]);
    const [first] = fake.calls('RetrievePropertiesEx');
    // The page size is asked of the server (vCenter honours it; these pages hold 2 objects).
    expect(elementText(first?.body ?? '', 'maxObjects')).toBe('2');
    const continues = fake.calls('ContinueRetrievePropertiesEx');
    // The exact tokens, XML-escaped, on the collector of the first call; nothing after page 3.
    expect(continues.map((call) => elementText(call.body, 'token'))).toEqual([
      '52f0c1d2-0001 &lt;page&gt; &amp; &quot;2&quot;',
      TOKEN_2,
    ]);
    expect(continues.map((call) => call.target)).toEqual([
      { type: 'PropertyCollector', value: 'propertyCollector' },
      { type: 'PropertyCollector', value: 'propertyCollector' },
    ]);
    expect(fake.calls('CancelRetrievePropertiesEx')).toEqual([]);
    expect(fake.unhandled).toEqual([]);
  });

  it('sends vCenter quoted cookie back exactly as received, on every call after Login', async () => {
    const fake = await pagingServer();
    const vim = newClient(fake.url);
    for await (const _object of vim.retrieve([VM_SPEC], { maxObjects: 2 })) {
      // drain
    }
    const login = fake.calls('Login')[0];
    expect(login?.cookie).toBeUndefined();
    const after = fake.requests.slice(fake.requests.indexOf(login as FakeRequest) + 1);
    expect(after.length).toBe(3);
    for (const request of after) {
      expect(request.cookie).toBe(`vmware_soap_session=${VCENTER_COOKIE}`);
    }
  });

  it('breaking out of a single page without a token sends neither Continue nor Cancel', async () => {
    const fake = await pagingServer();
    fake.on('RetrievePropertiesEx', {
      status: 200,
      body: PAGE_3.body.replaceAll('ContinueRetrievePropertiesEx', 'RetrievePropertiesEx'),
    });
    const vim = newClient(fake.url);
    for await (const object of vim.retrieve([VM_SPEC], { maxObjects: 2 })) {
      expect(object.obj.value).toBe('vm-105');
      break;
    }
    expect(fake.calls('ContinueRetrievePropertiesEx')).toEqual([]);
    expect(fake.calls('CancelRetrievePropertiesEx')).toEqual([]);
  });

  // A consumer that breaks inside a page cancels that page's token, read as soon as it arrived
  // (it once cancelled nothing on page 1 and the already-used token on page 2+).
  it('breaking out after the first page sends CancelRetrievePropertiesEx with the page token', async () => {
    const fake = await pagingServer();
    const vim = newClient(fake.url);
    const seen: string[] = [];
    for await (const object of vim.retrieve([VM_SPEC], { maxObjects: 2 })) {
      seen.push(object.obj.value);
      if (seen.length === 2) break; // the whole first page, whose answer carried TOKEN_1
    }
    expect(seen).toEqual(['vm-101', 'vm-102']);
    expect(fake.calls('ContinueRetrievePropertiesEx')).toEqual([]);
    const cancels = fake.calls('CancelRetrievePropertiesEx');
    expect(cancels.map((call) => elementText(call.body, 'token'))).toEqual([
      escapeXml(TOKEN_1, 'test'),
    ]);
    expect(cancels[0]?.target).toEqual({ type: 'PropertyCollector', value: 'propertyCollector' });
  });

  it('breaking out inside page 2 cancels with the token page 2 returned, not the used one', async () => {
    const fake = await pagingServer();
    const vim = newClient(fake.url);
    for await (const object of vim.retrieve([VM_SPEC], { maxObjects: 2 })) {
      if (object.obj.value === 'vm-103') break;
    }
    expect(fake.calls('ContinueRetrievePropertiesEx')).toHaveLength(1);
    const cancels = fake.calls('CancelRetrievePropertiesEx');
    expect(cancels.map((call) => elementText(call.body, 'token'))).toEqual([TOKEN_2]);
  });

  it('a NotAuthenticated fault on the first call logs in once more and repeats the call', async () => {
    const fake = await pagingServer();
    fake.sequence('Login', [
      loadFixture('synthetic-vcenter-Login.res.xml'),
      loadFixture('synthetic-vcenter-Login-second.res.xml'),
    ]);
    fake.sequence('RetrievePropertiesEx', [
      loadFixture('fault-NotAuthenticated-expired-session.res.xml', 'soap'),
      PAGE_1,
    ]);
    const lines: string[] = [];
    const vim = newClient(fake.url, capturingLogger(lines));
    const seen: string[] = [];
    for await (const object of vim.retrieve([VM_SPEC], { maxObjects: 2 })) {
      seen.push(object.obj.value);
    }
    expect(seen).toEqual(ALL_VMS);
    expect(fake.methods()).toEqual([
      'RetrieveServiceContent',
      'Login',
      'RetrievePropertiesEx',
      'Login',
      'RetrievePropertiesEx',
      'ContinueRetrievePropertiesEx',
      'ContinueRetrievePropertiesEx',
    ]);
    const retrieves = fake.calls('RetrievePropertiesEx');
    expect(retrieves.map((call) => call.cookie)).toEqual([
      `vmware_soap_session=${VCENTER_COOKIE}`,
      'vmware_soap_session="9b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"',
    ]);
    // The repeated call is the same request, and later pages use the new session.
    expect(retrieves[1]?.body).toBe(retrieves[0]?.body);
    for (const call of fake.calls('ContinueRetrievePropertiesEx')) {
      expect(call.cookie).toBe('vmware_soap_session="9b0c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3"');
    }
    // The password goes to Login only, and never into a log line.
    const withPassword = fake.requests.filter((call) =>
      call.body.includes(escapeXml(PASSWORD, 'test')),
    );
    expect(withPassword.map((call) => call.method)).toEqual(['Login', 'Login']);
    expect(lines.some((line) => line.includes('logging in again'))).toBe(true);
    expect(lines.join('\n')).not.toContain(PASSWORD);
    expect(lines.join('\n')).not.toContain('52a7e3f1');
  });
});

describe('provider.list() over vCenter pages', () => {
  it('streams every VM of three pages through one container view, then destroys it', async () => {
    const fake = await pagingServer();
    const provider = createVsphereProvider({
      name: 'vc',
      url: fake.url,
      username: 'administrator@vsphere.local',
      password: PASSWORD,
      clock: systemClock,
    });
    try {
      const vms = [];
      for await (const vm of provider.list()) vms.push(vm);
      expect(vms.map((vm) => [vm.ref.id, vm.name, vm.powerState])).toEqual([
        ['vm-101', 'app-01', 'on'],
        ['vm-102', 'app-02', 'off'],
        ['vm-103', 'app-03', 'on'],
        ['vm-104', 'db-01', 'suspended'],
        ['vm-105', 'db-02', 'off'],
      ]);
      expect(vms.every((vm) => vm.ref.provider === 'vc' && vm.detail === 'summary')).toBe(true);
      expect(fake.methods()).toEqual([
        'RetrieveServiceContent',
        'Login',
        'CreateContainerView',
        'RetrievePropertiesEx',
        'ContinueRetrievePropertiesEx',
        'ContinueRetrievePropertiesEx',
        'DestroyView',
      ]);
      const [retrieve] = fake.calls('RetrievePropertiesEx');
      // The provider asks for 1 000 per page; vCenter may return fewer, and did (2 per page).
      expect(elementText(retrieve?.body ?? '', 'maxObjects')).toBe('1000');
      const view = elementText(fake.calls('CreateContainerView')[0]?.body ?? '', 'type');
      expect(view).toBe('VirtualMachine');
      expect(fake.calls('DestroyView')[0]?.target?.type).toBe('ContainerView');
      expect(
        fake.calls('ContinueRetrievePropertiesEx').map((call) => elementText(call.body, 'token')),
      ).toEqual([escapeXml(TOKEN_1, 'test'), TOKEN_2]);
      expect(fake.unhandled).toEqual([]);
    } finally {
      await provider.close();
    }
  });

  it('a consumer that stops early still destroys the view', async () => {
    const fake = await pagingServer();
    const provider = createVsphereProvider({
      name: 'vc',
      url: fake.url,
      username: 'administrator@vsphere.local',
      password: PASSWORD,
    });
    try {
      for await (const vm of provider.list()) {
        expect(vm.ref.id).toBe('vm-101');
        break;
      }
      expect(fake.calls('DestroyView')).toHaveLength(1);
      expect(fake.calls('ContinueRetrievePropertiesEx')).toEqual([]);
    } finally {
      await provider.close();
    }
  });
});
