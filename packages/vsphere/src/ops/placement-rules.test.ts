import { type ConflictError, InvalidSpecError, NotFoundError } from '@hvkit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireVcsim } from '../../test/vcsim.js';
import { readAll } from '../client/property-reader.js';
import { waitForTask } from '../client/wait-for-task.js';
import {
  createScratchVm,
  destroyScratchVm,
  fixtureReturnval,
  opsFixture,
  scriptedContext,
  uniqueName,
  vcsimContext,
} from './ops-test-support.js';
import {
  clusterOfVm,
  createPlacementRule,
  deletePlacementRule,
  listPlacementRules,
  parsePlacementRuleId,
  readVmPolicies,
  setHighAvailability,
  setLoadBalancing,
  toPlacementRules,
  vmPoliciesFromCluster,
} from './placement-rules.js';
import { moRefOf } from './values.js';

async function recordedConfiguration(): Promise<unknown> {
  const [result] = await fixtureReturnval('ClusterComputeResource-configurationEx.res.xml');
  const objects = (result as { objects: { propSet: { name: string; val: unknown }[] }[] }).objects;
  return objects[0]?.propSet.find((prop) => prop.name === 'configurationEx')?.val;
}

describe('placement rule mapping', () => {
  it("lists the recorded cluster's anti-affinity rule, not its VM-host rule", async () => {
    const configuration = await recordedConfiguration();
    expect(toPlacementRules('clustercomputeresource-27', configuration, 'vc')).toEqual([
      {
        id: 'clustercomputeresource-27/1',
        name: 'sdk-anti',
        kind: 'anti-affinity',
        vms: [
          { provider: 'vc', id: 'vm-69' },
          { provider: 'vc', id: 'vm-121' },
        ],
        mandatory: false,
      },
    ]);
  });

  it('reads HA and DRS overrides, else the cluster defaults', async () => {
    const configuration = await recordedConfiguration();
    // vm-69 has a DRS override (manual); HA is off in the cluster (dasConfig empty).
    expect(vmPoliciesFromCluster(configuration, 'vm-69')).toEqual({
      highAvailability: { enabled: false, restartPriority: 'disabled' },
      loadBalancing: { automation: 'manual' },
    });
    expect(vmPoliciesFromCluster(configuration, 'vm-1')).toEqual({
      highAvailability: { enabled: false, restartPriority: 'disabled' },
      loadBalancing: { automation: 'full' },
    });
    const cluster = {
      dasConfig: { enabled: 'true', defaultVmSettings: { restartPriority: 'highest' } },
      drsConfig: { enabled: 'true', defaultVmBehavior: 'partiallyAutomated' },
      dasVmConfig: [
        {
          key: { type: 'VirtualMachine', value: 'vm-2' },
          dasSettings: { restartPriority: 'lowest' },
        },
        { key: { type: 'VirtualMachine', value: 'vm-3' }, restartPriority: 'disabled' },
        {
          key: { type: 'VirtualMachine', value: 'vm-4' },
          dasSettings: { restartPriority: 'clusterRestartPriority' },
        },
      ],
      drsVmConfig: [
        { key: { type: 'VirtualMachine', value: 'vm-2' }, enabled: 'false', behavior: 'manual' },
        { key: { type: 'VirtualMachine', value: 'vm-3' }, enabled: 'true' },
      ],
    };
    expect(vmPoliciesFromCluster(cluster, 'vm-1')).toEqual({
      highAvailability: { enabled: true, restartPriority: 'high' },
      loadBalancing: { automation: 'partial' },
    });
    expect(vmPoliciesFromCluster(cluster, 'vm-2')).toEqual({
      highAvailability: { enabled: true, restartPriority: 'low' },
      loadBalancing: { automation: 'disabled' },
    });
    expect(vmPoliciesFromCluster(cluster, 'vm-3')).toEqual({
      highAvailability: { enabled: false, restartPriority: 'disabled' },
      loadBalancing: { automation: 'partial' },
    });
    expect(vmPoliciesFromCluster(cluster, 'vm-4').highAvailability).toEqual({
      enabled: true,
      restartPriority: 'high',
    });
    expect(
      vmPoliciesFromCluster({ drsConfig: { enabled: 'false' } }, 'vm-1').loadBalancing,
    ).toEqual({
      automation: 'disabled',
    });
  });

  it('parses rule ids and refuses malformed ones with InvalidSpecError (id)', () => {
    expect(parsePlacementRuleId('domain-c7/3')).toEqual({ cluster: 'domain-c7', key: 3 });
    expect(parsePlacementRuleId('a/b/12')).toEqual({ cluster: 'a/b', key: 12 });
    for (const bad of ['3', '/3', 'domain-c7/', 'domain-c7/x', 'domain-c7/-1']) {
      let caught: unknown;
      try {
        parsePlacementRuleId(bad);
      } catch (error) {
        caught = error;
      }
      expect(InvalidSpecError.isInstance(caught)).toBe(true);
      expect((caught as InvalidSpecError).issues[0]?.path).toBe('id');
    }
  });

  it('sends the removal as vcsim recorded it: removeKey typed xsd:int', async () => {
    const configuration = opsFixture('ClusterComputeResource-configurationEx.res.xml').body;
    const { ctx, requests } = scriptedContext([
      { method: 'RetrievePropertiesEx', status: 200, body: configuration },
      { method: 'RetrievePropertiesEx', status: 200, body: configuration },
      {
        method: 'ReconfigureComputeResource_Task',
        status: 200,
        body: '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ReconfigureComputeResource_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-9</returnval></ReconfigureComputeResource_TaskResponse></soapenv:Body></soapenv:Envelope>',
      },
      {
        method: 'CreatePropertyCollector',
        status: 200,
        body: '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CreatePropertyCollectorResponse xmlns="urn:vim25"><returnval type="PropertyCollector">session[1]pc</returnval></CreatePropertyCollectorResponse></soapenv:Body></soapenv:Envelope>',
      },
      {
        method: 'CreateFilter',
        status: 200,
        body: '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><CreateFilterResponse xmlns="urn:vim25"><returnval type="PropertyFilter">filter-1</returnval></CreateFilterResponse></soapenv:Body></soapenv:Envelope>',
      },
      {
        method: 'WaitForUpdatesEx',
        status: 200,
        body: '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><WaitForUpdatesExResponse xmlns="urn:vim25"><returnval><version>1</version><filterSet><filter type="PropertyFilter">filter-1</filter><objectSet><kind>enter</kind><obj type="Task">task-9</obj><changeSet><name>info</name><op>assign</op><val xsi:type="TaskInfo"><key>task-9</key><state>success</state></val></changeSet></objectSet></filterSet></returnval></WaitForUpdatesExResponse></soapenv:Body></soapenv:Envelope>',
      },
      {
        method: 'DestroyPropertyCollector',
        status: 200,
        body: '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><DestroyPropertyCollectorResponse xmlns="urn:vim25"/></soapenv:Body></soapenv:Envelope>',
      },
    ]);
    await deletePlacementRule(ctx, 'clustercomputeresource-27/1');
    const sent = requests.find((request) => request.method === 'ReconfigureComputeResource_Task');
    const recorded = opsFixture('ReconfigureComputeResource_Task-remove-rule.req.xml').body;
    const inner = (xml: string) =>
      /<ReconfigureComputeResource_Task[^>]*>(.*)<\/ReconfigureComputeResource_Task>/s
        .exec(xml)?.[1]
        ?.replace(/>\s+</g, '><')
        .trim();
    expect(inner(sent?.body ?? '')).toBe(inner(recorded));
    const missing = await deletePlacementRule(ctx, 'clustercomputeresource-27/7').catch(
      (error: unknown) => error,
    );
    // A key the cluster does not have is NotFoundError before anything is reconfigured.
    expect((missing as NotFoundError).resource).toBe('placement-rule');
    expect(
      requests.filter((request) => request.method === 'ReconfigureComputeResource_Task'),
    ).toHaveLength(1);
    await ctx.client.close();
  });
});

