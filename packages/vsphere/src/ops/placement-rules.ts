/**
 * Cluster placement rules (VM-VM affinity and anti-affinity) and per-VM HA/DRS overrides, all
 * kept in a cluster's `configurationEx` and changed with `ReconfigureComputeResource_Task`
 * (`modify: true`, so only the listed changes apply).
 *
 * A rule's id is `<cluster moref value>/<rule key>` (`domain-c7/3`): vSphere numbers rules per
 * cluster (1, 2, … on vcsim), so the key alone is ambiguous across clusters. VM-host rules and
 * the VM and host groups they use are not part of core's model: they are left out of listings,
 * but `deletePlacementRule` removes any rule by id. A VM's cluster is the parent of its
 * `runtime.host`.
 */
import {
  ConflictError,
  InvalidSpecError,
  NotFoundError,
  type ParsedInput,
  type PlacementRule,
  ProviderApiError,
  type VmPolicies,
} from '@hvkit/core';
import { readAll, readOne } from '../client/property-reader.js';
import type { CallOptions } from '../client/vim-client.js';
import { taskRefOf, waitForTask } from '../client/wait-for-task.js';
import type { DataObject, ManagedObjectReference } from '../soap/soap-envelope.js';
import type { VsphereContext } from '../vsphere-context.js';
import {
  type Fields,
  fieldsOf,
  flagOf,
  listOf,
  moRefOf,
  numberOf,
  ownEntry,
  textOf,
} from './values.js';

type RestartPriority = NonNullable<VmPolicies['highAvailability']>['restartPriority'];
type Automation = NonNullable<VmPolicies['loadBalancing']>['automation'];

const RULE_KINDS: Readonly<Record<string, PlacementRule['kind']>> = {
  ClusterAffinityRuleSpec: 'affinity',
  ClusterAntiAffinityRuleSpec: 'anti-affinity',
};

const RULE_TYPES: Readonly<Record<PlacementRule['kind'], string>> = {
  affinity: 'ClusterAffinityRuleSpec',
  'anti-affinity': 'ClusterAntiAffinityRuleSpec',
};

/** vSphere's restart priorities (ClusterDasVmSettingsRestartPriority) in core's four steps. */
const RESTART_PRIORITIES: Readonly<Record<string, RestartPriority>> = {
  disabled: 'disabled',
  lowest: 'low',
  low: 'low',
  medium: 'medium',
  high: 'high',
  highest: 'high',
};

/** DRS behaviours (DrsBehavior) as core automation levels. */
const DRS_BEHAVIORS: Readonly<Record<string, Automation>> = {
  manual: 'manual',
  partiallyAutomated: 'partial',
  fullyAutomated: 'full',
};

const AUTOMATION_BEHAVIORS: Readonly<Record<Exclude<Automation, 'disabled'>, string>> = {
  manual: 'manual',
  partial: 'partiallyAutomated',
  full: 'fullyAutomated',
};

/** `<cluster>/<key>` for a rule. */
export function placementRuleId(cluster: string, key: number): string {
  return `${cluster}/${key}`;
}

/**
 * The cluster moref value and rule key of a rule id.
 *
 * @throws InvalidSpecError (path `id`) when `id` is not `<cluster>/<integer key>`.
 */
export function parsePlacementRuleId(id: string): { cluster: string; key: number } {
  const cut = id.lastIndexOf('/');
  const cluster = id.slice(0, cut);
  const key = id.slice(cut + 1);
  if (cut <= 0 || !/^[0-9]{1,9}$/.test(key)) {
    throw new InvalidSpecError(
      [
        {
          path: 'id',
          message: 'a vSphere placement rule id is <cluster>/<rule key>',
          code: 'invalid_format',
        },
      ],
      { subject: 'placement rule id' },
    );
  }
  return { cluster, key: Number(key) };
}

/** Core's rules among a cluster's `configurationEx.rule` (VM-host and other rules left out). Pure. */
export function toPlacementRules(
  cluster: string,
  configurationEx: unknown,
  provider: string,
): PlacementRule[] {
  const rules: PlacementRule[] = [];
  for (const entry of listOf(fieldsOf(configurationEx)?.rule)) {
    const rule = fieldsOf(entry);
    const kind = ownEntry(RULE_KINDS, rule?.$type);
    const key = numberOf(rule?.key);
    if (rule === undefined || kind === undefined || key === undefined) continue;
    rules.push({
      id: placementRuleId(cluster, key),
      name: textOf(rule.name) ?? '',
      kind,
      vms: listOf(rule.vm)
        .map(moRefOf)
        .filter((vm): vm is ManagedObjectReference => vm !== undefined)
        .map((vm) => ({ provider, id: vm.value })),
      // vSphere's default for a rule that does not say.
      mandatory: flagOf(rule.mandatory) ?? false,
    });
  }
  return rules;
}

