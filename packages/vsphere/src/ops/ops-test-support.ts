/**
 * Test support for the operation modules (used by `*.test.ts` only): recorded responses, a
 * context on the shared vcsim bed, and a context whose client talks to an undici MockAgent that
 * answers each SOAP method with a recorded or hand-written response.
 */
import { readFileSync } from 'node:fs';
import { silentLogger, systemClock } from '@hvkit/core';
import { MockAgent } from 'undici';
import type { VcsimReady } from '../../test/vcsim.js';
import { readAll } from '../client/property-reader.js';
import { createVsphereDispatcher } from '../client/tls.js';
import { VimClient } from '../client/vim-client.js';
import { taskRefOf, waitForTask } from '../client/wait-for-task.js';
import type { DataObject, ManagedObjectReference, SoapArgument } from '../soap/soap-envelope.js';
import { type ObjectContent, parseSoapResponse } from '../soap/soap-parser.js';
import type { VsphereContext } from '../vsphere-context.js';
import { listOf, moRefOf } from './values.js';

/** `__fixtures__/<name>` without the recorder's leading `<!-- HTTP … -->` comment. */
export function opsFixture(name: string): { status: number; body: string } {
  const text = readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
  const match = /^<!--(.*?)-->\r?\n/.exec(text);
  if (match === null) return { status: 200, body: text };
  const status = /HTTP (\d{3})/.exec(match[1] ?? '');
  return { status: status === null ? 200 : Number(status[1]), body: text.slice(match[0].length) };
}

/** The `returnval` list of a recorded response. @throws when it holds a fault. */
export async function fixtureReturnval(name: string): Promise<unknown[]> {
  const parsed = await parseSoapResponse(opsFixture(name).body);
  if (parsed.kind !== 'result') throw new Error(`${name} holds a fault`);
  return parsed.returnval;
}

/** A context on a vcsim bed (the shared one from `requireVcsim()`). Close `ctx.client` after. */
export function vcsimContext(ready: VcsimReady, name = 'vcsim'): VsphereContext {
  const client = new VimClient({
    url: ready.url,
    username: ready.username,
    password: ready.password,
    provider: name,
    dispatcher: createVsphereDispatcher({ ca: ready.certificatePem }),
  });
  return { client, name, clock: systemClock, logger: silentLogger };
}

const SERVICE_CONTENT = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><fullName>VMware vCenter Server 8.0.3 build-24022515</fullName><apiVersion>8.0.3.0</apiVersion><apiType>VirtualCenter</apiType><version>8.0.3</version><build>24022515</build></about><sessionManager type="SessionManager">SessionManager</sessionManager><eventManager type="EventManager">EventManager</eventManager><perfManager type="PerformanceManager">PerfMgr</perfManager></returnval></RetrieveServiceContentResponse></soapenv:Body></soapenv:Envelope>`;

const LOGIN = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><LoginResponse xmlns="urn:vim25"><returnval><key>52a1</key><userName>administrator@vsphere.local</userName></returnval></LoginResponse></soapenv:Body></soapenv:Envelope>`;

/** One scripted answer: the SOAP method it answers (matched in the request body) and the reply. */
export interface ScriptedAnswer {
  method: string;
  status: number;
  body: string;
}

/**
 * A context whose client talks to `https://vcenter.test/sdk` through a MockAgent answering
 * RetrieveServiceContent and Login itself and each other method with the first unused answer
 * scripted for it. Requests are recorded in `requests` (method name and body).
 */
export function scriptedContext(answers: readonly ScriptedAnswer[]): {
  ctx: VsphereContext;
  requests: { method: string; body: string }[];
} {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const pool = agent.get('https://vcenter.test');
  const requests: { method: string; body: string }[] = [];
  const queue = [...answers];
  pool
    .intercept({ path: '/sdk', method: 'POST' })
    .reply((request) => {
      const body = String(request.body ?? '');
      const method = /<soapenv:Body><([A-Za-z_]+)/.exec(body)?.[1] ?? '';
      requests.push({ method, body });
      if (method === 'RetrieveServiceContent') return { statusCode: 200, data: SERVICE_CONTENT };
      if (method === 'Login') {
        return {
          statusCode: 200,
          data: LOGIN,
          responseOptions: { headers: { 'set-cookie': 'vmware_soap_session="abc"; Path=/' } },
        };
      }
      const index = queue.findIndex((answer) => answer.method === method);
      if (index < 0) return { statusCode: 500, data: `no scripted answer for ${method}` };
      const [answer] = queue.splice(index, 1);
      return { statusCode: answer?.status ?? 500, data: answer?.body ?? '' };
    })
    .persist();
  const client = new VimClient({
    url: 'https://vcenter.test/sdk',
    username: 'administrator@vsphere.local',
    password: 'not-a-secret',
    provider: 'vc',
    dispatcher: agent,
  });
  return { ctx: { client, name: 'vc', clock: systemClock, logger: silentLogger }, requests };
}