const vcsim = requireVcsim();

describe.skipIf(!vcsim)('placement rules and HA/DRS overrides on vcsim', () => {
  const ctx = vcsimContext(vcsim as NonNullable<typeof vcsim>);
  const vms: string[] = [];
  beforeAll(async () => {
    vms.push(await createScratchVm(ctx, uniqueName('rule-a')));
    vms.push(await createScratchVm(ctx, uniqueName('rule-b')));
  });
  afterAll(async () => {
    for (const vm of vms) await destroyScratchVm(ctx, vm);
    await ctx.client.close();
  });

  it('creates an anti-affinity rule, lists it, refuses its name twice, deletes it', async () => {
    const [a = '', b = ''] = vms;
    const name = uniqueName('anti');
    const refs = [
      { provider: 'vcsim', id: a },
      { provider: 'vcsim', id: b },
    ];
    const created = await createPlacementRule(ctx, { name, kind: 'anti-affinity', vms: refs });
    let deleted = false;
    try {
      const cluster = await clusterOfVm(ctx, a);
      expect(created).toEqual({
        id: expect.stringMatching(new RegExp(`^${cluster?.value}/[0-9]+$`)),
        name,
        kind: 'anti-affinity',
        vms: refs,
        mandatory: true,
      });
      expect(await listPlacementRules(ctx)).toContainEqual(created);
      const again = await createPlacementRule(ctx, {
        name,
        kind: 'affinity',
        vms: refs,
        mandatory: false,
      }).catch((error: unknown) => error);
      expect((again as ConflictError).reason).toBe('already-exists');
      await deletePlacementRule(ctx, created.id);
      deleted = true;
      expect((await listPlacementRules(ctx)).map((rule) => rule.id)).not.toContain(created.id);
      const gone = await deletePlacementRule(ctx, created.id).catch((error: unknown) => error);
      expect(NotFoundError.isInstance(gone)).toBe(true);
      expect((gone as NotFoundError).resource).toBe('placement-rule');
    } finally {
      if (!deleted) await deletePlacementRule(ctx, created.id).catch(() => undefined);
    }
  });

  it('creates a soft affinity rule; a VM named twice or missing is refused', async () => {
    const [a = '', b = ''] = vms;
    const rule = await createPlacementRule(ctx, {
      name: uniqueName('affinity'),
      kind: 'affinity',
      vms: [
        { provider: 'vcsim', id: a },
        { provider: 'vcsim', id: b },
      ],
      mandatory: false,
    });
    await deletePlacementRule(ctx, rule.id);
    expect(rule.kind).toBe('affinity');
    expect(rule.mandatory).toBe(false);
    const twice = await createPlacementRule(ctx, {
      name: uniqueName('twice'),
      kind: 'affinity',
      vms: [
        { provider: 'vcsim', id: a },
        { provider: 'vcsim', id: a },
      ],
    }).catch((error: unknown) => error);
    expect((twice as InvalidSpecError).issues[0]?.path).toBe('vms.1');
    const missing = await createPlacementRule(ctx, {
      name: uniqueName('missing'),
      kind: 'affinity',
      vms: [
        { provider: 'vcsim', id: a },
        { provider: 'vcsim', id: 'vm-404404' },
      ],
    }).catch((error: unknown) => error);
    expect((missing as NotFoundError).resource).toBe('vm');
  });

  it('sets HA restart priority and DRS automation overrides and reads them back', async () => {
    const [vm = ''] = vms;
    await waitForTask(
      ctx,
      await setHighAvailability(ctx, vm, { enabled: true, restartPriority: 'high' }),
    );
    expect((await readVmPolicies(ctx, vm)).highAvailability).toEqual({
      enabled: true,
      restartPriority: 'high',
    });
    await waitForTask(
      ctx,
      await setHighAvailability(ctx, vm, { enabled: false, restartPriority: 'disabled' }),
    );
    expect((await readVmPolicies(ctx, vm)).highAvailability?.enabled).toBe(false);
    await waitForTask(
      ctx,
      await setHighAvailability(ctx, vm, { enabled: true, restartPriority: 'low' }),
    );
    expect((await readVmPolicies(ctx, vm)).highAvailability?.restartPriority).toBe('low');

    for (const automation of ['manual', 'disabled', 'full', 'partial'] as const) {
      await waitForTask(ctx, await setLoadBalancing(ctx, vm, { automation }));
      expect((await readVmPolicies(ctx, vm)).loadBalancing).toEqual({ automation });
    }
    const missing = await setHighAvailability(ctx, 'vm-404404', {
      enabled: true,
      restartPriority: 'low',
    }).catch((error: unknown) => error);
    expect((missing as NotFoundError).resource).toBe('vm');
  });

  it('replaces an HA override stored without dasSettings (vcsim would panic editing it)', async () => {
    const [, vm = ''] = vms;
    const cluster = await clusterOfVm(ctx, vm);
    const task = await ctx.client.callOne(
      'ReconfigureComputeResource_Task',
      cluster ?? { type: 'ClusterComputeResource', value: '' },
      [
        [
          'spec',
          {
            $type: 'ClusterConfigSpecEx',
            dasVmConfigSpec: [
              {
                $type: 'ClusterDasVmConfigSpec',
                operation: 'add',
                info: {
                  $type: 'ClusterDasVmConfigInfo',
                  key: { type: 'VirtualMachine', value: vm },
                  restartPriority: 'low',
                },
              },
            ],
          },
          'ComputeResourceConfigSpec',
        ],
        ['modify', true, 'boolean'],
      ],
    );
    await waitForTask(ctx, moRefOf(task) ?? { type: 'Task', value: '' });
    expect((await readVmPolicies(ctx, vm)).highAvailability?.restartPriority).toBe('low');
    await waitForTask(
      ctx,
      await setHighAvailability(ctx, vm, { enabled: true, restartPriority: 'medium' }),
    );
    expect((await readVmPolicies(ctx, vm)).highAvailability).toEqual({
      enabled: true,
      restartPriority: 'medium',
    });
  });

  it('a VM on a standalone host has no policies and cannot get overrides', async () => {
    let standalonePool: string | undefined;
    for await (const item of readAll(ctx.client, 'ComputeResource', ['resourcePool'])) {
      if (item.obj.type === 'ComputeResource')
        standalonePool = moRefOf(item.properties.resourcePool)?.value;
    }
    expect(standalonePool).toBeDefined();
    const vm = await createScratchVm(ctx, uniqueName('standalone'), {
      type: 'ResourcePool',
      value: standalonePool ?? '',
    });
    try {
      expect(await clusterOfVm(ctx, vm)).toBeUndefined();
      expect(await readVmPolicies(ctx, vm)).toEqual({});
      const refused = await setLoadBalancing(ctx, vm, { automation: 'manual' }).catch(
        (error: unknown) => error,
      );
      expect((refused as ConflictError).reason).toBe('invalid-state');
    } finally {
      await destroyScratchVm(ctx, vm);
    }
  });
});