/**
 * The cluster VM `vmId` runs in (the parent of its `runtime.host`), or undefined for a VM on a
 * standalone host or without a host.
 *
 * @throws NotFoundError('vm') when the VM does not exist.
 */
export async function clusterOfVm(
  ctx: VsphereContext,
  vmId: string,
  options: CallOptions = {},
): Promise<ManagedObjectReference | undefined> {
  const vm = await readOne(
    ctx.client,
    { type: 'VirtualMachine', value: vmId },
    ['runtime.host'],
    options,
  );
  const host = moRefOf(vm.properties['runtime.host']);
  if (host === undefined) return undefined;
  const parent = moRefOf((await readOne(ctx.client, host, ['parent'], options)).properties.parent);
  return parent?.type === 'ClusterComputeResource' ? parent : undefined;
}

async function requireCluster(
  ctx: VsphereContext,
  vmId: string,
  what: string,
  options: CallOptions,
): Promise<ManagedObjectReference> {
  const cluster = await clusterOfVm(ctx, vmId, options);
  if (cluster === undefined) {
    throw new ConflictError('invalid-state', `VM ${vmId} is not in a cluster: ${what} needs one`, {
      provider: ctx.name,
    });
  }
  return cluster;
}

async function configurationOf(
  ctx: VsphereContext,
  cluster: ManagedObjectReference,
  options: CallOptions,
): Promise<Fields> {
  const content = await readOne(ctx.client, cluster, ['configurationEx'], options);
  return fieldsOf(content.properties.configurationEx) ?? {};
}

async function reconfigure(
  ctx: VsphereContext,
  cluster: ManagedObjectReference,
  spec: DataObject,
  options: CallOptions,
): Promise<ManagedObjectReference> {
  const task = await ctx.client.callOne(
    'ReconfigureComputeResource_Task',
    cluster,
    [
      ['spec', spec, 'ComputeResourceConfigSpec'],
      ['modify', true, 'boolean'],
    ],
    options,
  );
  return taskRefOf(task, 'ReconfigureComputeResource_Task', ctx.name);
}