/** A unique, recognisable name for an object a test creates on the shared bed. */
export function uniqueName(label: string): string {
  return `hvkit-ops-${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * Creates a powered-off VM named `name` with one NIC on "VM Network" and no disk, in the first
 * cluster's root pool on its first host, or in `pool`. Returns the VM moref value.
 */
export async function createScratchVm(
  ctx: VsphereContext,
  name: string,
  pool?: ManagedObjectReference,
): Promise<string> {
  let folder: ManagedObjectReference | undefined;
  for await (const dc of readAll(ctx.client, 'Datacenter', ['vmFolder'])) {
    folder = moRefOf(dc.properties.vmFolder);
    break;
  }
  let cluster: { pool?: ManagedObjectReference; host?: ManagedObjectReference } | undefined;
  const clusters: ObjectContent[] = [];
  for await (const item of readAll(ctx.client, 'ClusterComputeResource', [
    'resourcePool',
    'host',
  ])) {
    clusters.push(item);
  }
  clusters.sort((a, b) => a.obj.value.localeCompare(b.obj.value));
  const [first] = clusters;
  if (first !== undefined) {
    cluster = {
      pool: moRefOf(first.properties.resourcePool),
      host: moRefOf(listOf(first.properties.host)[0]),
    };
  }
  const target = pool ?? cluster?.pool;
  if (folder === undefined || target === undefined) throw new Error('vcsim has no DC or cluster');
  const config: DataObject = {
    $type: 'VirtualMachineConfigSpec',
    name,
    guestId: 'otherGuest64',
    files: { $type: 'VirtualMachineFileInfo', vmPathName: '[LocalDS_0]' },
    numCPUs: 1,
    memoryMB: 64,
    deviceChange: [
      {
        $type: 'VirtualDeviceConfigSpec',
        operation: 'add',
        device: {
          $type: 'VirtualE1000',
          key: -100,
          backing: { $type: 'VirtualEthernetCardNetworkBackingInfo', deviceName: 'VM Network' },
          addressType: 'generated',
        },
      },
    ],
  };
  const task = await ctx.client.callOne('CreateVM_Task', folder, [
    ['config', config, 'VirtualMachineConfigSpec'],
    ['pool', target, 'ManagedObjectReference'],
    // With a pool of its own the VM goes to a host of the pool's owner (vcsim picks one).
    ['host', pool === undefined ? cluster?.host : undefined, 'ManagedObjectReference'],
  ]);
  const vm = moRefOf(await waitForTask(ctx, taskRefOf(task, 'CreateVM_Task', ctx.name)));
  if (vm === undefined) throw new Error('CreateVM_Task returned no VM');
  return vm.value;
}

/** Runs a VM task method (`PowerOnVM_Task`, `ReconfigVM_Task` …) and waits for it. */
export async function runVmTask(
  ctx: VsphereContext,
  vmId: string,
  method: string,
  args: readonly SoapArgument[] = [],
): Promise<unknown> {
  const task = await ctx.client.callOne(method, { type: 'VirtualMachine', value: vmId }, args);
  return waitForTask(ctx, taskRefOf(task, method, ctx.name));
}

/** Powers off (when on) and destroys a scratch VM; never throws (clean-up). */
export async function destroyScratchVm(ctx: VsphereContext, vmId: string): Promise<void> {
  await runVmTask(ctx, vmId, 'PowerOffVM_Task').catch(() => undefined);
  await runVmTask(ctx, vmId, 'Destroy_Task').catch(() => undefined);
}