/** Affinity and anti-affinity rules of every cluster, sorted by id. */
export async function listPlacementRules(
  ctx: VsphereContext,
  options: CallOptions = {},
): Promise<PlacementRule[]> {
  const rules: PlacementRule[] = [];
  for await (const content of readAll(
    ctx.client,
    'ClusterComputeResource',
    ['configurationEx'],
    options,
  )) {
    rules.push(
      ...toPlacementRules(content.obj.value, content.properties.configurationEx, ctx.name),
    );
  }
  return rules.sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Creates an enabled affinity or anti-affinity rule between `spec.vms` in their cluster,
 * mandatory unless `spec.mandatory` is false, waits for the reconfiguration and returns the rule
 * as stored.
 *
 * @throws InvalidSpecError (path `vms.<i>`) for a VM named twice (before any I/O) or a VM in
 *   another cluster than the first; NotFoundError('vm') for a missing VM;
 *   ConflictError('invalid-state') for a VM outside any cluster; ConflictError('already-exists')
 *   when the cluster has a rule of that name; the task's error.
 */
export async function createPlacementRule(
  ctx: VsphereContext,
  spec: ParsedInput['placementRuleSpec'],
  options: CallOptions = {},
): Promise<PlacementRule> {
  const seen = new Set<string>();
  spec.vms.forEach((vm, index) => {
    if (seen.has(vm.id)) {
      throw new InvalidSpecError(
        [{ path: `vms.${index}`, message: `VM ${vm.id} is named twice`, code: 'duplicate' }],
        { subject: 'placement rule', provider: ctx.name },
      );
    }
    seen.add(vm.id);
  });
  const clusters = await Promise.all(
    spec.vms.map((vm) => requireCluster(ctx, vm.id, 'a placement rule', options)),
  );
  const cluster = clusters[0] as ManagedObjectReference;
  clusters.forEach((other, index) => {
    if (other.value !== cluster.value) {
      throw new InvalidSpecError(
        [
          {
            path: `vms.${index}`,
            message: `VM ${spec.vms[index]?.id} is in cluster ${other.value}, not ${cluster.value} like vms.0`,
            code: 'other_cluster',
          },
        ],
        { subject: 'placement rule', provider: ctx.name },
      );
    }
  });
  const existing = listOf((await configurationOf(ctx, cluster, options)).rule).map(fieldsOf);
  if (existing.some((rule) => rule?.name === spec.name)) {
    throw new ConflictError(
      'already-exists',
      `cluster ${cluster.value} already has a rule named ${JSON.stringify(spec.name)}`,
      { provider: ctx.name },
    );
  }
  const info: DataObject = {
    $type: RULE_TYPES[spec.kind],
    enabled: true,
    name: spec.name,
    mandatory: spec.mandatory ?? true,
    vm: spec.vms.map((vm) => ({ type: 'VirtualMachine', value: vm.id })),
  };
  const task = await reconfigure(
    ctx,
    cluster,
    {
      $type: 'ClusterConfigSpecEx',
      rulesSpec: [{ $type: 'ClusterRuleSpec', operation: 'add', info }],
    },
    options,
  );
  await waitForTask(ctx, task, options);
  const stored = toPlacementRules(
    cluster.value,
    await configurationOf(ctx, cluster, options),
    ctx.name,
  ).find((rule) => rule.name === spec.name);
  if (stored === undefined) {
    throw new ProviderApiError(`vSphere did not store rule ${JSON.stringify(spec.name)}`, {
      provider: ctx.name,
    });
  }
  return stored;
}

/**
 * Removes rule `id` (`<cluster>/<key>`, any rule type) and waits for it. The key is sent as a
 * typed `xsd:int` `removeKey` (vcsim panics on an untyped one).
 *
 * @throws InvalidSpecError (path `id`) for a malformed id; NotFoundError('placement-rule') when
 *   the cluster or the rule does not exist; the task's error.
 */
export async function deletePlacementRule(
  ctx: VsphereContext,
  id: string,
  options: CallOptions = {},
): Promise<void> {
  const { cluster: clusterId, key } = parsePlacementRuleId(id);
  const cluster = { type: 'ClusterComputeResource', value: clusterId };
  const notFound = () =>
    new NotFoundError('placement-rule', id, `placement rule ${JSON.stringify(id)} not found`, {
      provider: ctx.name,
    });
  let configuration: Fields;
  try {
    configuration = await configurationOf(ctx, cluster, options);
  } catch (error) {
    if (NotFoundError.isInstance(error)) throw notFound();
    throw error;
  }
  if (!listOf(configuration.rule).some((rule) => numberOf(fieldsOf(rule)?.key) === key)) {
    throw notFound();
  }
  const task = await reconfigure(
    ctx,
    cluster,
    {
      $type: 'ClusterConfigSpecEx',
      rulesSpec: [
        { $type: 'ClusterRuleSpec', operation: 'remove', removeKey: { $xsd: 'int', value: key } },
      ],
    },
    options,
  );
  await waitForTask(ctx, task, options);
}

function overrideOf(entries: unknown, vmId: string): Fields | undefined {
  return listOf(entries)
    .map(fieldsOf)
    .find((entry) => moRefOf(entry?.key)?.value === vmId);
}

/**
 * A VM's effective HA and DRS policies from its cluster's `configurationEx` (pure):
 *
 * - highAvailability: the VM's `dasVmConfig` override when there is one (`dasSettings.
 *   restartPriority`, else the deprecated `restartPriority`; `disabled` → enabled false), as
 *   configured even where the cluster's HA is off; `clusterRestartPriority` or no override → the
 *   cluster's: HA off → `{ enabled: false, restartPriority: 'disabled' }`, on → its default
 *   priority (vSphere's default `medium`). lowest/highest fold into low/high.
 * - loadBalancing: the `drsVmConfig` override (`enabled` false → `disabled`, else its behaviour),
 *   else the cluster's (DRS off → `disabled`, else `defaultVmBehavior`, vSphere's default
 *   `fullyAutomated` → `full`).
 */
export function vmPoliciesFromCluster(configurationEx: unknown, vmId: string): VmPolicies {
  const config = fieldsOf(configurationEx) ?? {};
  const das = fieldsOf(config.dasConfig);
  const drs = fieldsOf(config.drsConfig);
  const clusterHa = (): NonNullable<VmPolicies['highAvailability']> => {
    if (flagOf(das?.enabled) !== true) return { enabled: false, restartPriority: 'disabled' };
    const priority =
      ownEntry(RESTART_PRIORITIES, fieldsOf(das?.defaultVmSettings)?.restartPriority) ?? 'medium';
    return { enabled: priority !== 'disabled', restartPriority: priority };
  };
  const dasOverride = overrideOf(config.dasVmConfig, vmId);
  const priority = ownEntry(
    RESTART_PRIORITIES,
    fieldsOf(dasOverride?.dasSettings)?.restartPriority ?? dasOverride?.restartPriority,
  );
  const highAvailability =
    priority === undefined
      ? clusterHa()
      : { enabled: priority !== 'disabled', restartPriority: priority };

  const clusterDrs = (): Automation =>
    flagOf(drs?.enabled) === false || drs === undefined
      ? 'disabled'
      : (ownEntry(DRS_BEHAVIORS, drs.defaultVmBehavior) ?? 'full');
  const drsOverride = overrideOf(config.drsVmConfig, vmId);
  let automation: Automation;
  if (drsOverride === undefined) automation = clusterDrs();
  else if (flagOf(drsOverride.enabled) === false) automation = 'disabled';
  else {
    const behavior = ownEntry(DRS_BEHAVIORS, drsOverride.behavior);
    const fallback = clusterDrs();
    automation = behavior ?? (fallback === 'disabled' ? 'full' : fallback);
  }
  return { highAvailability, loadBalancing: { automation } };
}

/**
 * The HA and DRS policies of VM `vmId` as {@link vmPoliciesFromCluster} reads them, or `{}` for
 * a VM outside any cluster (a standalone host has neither).
 *
 * @throws NotFoundError('vm') when the VM does not exist.
 */
export async function readVmPolicies(
  ctx: VsphereContext,
  vmId: string,
  options: CallOptions = {},
): Promise<VmPolicies> {
  const cluster = await clusterOfVm(ctx, vmId, options);
  if (cluster === undefined) return {};
  return vmPoliciesFromCluster(await configurationOf(ctx, cluster, options), vmId);
}

function arrayUpdate(
  type: string,
  existing: Fields | undefined,
  vm: ManagedObjectReference,
  info: DataObject,
  canEdit: boolean,
): DataObject[] {
  if (existing === undefined) return [{ $type: type, operation: 'add', info }];
  if (canEdit) return [{ $type: type, operation: 'edit', info }];
  // An entry this spec cannot edit in place: replace it (remove, then add, in one change).
  return [
    { $type: type, operation: 'remove', removeKey: vm },
    { $type: type, operation: 'add', info },
  ];
}

/**
 * Sets VM `vmId`'s HA restart priority as a `dasVmConfig` override of its cluster (add, or edit
 * an existing one). `enabled: false` or priority `disabled` store `disabled`. Returns the
 * ReconfigureComputeResource_Task: the driver observes it. (vcsim stores overrides but ignores
 * the cluster's own `dasConfig`.)
 *
 * @throws NotFoundError('vm'); ConflictError('invalid-state') for a VM outside any cluster.
 */
export async function setHighAvailability(
  ctx: VsphereContext,
  vmId: string,
  settings: ParsedInput['highAvailability'],
  options: CallOptions = {},
): Promise<ManagedObjectReference> {
  const cluster = await requireCluster(ctx, vmId, 'high availability', options);
  const vm = { type: 'VirtualMachine', value: vmId };
  const existing = overrideOf((await configurationOf(ctx, cluster, options)).dasVmConfig, vmId);
  const restartPriority = settings.enabled ? settings.restartPriority : 'disabled';
  const info: DataObject = {
    $type: 'ClusterDasVmConfigInfo',
    key: vm,
    dasSettings: { $type: 'ClusterDasVmSettings', restartPriority },
  };
  // vcsim edits `dasSettings` in place and dereferences it: an entry without one must be replaced.
  const canEdit = fieldsOf(existing?.dasSettings) !== undefined;
  return reconfigure(
    ctx,
    cluster,
    {
      $type: 'ClusterConfigSpecEx',
      dasVmConfigSpec: arrayUpdate('ClusterDasVmConfigSpec', existing, vm, info, canEdit),
    },
    options,
  );
}

/**
 * Sets VM `vmId`'s DRS automation as a `drsVmConfig` override of its cluster (add or edit):
 * `disabled` → enabled false, else enabled with behaviour manual / partiallyAutomated /
 * fullyAutomated. Returns the ReconfigureComputeResource_Task: the driver observes it.
 *
 * @throws NotFoundError('vm'); ConflictError('invalid-state') for a VM outside any cluster.
 */
export async function setLoadBalancing(
  ctx: VsphereContext,
  vmId: string,
  settings: ParsedInput['loadBalancing'],
  options: CallOptions = {},
): Promise<ManagedObjectReference> {
  const cluster = await requireCluster(ctx, vmId, 'load balancing', options);
  const vm = { type: 'VirtualMachine', value: vmId };
  const existing = overrideOf((await configurationOf(ctx, cluster, options)).drsVmConfig, vmId);
  const info: DataObject =
    settings.automation === 'disabled'
      ? { $type: 'ClusterDrsVmConfigInfo', key: vm, enabled: false }
      : {
          $type: 'ClusterDrsVmConfigInfo',
          key: vm,
          enabled: true,
          behavior: AUTOMATION_BEHAVIORS[settings.automation],
        };
  return reconfigure(
    ctx,
    cluster,
    {
      $type: 'ClusterConfigSpecEx',
      drsVmConfigSpec: arrayUpdate('ClusterDrsVmConfigSpec', existing, vm, info, true),
    },
    options,
  );
}
